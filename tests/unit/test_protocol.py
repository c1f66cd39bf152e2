"""The codec, command validation, and the builders against PROTOCOL.md's own tables."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgpack
import pytest

from stemcast_protocol import (
    Cancel,
    ErrorCode,
    FrameFormat,
    GetTrackInfo,
    Hello,
    Ping,
    Priority,
    ProtocolError,
    cancelled_message,
    decode_frame,
    encode_frame,
    error_message,
    hello_message,
    parse_command,
    pong_message,
    progress_message,
    stems_failed_message,
    stems_ready_message,
    track_info_message,
)

PROTOCOL_DIR = Path(__file__).resolve().parents[2] / "protocol"


def documented_fields() -> dict[str, set[str]]:
    """Field tables of PROTOCOL.md: '### 3.1 `getTrackInfo`' / '### 4.1 `trackInfo`' -> names."""
    text = (PROTOCOL_DIR / "PROTOCOL.md").read_text()
    tables: dict[str, set[str]] = {}
    for section in re.split(r"^##+ ", text, flags=re.M)[1:]:
        title = re.match(r"(\d)\.\d+ `(\w+)`", section)
        if not title:
            continue
        kind = "command" if title.group(1) == "3" else "message"
        fields = set(re.findall(r"^\| `(\w+)` \|", section, flags=re.M))
        tables[f"{kind}:{title.group(2)}"] = fields
    return tables


DOCUMENTED = documented_fields()


def test_protocol_md_documents_every_message() -> None:
    assert set(DOCUMENTED) == {
        "command:getTrackInfo", "command:hello", "command:ping", "command:cancel",
        "message:trackInfo", "message:progress", "message:stemsReady", "message:stemsFailed",
        "message:error", "message:hello", "message:pong", "message:cancelled",
    }
    assert {"trackId", "filePath", "stems", "requestId"} <= DOCUMENTED["command:getTrackInfo"]


@pytest.mark.parametrize("example", sorted(PROTOCOL_DIR.glob("examples/*.json")),
                         ids=lambda p: p.name)
def test_examples_match_the_spec(example: Path) -> None:
    message = json.loads(example.read_text())
    if "type" not in message:
        parse_command(message)
        assert set(message) <= DOCUMENTED[f"command:{message['command']}"]
    else:
        assert set(message) == DOCUMENTED[f"message:{message['type']}"]


def test_builders_produce_exactly_the_documented_fields() -> None:
    built: list[dict[str, Any]] = [
        track_info_message(request_id="r", track_id="t", file_path="/a.mp3", bpm=None, key=None,
                           mode=None, duration_seconds=1.0, sample_rate=44100, channels=2,
                           title="a", stems_cached=False, model="htdemucs"),
        progress_message(request_id="r", track_id="t", job_id="j", stage="queued", progress=0.0,
                         eta_seconds=None, queue_position=1),
        stems_ready_message(request_id="r", track_id="t", job_id="j", stems={"bass": "/b.wav"},
                            model="m", sample_rate=44100, cached=False, processing_time=1.0),
        stems_failed_message(request_id="r", track_id="t", job_id=None, code="NOT_AUDIO",
                             message="no"),
        error_message(ProtocolError(ErrorCode.BAD_FRAME, "bad")),
        hello_message(server_version="1", model="m", sources=["bass"], model_status="ready",
                      model_error=None),
        pong_message(request_id=None, time=1.0),
        cancelled_message(request_id="r"),
    ]
    for message in built:
        assert set(message) == DOCUMENTED[f"message:{message['type']}"], message["type"]
        assert isinstance(message["success"], bool)


def test_seed_000_shapes() -> None:
    ready = stems_ready_message(request_id="optional-request-id", track_id="uuid", job_id="j",
                                stems={"bass": "/p/bass.wav"}, model="m", sample_rate=44100,
                                cached=True, processing_time=None)
    assert ready["type"] == "stemsReady" and ready["success"] is True
    assert ready["requestId"] == "optional-request-id" and ready["trackId"] == "uuid"
    assert ready["stems"] == {"bass": "/p/bass.wav"}


@pytest.mark.parametrize("fmt", list(FrameFormat))
def test_codec_round_trip(fmt: FrameFormat) -> None:
    message = {"type": "x", "nested": {"list": (1, 2.5, None, True)}, "text": "héllo"}
    frame = encode_frame(message, fmt)
    assert isinstance(frame, bytes if fmt == FrameFormat.MSGPACK else str)
    decoded, got = decode_frame(frame)
    assert got == fmt and decoded == {**message, "nested": {"list": [1, 2.5, None, True]}}


def test_json_refuses_binary_values() -> None:
    with pytest.raises(ValueError, match="JSON"):
        encode_frame({"data": b"\x00"}, FrameFormat.JSON)
    assert decode_frame(encode_frame({"data": b"\x00"}, FrameFormat.MSGPACK))[0]["data"] == b"\0"


@pytest.mark.parametrize(("frame", "code"), [
    (b"\xc1", ErrorCode.BAD_FRAME),
    (msgpack.packb([1, 2]), ErrorCode.BAD_FRAME),
    (msgpack.packb({1: "x"}), ErrorCode.BAD_FRAME),
    (b"\x81\xa1a", ErrorCode.BAD_FRAME),  # truncated map
    ("[1, 2]", ErrorCode.BAD_FRAME),
    ("{oops", ErrorCode.BAD_FRAME),
    ("", ErrorCode.BAD_FRAME),
    (b"\x00" * (1 << 20 + 1), ErrorCode.FRAME_TOO_LARGE),
])
def test_bad_frames(frame: bytes | str, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_frame(frame)
    assert caught.value.code == code and len(caught.value.message) > 20


def test_parse_commands() -> None:
    assert parse_command({"command": "getTrackInfo", "trackId": "t", "stems": True,
                          "requestId": 5, "extra": "ignored"}) == \
        GetTrackInfo(track_id="t", file_path=None, stems=True, request_id=5,
                     priority=Priority.HIGH)
    assert parse_command({"command": "getTrackInfo", "filePath": "/a.mp3",
                          "priority": "low"}) == \
        GetTrackInfo(track_id=None, file_path="/a.mp3", stems=False, request_id=None,
                     priority=Priority.LOW)
    assert parse_command({"command": "hello", "client": "eng"}) == Hello("eng", None)
    assert parse_command({"command": "ping"}) == Ping(None)
    assert parse_command({"command": "cancel", "requestId": "r"}) == Cancel("r")


@pytest.mark.parametrize(("message", "code", "words"), [
    ({}, ErrorCode.MISSING_FIELD, "'command'"),
    ({"command": 3}, ErrorCode.UNKNOWN_COMMAND, "known commands"),
    ({"command": "getTrackinfo"}, ErrorCode.UNKNOWN_COMMAND, "getTrackInfo"),
    ({"command": "getTrackInfo"}, ErrorCode.MISSING_FIELD, "'trackId'"),
    ({"command": "getTrackInfo", "trackId": "a", "filePath": "/b"}, ErrorCode.INVALID_FIELD,
     "not both"),
    ({"command": "getTrackInfo", "trackId": 7}, ErrorCode.INVALID_FIELD, "'trackId' must be"),
    ({"command": "getTrackInfo", "trackId": ""}, ErrorCode.INVALID_FIELD, "empty"),
    ({"command": "getTrackInfo", "trackId": "x" * 201}, ErrorCode.INVALID_FIELD, "longer"),
    ({"command": "getTrackInfo", "trackId": "a", "stems": 1}, ErrorCode.INVALID_FIELD,
     "boolean"),
    ({"command": "getTrackInfo", "trackId": "a", "stems": "true"}, ErrorCode.INVALID_FIELD,
     "got string"),
    ({"command": "getTrackInfo", "trackId": "a", "priority": "urgent"},
     ErrorCode.INVALID_FIELD, "high, normal, low"),
    ({"command": "getTrackInfo", "trackId": "a", "requestId": [1]}, ErrorCode.INVALID_FIELD,
     "'requestId'"),
    ({"command": "getTrackInfo", "trackId": "a", "requestId": True}, ErrorCode.INVALID_FIELD,
     "'requestId'"),
    ({"command": "hello", "protocolVersion": "1"}, ErrorCode.INVALID_FIELD, "integer"),
    ({"command": "cancel"}, ErrorCode.MISSING_FIELD, "'requestId'"),
])
def test_command_errors_name_the_problem(message: dict[str, Any], code: ErrorCode,
                                         words: str) -> None:
    if message.get("command") != "cancel":
        message = {**message, "requestId": message.get("requestId", "echo")}
    with pytest.raises(ProtocolError) as caught:
        parse_command(message)
    assert caught.value.code == code
    assert words in caught.value.message
    reply = caught.value.to_error_message()
    assert reply["type"] == "error" and reply["success"] is False
    if "requestId" not in words:
        assert reply["requestId"] == "echo"
