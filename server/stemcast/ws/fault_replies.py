"""WebSocket error frames for storage faults (a locked database, a full disk)."""

from __future__ import annotations

from typing import Any

from stemcast.db.faults import classify
from stemcast_protocol import ErrorCode, ProtocolError, error_message


def storage_fault_error(exc: BaseException, *, request_id: Any = None,
                        command: str | None = None) -> dict[str, Any] | None:
    """The `error` frame for `exc` when it is a storage fault, else None. A BUSY error
    carries `retryAfterSeconds`, the hint HTTP gives in Retry-After."""
    fault = classify(exc)
    if fault is None:
        return None
    # Echo only what could be a valid id: the fields came from an unchecked frame.
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        request_id = None
    if not isinstance(command, str):
        command = None
    message = error_message(ProtocolError(ErrorCode(fault.code), fault.message,
                                           request_id=request_id, command=command))
    if fault.retry_after_s is not None:
        message["error"]["retryAfterSeconds"] = fault.retry_after_s
    return message
