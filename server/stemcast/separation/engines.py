"""Which engines a worker holds, and which one answers a request that names no model.

A worker always holds the weightless DSP engine (it needs no files) and, besides it, the
configured Demucs model. `--model auto` (the default) takes htdemucs when its weights are
on disk or can be fetched within --model-fetch-timeout, and the DSP engine otherwise, and
says which and why. A model named explicitly never falls back: if it cannot be loaded,
requests for it fail with MODEL_UNAVAILABLE and the fix, while `dsp` stays usable by name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from stemcast.separation.engine import (
    AUTO_DEMUCS_MODEL,
    AUTO_MODEL,
    DSP_MODEL,
    SeparationEngine,
)
from stemcast.separation.errors import DeviceUnavailableError, ModelUnavailableError
from stemcast.separation.worker_messages import ModelDescription, WorkerConfig

log = logging.getLogger(__name__)

DSP_OFFER = (f"this server also offers the weightless DSP engine: ask for model '{DSP_MODEL}', "
             f"or start with --model {AUTO_MODEL} to use it when no weights are found")


@dataclass
class EngineSet:
    requested: str
    engines: dict[str, SeparationEngine] = field(default_factory=dict)
    default: str | None = None
    choice: str = ""
    default_error: str | None = None

    def describe(self) -> tuple[ModelDescription, ...]:
        return tuple(
            ModelDescription(name=name, sources=tuple(e.info.sources),
                             sample_rate=e.info.sample_rate, channels=e.info.channels,
                             device=e.info.device, precision=e.info.precision,
                             segment_seconds=e.info.segment_seconds,
                             kind=DSP_MODEL if name == DSP_MODEL else "demucs")
            for name, e in self.engines.items())

    def unavailable(self, model: str) -> str:
        """Why a request for `model` cannot be served, with the fix."""
        if model == self.requested and self.default_error:
            return self.default_error
        offered = ", ".join(self.engines) or "none"
        return (f"model '{model}' is not loaded on this server (it offers: {offered}); ask for "
                f"one of those, or start the server with --model {model}")


def _load_demucs(name: str, config: WorkerConfig) -> SeparationEngine:
    from stemcast.separation.demucs_engine import DemucsEngine

    return DemucsEngine.load(name, config.model_repo, device=config.device,
                             fetch_timeout=config.fetch_timeout, precision=config.precision,
                             batch_size=config.batch_size)


def _dsp() -> SeparationEngine:
    from stemcast.separation.dsp_engine import DspEngine

    return DspEngine()


def load_engines(config: WorkerConfig, *, offer_dsp: bool = True) -> EngineSet:
    """Load what the configuration asks for; never raises for a missing model.

    offer_dsp: also hold the DSP engine when it is not the default (a server offers it to
    every request; `stemcast separate` needs only the one it runs)."""
    requested = config.model
    found = EngineSet(requested=requested)
    if requested == DSP_MODEL:
        found.choice = "the weightless DSP engine, as configured (--model dsp)"
    elif requested == AUTO_MODEL:
        try:
            found.engines[AUTO_DEMUCS_MODEL] = _load_demucs(AUTO_DEMUCS_MODEL, config)
            found.default = AUTO_DEMUCS_MODEL
            found.choice = f"auto: {AUTO_DEMUCS_MODEL}, whose weights were found"
        except ModelUnavailableError as exc:
            found.choice = (f"auto: the weightless DSP engine, because {AUTO_DEMUCS_MODEL} is "
                            f"not available ({exc.reason}). For Demucs quality: {exc.fix}")
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
