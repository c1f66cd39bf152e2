"""Finding and loading Demucs weights without ever hanging on the network.

Order: a local model folder (--model-repo, demucs's LocalRepo layout), else the HuggingFace
cache, else a download bounded by a timeout (never with HF_HUB_OFFLINE=1). demucs's own
get_model(name) retries the hub five times and then tries the legacy AWS site (~23 s
offline), so without a folder we never call it: the network is only touched here, in a
thread we can abandon.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from stemcast.error_text import describe
from stemcast.separation.bag_files import BAG_LAYOUT, DAMAGED_FIX, FATAL_HINT, read_bag
from stemcast.separation.errors import ModelUnavailableError
from stemcast.separation.hf_hub import (
    download,
    hf_cached_files,
    hf_hub_cache_dir,
    hf_model_dir,
    hub_offline,
    load_hf_files,
)

if TYPE_CHECKING:
    from demucs.apply import BagOfModels, Model

    DemucsModel = BagOfModels | Model

KNOWN_MODELS: dict[str, str] = {
    "htdemucs": "Hybrid Transformer Demucs v4, 4 stems (the default)",
    "htdemucs_ft": "htdemucs fine-tuned per source (bag of 4): a little better, 4x slower",
    "htdemucs_6s": "htdemucs with 6 stems: drums, bass, other, vocals, guitar, piano",
    "hdemucs_mmi": "Hybrid Demucs v3, trained on more data",
    "mdx": "Demucs v3 MDX challenge entry (bag of 4), MusDB data only",
    "mdx_extra": "Demucs v3 MDX challenge entry trained with extra data",
    "mdx_q": "quantised mdx (smaller download, needs diffq)",
    "mdx_extra_q": "quantised mdx_extra (smaller download, needs diffq)",
}

@dataclass(frozen=True)
class WeightsLocation:
    kind: Literal["local_repo", "hf_cache"]
    path: Path  # the file that defines the model: NAME.yaml (bag) or SIG-CHECKSUM.th
    description: str


# --- local model folder ---------------------------------------------------------------


def _repo_contents(repo: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """(bags by yaml stem, single models by signature), named as demucs's LocalRepo does."""
    bags: dict[str, Path] = {}
    models: dict[str, Path] = {}
    for file in sorted(repo.iterdir()):
        if file.suffix == ".yaml":
            bags[file.stem] = file
        elif file.suffix == ".th":
            models[file.stem.rsplit("-", 1)[0]] = file
    return bags, models


def describe_repo(repo: Path) -> list[str]:
    """Names loadable from a local folder: bag yaml stems and single-model signatures."""
    if not repo.is_dir():
        return []
    bags, models = _repo_contents(repo)
    return sorted(set(bags) | set(models))


def _listing(bags: dict[str, Path], models: dict[str, Path]) -> str:
    if not bags and not models:
        return f"it holds nothing loadable: no {BAG_LAYOUT}"
    parts = []
    if bags:
        parts.append("bags " + ", ".join(bags))
    if models:
        parts.append("single models " + ", ".join(models))
    return "it holds: " + "; ".join(parts)


def _load_from_repo(name: str, repo: Path) -> DemucsModel:
    from demucs.pretrained import get_model

    if not repo.is_dir():
        what = "is a file, not a folder" if repo.exists() else "does not exist"
        raise ModelUnavailableError(
            name, f"the model folder '{repo}' {what}",
            f"create it, or point --model-repo (or STEMCAST_MODEL_REPO) at the folder that "
            f"holds {BAG_LAYOUT}; `stemcast make-test-model DIR` writes a random-weight test model")
    bags, models = _repo_contents(repo)
    if name in models:  # demucs looks single models up before bags; so do we
        files = [models[name]]
    elif name in bags:
        signatures: list[str] = read_bag(name, bags[name])["models"]
        missing = [sig for sig in signatures if sig not in models]
        if missing:
            raise ModelUnavailableError(
                name, f"the bag file '{bags[name]}' lists model(s) {', '.join(missing)} but "
                      f"'{repo}' has no {missing[0]}-CHECKSUM.th",
                f"copy the missing .th file(s) into {repo}, or fix the list in {bags[name].name}")
        files = [bags[name], *(models[sig] for sig in signatures)]
    else:
        raise ModelUnavailableError(
            name, f"the model folder '{repo}' has no '{name}' ({_listing(bags, models)})",
            f"start with --model set to one of those, or add {name}.yaml and its .th "
            f"file(s) to {repo}")
    which = ", ".join(f"'{file}'" for file in files)
    try:
        return get_model(name, repo=repo)
    except SystemExit:
        raise ModelUnavailableError(name, f"loading {which} stopped: {FATAL_HINT}",
                                    "install what it asks for, or use another model") from None
    except Exception as exc:  # torch.load/unpickling/state loading raise many kinds
        raise ModelUnavailableError(
            name, f"{which} could not be loaded ({describe(exc)})",
            DAMAGED_FIX) from exc


