"""The stemcast wire protocol: message codec, error codes and a small client."""

from stemcast_protocol.client import StemcastClient
from stemcast_protocol.codec import MAX_FRAME_BYTES, FrameFormat, decode_frame, encode_frame
from stemcast_protocol.errors import ErrorCode, ProtocolError, RequestId
from stemcast_protocol.messages import (
    COMMANDS,
    PROTOCOL_VERSION,
    Cancel,
    Command,
    GetTrackInfo,
    Hello,
    Ping,
    Priority,
    Stage,
    cancelled_message,
    error_message,
    hello_message,
    parse_command,
    pong_message,
    progress_message,
    stems_failed_message,
    stems_ready_message,
    track_info_message,
)

__all__ = [
    "COMMANDS",
    "MAX_FRAME_BYTES",
    "PROTOCOL_VERSION",
    "Cancel",
    "Command",
    "ErrorCode",
    "FrameFormat",
    "GetTrackInfo",
    "Hello",
    "Ping",
    "Priority",
    "ProtocolError",
    "RequestId",
    "Stage",
    "StemcastClient",
    "cancelled_message",
    "decode_frame",
    "encode_frame",
    "error_message",
    "hello_message",
    "parse_command",
    "pong_message",
    "progress_message",
    "stems_failed_message",
    "stems_ready_message",
    "track_info_message",
]
