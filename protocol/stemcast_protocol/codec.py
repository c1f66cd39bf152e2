"""Frames <-> maps: msgpack in binary frames, JSON in text frames, the same maps in both."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import Enum
from typing import Any, NoReturn

import msgpack

from stemcast_protocol.errors import ErrorCode, ProtocolError

MAX_FRAME_BYTES = 1 << 20

# A JSON escape of a UTF-16 surrogate; only then can a decoded string hold a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class FrameFormat(str, Enum):
    MSGPACK = "msgpack"
    JSON = "json"


def _bad_frame(text: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_FRAME, text)


def _utf8_size(text: str, limit: int) -> int:
    # Cheap bounds first: a character takes 1 to 4 bytes in UTF-8.
    if len(text) > limit or 4 * len(text) <= limit:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


class _ExtensionType(ValueError):
    pass


def _reject_ext(code: int, data: bytes) -> NoReturn:
    raise _ExtensionType(f"binary frame holds msgpack extension type {code}; the protocol "
                         "has no extension types: send only maps, arrays, strings, numbers, "
                         "booleans, nil and bin")


def _find_timestamp(value: Any) -> bool:
    """msgpack decodes its timestamp extension (type -1) itself, without asking ext_hook;
    look for one (iteratively: a frame may nest up to msgpack's 1024 levels)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, msgpack.Timestamp):
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _decode_msgpack(frame: bytes) -> Any:
    try:
        value = msgpack.unpackb(frame, raw=False, strict_map_key=True, ext_hook=_reject_ext)
    except msgpack.StackError as exc:  # its message is empty: say what it means
        raise _bad_frame("binary frame nests arrays/maps too deeply to decode (msgpack "
                         "allows 1024 levels); send one flat map such as "
                         "{\"command\": \"ping\"}") from exc
    except _ExtensionType as exc:
        raise _bad_frame(str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise _bad_frame("binary frame holds a string that is not valid UTF-8; msgpack "
                         "strings must be UTF-8 (send raw bytes as msgpack bin)") from exc
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError) as exc:
        raise _bad_frame(f"binary frame is not one valid msgpack map ({exc}); binary frames "
                         "must hold exactly one msgpack map, text frames one JSON object") from exc
    if _find_timestamp(value):
        raise _bad_frame("binary frame holds a msgpack timestamp (extension type -1); the "
                         "protocol has no extension types: send times as numbers (seconds)")
    return value


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON; send numbers only")


def _check_unicode(value: Any) -> None:
    """Raise on strings holding lone surrogates (valid JSON escapes, invalid Unicode)."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_unicode(key)
            _check_unicode(item)
    elif isinstance(value, list):
        for item in value:
            _check_unicode(item)


def _decode_json(frame: str) -> Any:
    try:
        value = json.loads(frame, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise _bad_frame("text frame nests arrays/objects too deeply to decode; send one "
                         "flat JSON object such as {\"command\": \"ping\"}") from exc
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, ints over 4300 digits
        raise _bad_frame(f"text frame is not valid JSON ({exc}); text frames must hold one "
                         "JSON object such as {\"command\": \"ping\"}") from exc
    if _SURROGATE_ESCAPE.search(frame):
        try:
            _check_unicode(value)
        except UnicodeEncodeError as exc:
            raise _bad_frame("text frame holds a \\u escape of a lone UTF-16 surrogate, "
                             "which is not a Unicode character") from exc
    return value


def decode_frame(frame: bytes | str,
                 max_bytes: int = MAX_FRAME_BYTES) -> tuple[dict[str, Any], FrameFormat]:
    """Decode one frame into a map with string keys (bytes: msgpack, str: JSON).

    Raises ProtocolError FRAME_TOO_LARGE over `max_bytes`, else BAD_FRAME for anything
    that is not one well-formed map.
    """
    size = len(frame) if isinstance(frame, bytes) else _utf8_size(frame, max_bytes)
    if size > max_bytes:
        raise ProtocolError(ErrorCode.FRAME_TOO_LARGE,
                            f"frame of {size} bytes is over the limit of {max_bytes} bytes; "
                            "send audio with POST /api/tracks, not over the WebSocket")
    if isinstance(frame, bytes):
        fmt, value = FrameFormat.MSGPACK, _decode_msgpack(frame)
    else:
        fmt, value = FrameFormat.JSON, _decode_json(frame)
    if not isinstance(value, dict):
        kind = "msgpack" if fmt == FrameFormat.MSGPACK else "JSON"
        raise _bad_frame(f"a frame must hold a map ({kind} object) such as "
                         f"{{\"command\": \"ping\"}}, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise _bad_frame(f"every key of the map must be a string, got the "
                             f"{type(key).__name__} key {repr(key)[:80]}")
    return value, fmt


def _key(key: Any) -> str:
    if isinstance(key, Enum):
        key = key.value  # str(StrEnum member) is "Class.NAME" on Python 3.11
    if not isinstance(key, str):
        raise ValueError(f"map keys must be strings, got {type(key).__name__} {repr(key)[:80]}")
    return key


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def encode_frame(message: Mapping[str, Any], fmt: FrameFormat) -> bytes | str:
    """Encode a map: msgpack bytes, or compact JSON text (where bytes values are refused).

    Tuples become lists and Enum members their values. Raises ValueError for anything
    the format cannot carry, naming the message type.
    """
    name = message.get("type", message.get("command"))
    try:
        plain = _plain(message)
        if fmt == FrameFormat.MSGPACK:
            packed: bytes = msgpack.packb(plain, use_bin_type=True)
            return packed
        # ASCII output (json's default): a lone surrogate from an undecodable file name
        # then stays a valid \u escape instead of breaking the UTF-8 text frame.
        return json.dumps(plain, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, OverflowError) as exc:
        hint = "; binary values need msgpack" if fmt == FrameFormat.JSON else ""
        text = f"message {name!r} cannot be encoded as {fmt.value}: {exc}{hint}"
        raise ValueError(text) from exc