def _released_names() -> set[str]:
    from demucs.pretrained import REMOTE_ROOT

    return set(KNOWN_MODELS) | {path.stem for path in Path(REMOTE_ROOT).glob("*.yaml")}


def _load_without_repo(name: str, fetch_timeout: float) -> DemucsModel:
    cache = hf_hub_cache_dir()
    cached = hf_cached_files(name, cache)
    if cached is not None:
        return load_hf_files(name, *cached)
    looked = f"no weights on disk (looked in: {hf_model_dir(name, cache)})"
    fix = (
        "put the weights in a folder and start with --model-repo DIR (or "
        f"STEMCAST_MODEL_REPO=DIR) holding {BAG_LAYOUT}; on a machine with internet, "
        f"`python -c \"from demucs.pretrained import get_model; get_model('{name}')\"` fills "
        f"the HuggingFace cache, whose {hf_model_dir(name, cache).name} folder you can copy "
        f"to {cache} here"
    )
    if "/" not in name and name not in _released_names():
        # Asking the hub for a typo would cost the whole timeout when it cannot be reached.
        raise ModelUnavailableError(
            name, f"{looked}, and '{name}' is not a released Demucs model (those are: "
                  f"{', '.join(KNOWN_MODELS)})", f"check the name, or {fix}")
    if hub_offline():
        raise ModelUnavailableError(
            name, f"{looked} and downloads are off (HF_HUB_OFFLINE=1)", fix)
    if fetch_timeout <= 0:
        raise ModelUnavailableError(
            name, f"{looked} and downloads are off (--model-fetch-timeout 0)", fix)
    return download(name, cache, fetch_timeout, looked, fix)


# --- public ---------------------------------------------------------------------------


def locate_weights(name: str, repo: Path | None) -> WeightsLocation | None:
    """Where the weights of `name` are on disk, or None. Never touches the network."""
    if repo is not None:
        if not repo.is_dir():
            return None
        bags, models = _repo_contents(repo)
        if name in models:
            return WeightsLocation("local_repo", models[name],
                                   f"single model {models[name].name} in {repo}")
        if name not in bags:
            return None
        try:
            signatures = read_bag(name, bags[name])["models"]
        except ModelUnavailableError:
            return None
        if any(sig not in models for sig in signatures):
            return None
        return WeightsLocation("local_repo", bags[name],
                               f"bag of {len(signatures)} model(s) {bags[name].name} in {repo}")
    cache = hf_hub_cache_dir()
    try:
        cached = hf_cached_files(name, cache)
    except ModelUnavailableError:
        return None
    if cached is None:
        return None
    return WeightsLocation("hf_cache", cached[0],
                           f"{len(cached[1])} safetensors file(s) in the HuggingFace cache "
                           f"{hf_model_dir(name, cache)}")


def load_model(name: str, repo: Path | None, *, fetch_timeout: float = 20.0) -> DemucsModel:
    """A Demucs model or bag of models in eval mode; else ModelUnavailableError saying why.

    With `repo`, only that folder is used. Without, the HuggingFace cache, then (unless
    HF_HUB_OFFLINE=1 or fetch_timeout <= 0) a download given at most fetch_timeout seconds.
    """
    if repo is not None:
        model = _load_from_repo(name, repo)
    else:
        model = _load_without_repo(name, fetch_timeout)
    model.eval()
    return model


