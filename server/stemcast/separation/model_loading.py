"""Finding and loading Demucs weights without ever hanging on the network.

Order: a local model folder (--model-repo, demucs's LocalRepo layout), else the HuggingFace
cache, else a download bounded by a timeout (never with HF_HUB_OFFLINE=1). demucs's own
get_model(name) retries the hub five times and then tries the legacy AWS site (~23 s
offline), so without a folder we never call it: the network is only touched here, in a
thread we can abandon.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from stemcast.error_text import describe
from stemcast.separation.errors import ModelUnavailableError

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

_OFFLINE_VALUES = ("1", "true", "yes", "on")
_LAYOUT = "SIG-CHECKSUM.th files plus NAME.yaml listing 'models: [SIG, ...]'"
_DAMAGED_FIX = (
    "replace the damaged or mismatched file with a good copy; the 8 hex digits after the "
    "last '-' in a .th name must be the start of that file's sha256 (`sha256sum FILE`)"
)
# demucs.utils.fatal() prints to stderr and calls sys.exit; in practice only for diffq.
_FATAL_HINT = (
    "demucs gave up and printed why on stderr; a quantised model (mdx_q, mdx_extra_q) "
    "needs `pip install diffq`"
)


@dataclass(frozen=True)
class WeightsLocation:
    kind: Literal["local_repo", "hf_cache"]
    path: Path  # the file that defines the model: NAME.yaml (bag) or SIG-CHECKSUM.th
    description: str


def hf_hub_cache_dir() -> Path:
    """The HuggingFace hub cache as the environment says *now*.

    huggingface_hub reads HF_HUB_CACHE / HF_HOME once, at import; reading them here (and
    passing cache_dir explicitly) keeps a changed environment and the hub library in step.
    """
    env = os.environ
    explicit = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(os.path.expandvars(os.path.expanduser(explicit)))
    xdg = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    home = env.get("HF_HOME") or os.path.join(xdg, "huggingface")
    return Path(os.path.expandvars(os.path.expanduser(home))) / "hub"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _OFFLINE_VALUES


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


def _read_bag(name: str, path: Path) -> dict[str, Any]:
    """A bag definition, checked enough that demucs will not fail on it obscurely."""
    try:
        bag = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ModelUnavailableError(
            name, f"the bag file '{path}' cannot be read ({describe(exc)})",
            f"fix or replace it; it must hold {_LAYOUT}") from exc
    models = bag.get("models") if isinstance(bag, dict) else None
    if not (isinstance(models, list) and models and all(isinstance(m, str) for m in models)):
        raise ModelUnavailableError(
            name, f"the bag file '{path}' has no list of model signatures",
            "write it as `models: ['SIG', ...]` (quoted: a signature of digits would "
            "otherwise read as a number)")
    return bag


def _listing(bags: dict[str, Path], models: dict[str, Path]) -> str:
    if not bags and not models:
        return f"it holds nothing loadable: no {_LAYOUT}"
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
            f"holds {_LAYOUT}; `stemcast make-test-model DIR` writes a random-weight test model")
    bags, models = _repo_contents(repo)
    if name in models:  # demucs looks single models up before bags; so do we
        files = [models[name]]
    elif name in bags:
        signatures: list[str] = _read_bag(name, bags[name])["models"]
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
        raise ModelUnavailableError(name, f"loading {which} stopped: {_FATAL_HINT}",
                                    "install what it asks for, or use another model") from None
    except Exception as exc:  # torch.load/unpickling/state loading raise many kinds
        raise ModelUnavailableError(
            name, f"{which} could not be loaded ({describe(exc)})",
            _DAMAGED_FIX) from exc


# --- HuggingFace cache and hub --------------------------------------------------------


def _hf_repo_id(name: str) -> tuple[str, str]:
    """(repo id, bare model name), as demucs.hf.get_hf_model maps them."""
    from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name

    namespace, _, short = name.rpartition("/")
    return f"{namespace or DEFAULT_NAMESPACE}/{hf_repo_name(short)}", short


def _hf_model_dir(name: str, cache: Path) -> Path:
    return cache / ("models--" + _hf_repo_id(name)[0].replace("/", "--"))


def _cached(repo_id: str, filename: str, cache: Path) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=cache)
    return Path(found) if isinstance(found, str) else None  # else None or "cached as absent"


def _hf_cached_files(name: str, cache: Path) -> tuple[Path, list[Path]] | None:
    """The bag yaml and every safetensors file it lists, if all are in the cache."""
    repo_id, short = _hf_repo_id(name)
    bag_file = _cached(repo_id, f"{short}.yaml", cache)
    if bag_file is None:
        return None
    files: list[Path] = []
    for sig in _read_bag(name, bag_file)["models"]:
        found = _cached(repo_id, f"{sig}.safetensors", cache)
        if found is None:
            return None
        files.append(found)
    return bag_file, files


def _load_hf_files(name: str, bag_file: Path, files: list[Path]) -> DemucsModel:
    """What demucs.hf.get_hf_model does after its downloads, from files already on disk."""
    from demucs.apply import BagOfModels
    from demucs.hf import load_safetensors_model

    bag = _read_bag(name, bag_file)
    models = []
    for path in files:
        try:
            models.append(load_safetensors_model(path))
        except SystemExit:
            raise ModelUnavailableError(name, f"loading '{path}' stopped: {_FATAL_HINT}",
                                        "install what it asks for, or use another model") from None
        except Exception as exc:  # safetensors/torch raise many kinds; all mean a bad file
            raise ModelUnavailableError(
                name, f"the cached file '{path}' could not be loaded ({type(exc).__name__}: "
                      f"{exc})",
                # cache/models--NS--REPO/snapshots/REV/file: delete the models-- folder
                f"delete {bag_file.parents[2]} and fetch it again") from exc
    try:
        return BagOfModels(models, bag.get("weights"), bag.get("segment"))
    except Exception as exc:  # BagOfModels checks with assert
        raise ModelUnavailableError(
            name, f"the bag file '{bag_file}' does not fit its models ({type(exc).__name__}: "
                  f"{exc})", "fix its weights/segment entries or fetch the model again") from exc


@dataclass
class _Fetch:
    """One download in a daemon thread; it may outlive the caller that started it."""

    done: threading.Event = field(default_factory=threading.Event)
    model: DemucsModel | None = None
    error: BaseException | None = None


_fetches: dict[tuple[str, Path], _Fetch] = {}
_fetches_lock = threading.Lock()


def _fetch_from_hub(name: str, cache: Path) -> DemucsModel:
    # demucs.hf.get_hf_model, but into `cache` (where locate_weights looks), not into the
    # location huggingface_hub fixed at import.
    from huggingface_hub import hf_hub_download

    repo_id, short = _hf_repo_id(name)
    bag_file = Path(hf_hub_download(repo_id, f"{short}.yaml", cache_dir=cache))
    files = [Path(hf_hub_download(repo_id, f"{sig}.safetensors", cache_dir=cache))
             for sig in _read_bag(name, bag_file)["models"]]
    return _load_hf_files(name, bag_file, files)


def _start_fetch(name: str, cache: Path) -> _Fetch:
    fetch = _Fetch()

    def run() -> None:
        try:
            fetch.model = _fetch_from_hub(name, cache)
        except BaseException as exc:  # reported to whoever waits; a thread has no caller
            fetch.error = exc
        finally:
            fetch.done.set()

    threading.Thread(target=run, name=f"stemcast-fetch-{name}", daemon=True).start()
    return fetch


def _download(name: str, cache: Path, timeout: float, looked: str, fix: str) -> DemucsModel:
    """Wait at most `timeout` s for a download; a retry joins the one still running."""
    key = (name, cache)
    with _fetches_lock:
        fetch = _fetches.get(key)
        if fetch is None:
            fetch = _fetches[key] = _start_fetch(name, cache)
    repo_id = _hf_repo_id(name)[0]
    if not fetch.done.wait(timeout):
        raise ModelUnavailableError(
            name, f"{looked} and the download from huggingface.co/{repo_id} did not finish "
                  f"within {timeout:g} s (it goes on in the background, into that cache)",
            f"allow longer with --model-fetch-timeout, or {fix}")
    with _fetches_lock:
        if _fetches.get(key) is fetch:
            del _fetches[key]
    if fetch.model is not None:
        return fetch.model
    if isinstance(fetch.error, ModelUnavailableError):
        raise fetch.error
    error = fetch.error
    raise ModelUnavailableError(
        name, f"{looked} and the download from huggingface.co/{repo_id} failed "
              f"({describe(error) if error is not None else 'no reason given'})", fix)


def _released_names() -> set[str]:
    from demucs.pretrained import REMOTE_ROOT

    return set(KNOWN_MODELS) | {path.stem for path in Path(REMOTE_ROOT).glob("*.yaml")}


def _load_without_repo(name: str, fetch_timeout: float) -> DemucsModel:
    cache = hf_hub_cache_dir()
    cached = _hf_cached_files(name, cache)
    if cached is not None:
        return _load_hf_files(name, *cached)
    looked = f"no weights on disk (looked in: {_hf_model_dir(name, cache)})"
    fix = (
        "put the weights in a folder and start with --model-repo DIR (or "
        f"STEMCAST_MODEL_REPO=DIR) holding {_LAYOUT}; on a machine with internet, "
        f"`python -c \"from demucs.pretrained import get_model; get_model('{name}')\"` fills "
        f"the HuggingFace cache, whose {_hf_model_dir(name, cache).name} folder you can copy "
        f"to {cache} here"
    )
    if "/" not in name and name not in _released_names():
        # Asking the hub for a typo would cost the whole timeout when it cannot be reached.
        raise ModelUnavailableError(
            name, f"{looked}, and '{name}' is not a released Demucs model (those are: "
                  f"{', '.join(KNOWN_MODELS)})", f"check the name, or {fix}")
    if _offline():
        raise ModelUnavailableError(
            name, f"{looked} and downloads are off (HF_HUB_OFFLINE=1)", fix)
    if fetch_timeout <= 0:
        raise ModelUnavailableError(
            name, f"{looked} and downloads are off (--model-fetch-timeout 0)", fix)
    return _download(name, cache, fetch_timeout, looked, fix)


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
            signatures = _read_bag(name, bags[name])["models"]
        except ModelUnavailableError:
            return None
        if any(sig not in models for sig in signatures):
            return None
        return WeightsLocation("local_repo", bags[name],
                               f"bag of {len(signatures)} model(s) {bags[name].name} in {repo}")
    cache = hf_hub_cache_dir()
    try:
        cached = _hf_cached_files(name, cache)
    except ModelUnavailableError:
        return None
    if cached is None:
        return None
    return WeightsLocation("hf_cache", cached[0],
                           f"{len(cached[1])} safetensors file(s) in the HuggingFace cache "
                           f"{_hf_model_dir(name, cache)}")


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


@dataclass(frozen=True)
class BackgroundFetch:
    """A download of `name` into the HuggingFace cache that nobody waits for (see
    fetch_in_background); `done()` is asked between jobs."""

    name: str
    _fetch: _Fetch

    def done(self) -> bool:
        return self._fetch.done.is_set()

    def result(self) -> DemucsModel:
        """The loaded model once done; ModelUnavailableError saying why it failed."""
        if self._fetch.model is not None:
            return self._fetch.model
        error = self._fetch.error
        if isinstance(error, ModelUnavailableError):
            raise error
        repo_id = _hf_repo_id(self.name)[0]
        raise ModelUnavailableError(
            self.name, f"the download from huggingface.co/{repo_id} failed "
                       f"({type(error).__name__}: {error})",
            f"check the network, or put the weights in a folder and start with --model-repo "
            f"DIR holding {_LAYOUT}")


def _quiet_hub() -> None:
    """One line in the log for a download, not the hub's retry warnings and progress bars."""
    import logging

    from huggingface_hub.utils import disable_progress_bars

    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    disable_progress_bars()


def downloads_allowed(fetch_timeout: float) -> str | None:
    """None when a download may be tried, else why not (for the log and the fix)."""
    if _offline():
        return "downloads are off (HF_HUB_OFFLINE=1)"
    if fetch_timeout <= 0:
        return "downloads are off (--model-fetch-timeout 0)"
    return None


def fetch_in_background(name: str) -> BackgroundFetch:
    """Start (or join) a download of `name`'s weights into the HuggingFace cache, in a
    daemon thread; the caller keeps serving with what it has and asks `done()` later."""
    cache = hf_hub_cache_dir()
    _quiet_hub()
    key = (name, cache)
    with _fetches_lock:
        fetch = _fetches.get(key)
        if fetch is None:
            fetch = _fetches[key] = _start_fetch(name, cache)
    return BackgroundFetch(name, fetch)
