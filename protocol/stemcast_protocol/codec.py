"""Frames <-> maps: msgpack in binary frames, JSON in text frames, the same maps in both."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum
from typing import Any

import msgpack

from stemcast_protocol.errors import ErrorCode, ProtocolError

MAX_FRAME_BYTES = 1 << 20


class FrameFormat(str, Enum):
    MSGPACK = "msgpack"
    JSON = "json"


def decode_frame(frame: bytes | str,
                 max_bytes: int = MAX_FRAME_BYTES) -> tuple[dict[str, Any], FrameFormat]:
    """Decode one client frame into a map with string keys, or raise BAD_FRAME."""
    size = len(frame) if isinstance(frame, bytes) else len(frame.encode("utf-8", "replace"))
    if size > max_bytes:
        raise ProtocolError(ErrorCode.FRAME_TOO_LARGE,
                            f"frame of {size} bytes is over the limit of {max_bytes} bytes; "
                            "send audio with POST /api/tracks, not over the WebSocket")
    if isinstance(frame, bytes):
        fmt = FrameFormat.MSGPACK
        try:
            value = msgpack.unpackb(frame, raw=False, strict_map_key=True)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError,
                TypeError, UnicodeDecodeError) as exc:
            raise ProtocolError(ErrorCode.BAD_FRAME,
                                f"binary frame is not a valid msgpack map ({exc}); binary "
                                "frames must hold one msgpack map, text frames one JSON "
                                "object") from exc
    else:
        fmt = FrameFormat.JSON
        try:
            value = json.loads(frame)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ProtocolError(ErrorCode.BAD_FRAME,
                                f"text frame is not valid JSON ({exc}); text frames must hold "
                                "one JSON object such as {\"command\": \"ping\"}") from exc
    if not isinstance(value, dict):
        raise ProtocolError(ErrorCode.BAD_FRAME,
                            f"a frame must hold a map/object, got {type(value).__name__}")
    if not all(isinstance(key, str) for key in value):
        raise ProtocolError(ErrorCode.BAD_FRAME, "every key of the map must be a string")
    return value, fmt


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def encode_frame(message: Mapping[str, Any], fmt: FrameFormat) -> bytes | str:
    """Encode a server message in the client's format (bytes only in msgpack)."""
    plain = _plain(message)
    if fmt == FrameFormat.MSGPACK:
        packed: bytes = msgpack.packb(plain, use_bin_type=True)
        return packed
    try:
        return json.dumps(plain, separators=(",", ":"), allow_nan=False)
    except TypeError as exc:
        raise ValueError(f"message cannot be sent as JSON: {exc}") from exc
