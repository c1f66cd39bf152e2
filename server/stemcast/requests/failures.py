"""The one mapping from what went wrong in a stems request to an error code and text.

Both front doors send these codes: the WebSocket in `stemsFailed` / `drumsFailed`, the
HTTP job API in its record and `job_failed` callback (PROTOCOL.md section 5).
"""

from __future__ import annotations

import logging

from stemcast.audio import AudioError
from stemcast.db.faults import classify as classify_fault
from stemcast.error_text import describe
from stemcast.jobs.catalog import ModelChoiceError
from stemcast.requests.outcomes import RequestFailed
from stemcast_protocol import ErrorCode, OptionError

log = logging.getLogger(__name__)

# Said when the separation worked but the files could not be made as asked (disk full
# while rendering, the stems removed under us, ...): the client should ask again.
UNDELIVERABLE = "the stems were separated but could not be delivered as asked"


class TrackTooLongError(ValueError):
    """The track is longer than this server separates (--max-duration-s)."""


def failure_for(exc: Exception, job_id: str | None = None) -> RequestFailed:
    """A request that could not be admitted: the code its cause stands for."""
    if isinstance(exc, ModelChoiceError):
        return RequestFailed(exc.code, str(exc), job_id)
    if isinstance(exc, OptionError):
        return RequestFailed(ErrorCode.INVALID_FIELD.value, str(exc), job_id)
    if isinstance(exc, AudioError):
        return RequestFailed(exc.code.value, str(exc), job_id)
    if isinstance(exc, TrackTooLongError):
        return RequestFailed(ErrorCode.TRACK_TOO_LONG.value, str(exc), job_id)
    fault = classify_fault(exc)  # a locked database or a full disk: not a bug
    if fault is not None:
        return RequestFailed(fault.code, fault.message, job_id)
    log.error("stems request failed", exc_info=exc)
    return RequestFailed(ErrorCode.INTERNAL_ERROR.value,
                         f"internal server error: {describe(exc)}", job_id)


def undeliverable(exc: Exception, job_id: str) -> RequestFailed:
    """Finishing failed: options the model cannot give, or the files could not be made."""
    if isinstance(exc, OptionError):
        return RequestFailed(ErrorCode.INVALID_FIELD.value, str(exc), job_id)
    fault = classify_fault(exc)
    if fault is not None:
        return RequestFailed(fault.code, f"{UNDELIVERABLE}: {fault.message}", job_id)
    log.error("could not deliver the stems of job %s", job_id, exc_info=exc)
    return RequestFailed(ErrorCode.SEPARATION_FAILED.value,
                         f"{UNDELIVERABLE}: {describe(exc)}", job_id)


def transcription_failed(exc: Exception, job_id: str) -> RequestFailed:
    """The drum transcription failed; the stems were delivered all the same."""
    if isinstance(exc, OptionError):  # the model makes no drum stem
        return RequestFailed(ErrorCode.INVALID_FIELD.value, str(exc), job_id)
    log.error("drum transcription of job %s failed", job_id, exc_info=exc)
    return RequestFailed(ErrorCode.TRANSCRIPTION_FAILED.value,
                         f"drum transcription failed: {describe(exc)}", job_id)
