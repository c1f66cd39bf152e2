"""Which model a request gets, and what of its options really changes the stems.

The workers say which models they hold once they have loaded (`WorkerPool.model`); a
request names one of them or gets the default. The cache key is made here too, so a
trackInfo's `stemsCached` and the job a request makes agree on it.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from stemcast.config import Settings
from stemcast.jobs.models import SeparationOptions, cache_key
from stemcast.jobs.transport import WorkerTransport
from stemcast.jobs.worker_pool import ModelStatus
from stemcast_protocol import ErrorCode, OutputRequest

# How long a stems request waits for the workers to say which models they hold (they
# load and warm up at start; `auto` may try a download for --model-fetch-timeout).
MODEL_WAIT_S = 180.0


class ModelChoiceError(ValueError):
    """A request named a model this server does not offer (or none is known yet)."""

    def __init__(self, message: str, code: str = ErrorCode.INVALID_FIELD.value) -> None:
        super().__init__(message)
        self.code = code


class ModelCatalog:
    def __init__(self, pool: WorkerTransport, settings: Settings) -> None:
        """`pool`: the workers, which describe their models; `settings`: precision and
        shifts the server was started with."""
        self.pool = pool
        self.settings = settings

    @property
    def status(self) -> ModelStatus:
        return self.pool.model

    async def resolve(self, requested: str | None) -> str:
        """The model a request gets: the one it names (if offered), else the default."""
        try:
            await asyncio.wait_for(self.pool.resolved.wait(), MODEL_WAIT_S)
        except TimeoutError:
            raise ModelChoiceError(
                f"the separation workers have not said which models they hold within "
                f"{MODEL_WAIT_S:.0f} s of starting; see the server log",
                code=ErrorCode.MODEL_UNAVAILABLE.value) from None
        return self.model_for(requested)

    def model_for(self, requested: str | None) -> str:
        status = self.pool.model
        if requested is None or requested == status.name:
            return status.name
        if requested in status.names or requested == status.requested:
            return requested
        raise ModelChoiceError(
            f"field 'model': this server does not offer {requested!r}; it offers "
            f"{', '.join(status.names)} (the default is {status.name})")

    def effective_options(self, options: SeparationOptions, model: str) -> SeparationOptions:
        """What really changes the stems: the precision the model runs in (auto resolved
        once the workers are up), the server's shifts (Demucs only)."""
        described = self.pool.model.find(model)
        precision = described.precision if described else self.settings.precision
        shifts = self.settings.shifts if described is None or described.kind == "demucs" else 0
        return replace(options, precision=precision, shifts=shifts)

    def cached_key(self, pcm_hash: str, requested: str | None,
                   output: OutputRequest) -> str | None:
        """The cache key a request would have, or None while the models are unknown."""
        if not self.pool.resolved.is_set():
            return None
        try:
            model = self.model_for(requested)
        except ModelChoiceError:
            return None
        options = self.effective_options(SeparationOptions.for_output(output), model)
        return cache_key(pcm_hash, model, options)
