"""Finding and loading Demucs weights without ever hanging on the network.

Order: a local model folder (--model-repo, demucs's LocalRepo layout), then the
HuggingFace cache, then a download bounded by a timeout (never with HF_HUB_OFFLINE=1).
demucs's own get_model would retry the hub five times and then try a second site
(about 23 s offline), so the network is only touched here, in a thread we can abandon.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from stemcast.separation.errors import ModelUnavailableError

KNOWN_MODELS: dict[str, str] = {
    "htdemucs": "Hybrid Transformer Demucs v4, 4 stems (the default)",
    "htdemucs_ft": "htdemucs fine-tuned per source: better, 4x slower",
    "htdemucs_6s": "6 stems: drums, bass, other, vocals, guitar, piano",
    "hdemucs_mmi": "Hybrid Demucs v3 trained on more data",
    "mdx": "MDX challenge model (bag of 4)",
    "mdx_extra": "MDX challenge model trained with extra data",
    "mdx_q": "quantised mdx",
    "mdx_extra_q": "quantised mdx_extra",
}

REPO_FIX = (
    "put the weights in a folder and start with --model-repo DIR (or STEMCAST_MODEL_REPO=DIR): "
    "SIG-CHECKSUM.th files plus NAME.yaml listing 'models: [SIG]'. On a machine with internet, "
    "`python -c \"from demucs.pretrained import get_model; get_model('htdemucs')\"` fills the "
    "HuggingFace cache (~/.cache/huggingface), which you can copy here"
)


@dataclass(frozen=True)
class WeightsLocation:
    kind: Literal["local_repo", "hf_cache"]
    path: Path
    description: str


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def describe_repo(repo: Path) -> list[str]:
    """Names loadable from a local folder: bag yaml stems and single-model signatures."""
    names: set[str] = set()
    for file in repo.iterdir():
        if file.suffix == ".yaml":
            names.add(file.stem)
        elif file.suffix == ".th":
            names.add(file.stem.rsplit("-", 1)[0] if "-" in file.stem else file.stem)
    return sorted(names)


def _hf_repo_id(name: str) -> str:
    from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name

    namespace = DEFAULT_NAMESPACE
    if "/" in name:
        namespace, name = name.split("/", 1)
    return f"{namespace}/{hf_repo_name(name)}"


def _hf_cached(repo_id: str, filename: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename)
    return Path(found) if isinstance(found, str) else None


def _hf_cache_files(name: str) -> tuple[Path, list[Path]] | None:
    """The bag yaml and every safetensors file it lists, if all are in the HF cache."""
    repo_id = _hf_repo_id(name)
    short = name.split("/", 1)[-1]
    bag_file = _hf_cached(repo_id, f"{short}.yaml")
    if bag_file is None:
        return None
    bag = yaml.safe_load(bag_file.read_text())
    files = [_hf_cached(repo_id, f"{sig}.safetensors") for sig in bag.get("models", [])]
    if not files or any(f is None for f in files):
        return None
    return bag_file, [f for f in files if f is not None]


def _hf_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def locate_weights(name: str, repo: Path | None) -> WeightsLocation | None:
    """Where the weights of `name` are on disk, or None. Never touches the network."""
    if repo is not None:
        if repo.is_dir() and name in describe_repo(repo):
            return WeightsLocation("local_repo", repo, f"local model folder {repo}")
        return None
    cached = _hf_cache_files(name)
    if cached is not None:
        return WeightsLocation("hf_cache", cached[0].parent,
                               f"HuggingFace cache {_hf_cache_dir()}")
    return None


def _load_from_repo(name: str, repo: Path) -> Any:
    from demucs.pretrained import get_model
    from demucs.repo import ModelLoadingError

    if not repo.is_dir():
        raise ModelUnavailableError(name, f"the model folder '{repo}' does not exist", REPO_FIX)
    available = describe_repo(repo)
    if name not in available:
        listing = ", ".join(available) if available else "nothing loadable"
        raise ModelUnavailableError(name, f"the model folder '{repo}' has no '{name}' (it has: "
                                          f"{listing})", REPO_FIX)
    try:
        return get_model(name, repo=repo)
    except SystemExit as exc:  # demucs calls sys.exit through fatal() on some errors
        raise ModelUnavailableError(name, f"demucs refused the folder '{repo}': {exc}",
                                    REPO_FIX) from None
    except (ModelLoadingError, OSError, RuntimeError, KeyError, ValueError, TypeError,
            yaml.YAMLError, EOFError) as exc:
        raise ModelUnavailableError(
            name, f"the weights in '{repo}' could not be loaded ({type(exc).__name__}: {exc})",
            "replace the damaged or mismatched file(s); the checksum in a file's name must "
            "match the first 8 hex digits of its sha256",
        ) from exc


def _load_from_hf_cache(name: str, bag_file: Path, files: list[Path]) -> Any:
    from demucs.apply import BagOfModels
    from demucs.hf import load_safetensors_model

    bag = yaml.safe_load(bag_file.read_text())
    try:
        models = [load_safetensors_model(path) for path in files]
    except Exception as exc:  # safetensors/torch raise many kinds; all mean a bad file
        raise ModelUnavailableError(name, f"the cached weights could not be loaded ({exc})",
                                    "delete the model from the HuggingFace cache and fetch it "
                                    "again") from exc
    return BagOfModels(models, bag.get("weights"), bag.get("segment"))


def _download(name: str, timeout: float) -> Any:
    """Fetch from the hub in a daemon thread; give up after `timeout` seconds."""
    from demucs.hf import get_hf_model

    result: dict[str, Any] = {}

    def fetch() -> None:
        try:
            result["model"] = get_hf_model(name)
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=fetch, name=f"fetch-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if "model" in result:
        return result["model"]
    looked = f"no weights on disk (looked in the HuggingFace cache {_hf_cache_dir()})"
    if thread.is_alive():
        raise ModelUnavailableError(
            name, f"{looked} and the download did not finish within {timeout:g} s "
                  "(--model-fetch-timeout)", REPO_FIX)
    error = result.get("error")
    raise ModelUnavailableError(name, f"{looked} and the download failed "
                                      f"({type(error).__name__}: {error})", REPO_FIX)


def load_model(name: str, repo: Path | None, *, fetch_timeout: float = 20.0) -> Any:
    """A Demucs model (or bag of models) in eval mode, or ModelUnavailableError."""
    if repo is not None:
        model = _load_from_repo(name, repo)
    else:
        cached = _hf_cache_files(name)
        if cached is not None:
            model = _load_from_hf_cache(name, *cached)
        elif _offline() or fetch_timeout <= 0:
            why = "HF_HUB_OFFLINE=1" if _offline() else "--model-fetch-timeout 0"
            raise ModelUnavailableError(
                name, f"no weights on disk (looked in the HuggingFace cache "
                      f"{_hf_cache_dir()}) and downloads are off ({why})", REPO_FIX)
        else:
            model = _download(name, fetch_timeout)
    model.eval()
    return model

