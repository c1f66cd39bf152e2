"""The HuggingFace hub: its cache as the environment says, and downloads that never hang.

A download runs in a daemon thread the caller may abandon: a blocking wait is bounded
(download), or nobody waits and the worker asks between jobs (fetch_in_background).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stemcast.error_text import describe
from stemcast.separation.bag_files import BAG_LAYOUT, FATAL_HINT, read_bag
from stemcast.separation.errors import ModelUnavailableError

if TYPE_CHECKING:
    from demucs.apply import BagOfModels, Model

    DemucsModel = BagOfModels | Model

_OFFLINE_VALUES = ("1", "true", "yes", "on")


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


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _OFFLINE_VALUES


def hf_repo_id(name: str) -> tuple[str, str]:
    """(repo id, bare model name), as demucs.hf.get_hf_model maps them."""
    from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name

    namespace, _, short = name.rpartition("/")
    return f"{namespace or DEFAULT_NAMESPACE}/{hf_repo_name(short)}", short


def hf_model_dir(name: str, cache: Path) -> Path:
    return cache / ("models--" + hf_repo_id(name)[0].replace("/", "--"))


def _cached(repo_id: str, filename: str, cache: Path) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=cache)
    return Path(found) if isinstance(found, str) else None  # else None or "cached as absent"


def hf_cached_files(name: str, cache: Path) -> tuple[Path, list[Path]] | None:
    """The bag yaml and every safetensors file it lists, if all are in the cache."""
    repo_id, short = hf_repo_id(name)
    bag_file = _cached(repo_id, f"{short}.yaml", cache)
    if bag_file is None:
        return None
    files: list[Path] = []
    for sig in read_bag(name, bag_file)["models"]:
        found = _cached(repo_id, f"{sig}.safetensors", cache)
        if found is None:
            return None
        files.append(found)
    return bag_file, files


def load_hf_files(name: str, bag_file: Path, files: list[Path]) -> DemucsModel:
    """What demucs.hf.get_hf_model does after its downloads, from files already on disk."""
    from demucs.apply import BagOfModels
    from demucs.hf import load_safetensors_model

    bag = read_bag(name, bag_file)
    models = []
    for path in files:
        try:
            models.append(load_safetensors_model(path))
        except SystemExit:
            raise ModelUnavailableError(name, f"loading '{path}' stopped: {FATAL_HINT}",
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

    repo_id, short = hf_repo_id(name)
    bag_file = Path(hf_hub_download(repo_id, f"{short}.yaml", cache_dir=cache))
    files = [Path(hf_hub_download(repo_id, f"{sig}.safetensors", cache_dir=cache))
             for sig in read_bag(name, bag_file)["models"]]
    return load_hf_files(name, bag_file, files)


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


def download(name: str, cache: Path, timeout: float, looked: str, fix: str) -> DemucsModel:
    """Wait at most `timeout` s for a download; a retry joins the one still running."""
    key = (name, cache)
    with _fetches_lock:
        fetch = _fetches.get(key)
        if fetch is None:
            fetch = _fetches[key] = _start_fetch(name, cache)
    repo_id = hf_repo_id(name)[0]
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
        repo_id = hf_repo_id(self.name)[0]
        raise ModelUnavailableError(
            self.name, f"the download from huggingface.co/{repo_id} failed "
                       f"({type(error).__name__}: {error})",
            f"check the network, or put the weights in a folder and start with --model-repo "
            f"DIR holding {BAG_LAYOUT}")


def _quiet_hub() -> None:
    """One line in the log for a download, not the hub's retry warnings and progress bars."""
    import logging

    from huggingface_hub.utils import disable_progress_bars

    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    disable_progress_bars()


def downloads_allowed(fetch_timeout: float) -> str | None:
    """None when a download may be tried, else why not (for the log and the fix)."""
    if hub_offline():
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
