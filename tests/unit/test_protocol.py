"""The codec, command validation, the builders and the examples against PROTOCOL.md's tables."""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from stemcast_protocol import (
    COMMANDS,
    MAX_FRAME_BYTES,
    MESSAGE_TYPES,
    Cancel,
    ErrorCode,
    FrameFormat,
    GetTrackInfo,
    Hello,
    ModelState,
    Ping,
    Priority,
    ProtocolError,
    Stage,
    StemcastClient,
    cancelled_message,
    decode_frame,
    drums_failed_message,
    drums_ready_message,
    encode_frame,
    error_message,
    hello_message,
    parse_command,
    pong_message,
    progress_message,
    stem_chunk_message,
    stems_failed_message,
    stems_ready_message,
    track_analysis_message,
    track_info_message,
)
from tests.support.protocol_spec import (
    EXCHANGE_LINES,
    PROTOCOL_DIR,
    SPEC,
    SPEC_CODES,
    TABLES,
    check_against_spec,
)

EXAMPLES = sorted(PROTOCOL_DIR.glob("examples/*.json"))
TRACK = "4f8e3c7a-2b1d-4c9e-8a6f-0d2e5b7c9a1f"


def test_spec_has_a_table_for_every_command_and_message() -> None:
    assert set(TABLES) == ({f"command:{c}" for c in COMMANDS}
                           | {f"message:{t}" for t in MESSAGE_TYPES})
    assert set(TABLES["command:getTrackInfo"]) == {
        "command", "trackId", "filePath", "stems", "requestId", "priority", "delivery",
        "model", "format", "sampleRate", "bitDepth", "bitrate", "variant", "drums"}
    assert TABLES["command:cancel"]["requestId"].required
    assert not TABLES["command:getTrackInfo"]["stems"].required


def test_spec_error_codes_are_the_enum() -> None:
    assert {code.value for code in ErrorCode} == SPEC_CODES


def test_spec_has_a_section_for_the_http_api() -> None:
    assert re.search(r"^## \d+\. HTTP API$", SPEC, flags=re.M)


# ---- examples --------------------------------------------------------------------------


def test_examples_cover_every_command_and_message() -> None:
    messages = [json.loads(path.read_text()) for path in EXAMPLES]
    assert {m["command"] for m in messages if "command" in m} == set(COMMANDS)
    assert {m["type"] for m in messages if "type" in m} == set(MESSAGE_TYPES)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_files_match_the_spec(example: Path) -> None:
    message = json.loads(example.read_text())
    if message.get("type") == "stemChunk":
        # JSON has no binary type: the example file holds the msgpack bin as base64.
        message["data"] = base64.b64decode(message["data"])
        assert len(message["data"]) == message["frames"] * message["channels"] * 2
    check_against_spec(message)


PARSE_ERRORS = {ErrorCode.UNKNOWN_COMMAND, ErrorCode.MISSING_FIELD, ErrorCode.INVALID_FIELD}


@pytest.mark.parametrize("index", range(len(EXCHANGE_LINES)),
                         ids=[f"line{i}" for i in range(len(EXCHANGE_LINES))])
def test_example_exchanges_match_the_spec(index: int) -> None:
    direction, line = EXCHANGE_LINES[index]
    message = json.loads(line)
    assert ("type" not in message) == (direction == "→")
    reply = json.loads(EXCHANGE_LINES[index + 1][1]) if index + 1 < len(EXCHANGE_LINES) else {}
    if direction == "→" and reply.get("type") == "error" \
            and reply["error"]["code"] in PARSE_ERRORS:
        # A bad command in the example: parse_command must answer it word for word.
        with pytest.raises(ProtocolError) as caught:
            parse_command(message)
        assert caught.value.to_error_message() == reply
    else:
        check_against_spec(message)


def test_example_exchange_starts_with_the_seed_000_request() -> None:
    assert len(EXCHANGE_LINES) >= 10
    first = json.loads(EXCHANGE_LINES[0][1])
    assert list(first) == ["command", "trackId", "stems", "requestId"]
    assert parse_command(first) == GetTrackInfo(track_id=TRACK, file_path=None, stems=True,
                                                request_id="optional-request-id")


# ---- builders ---------------------------------------------------------------------------


def built_messages() -> list[dict[str, Any]]:
    return [
        track_info_message(request_id="r", track_id=TRACK, file_path="/a.mp3", bpm=128.0,
                           key="5", mode="1", duration_seconds=1.5, sample_rate=44100,
                           channels=2, title="a", stems_cached=False, model="htdemucs"),
        progress_message(request_id=3, track_id=TRACK, job_id="j", stage=Stage.QUEUED,
                         progress=0.0, eta_seconds=None, queue_position=1),
        stems_ready_message(request_id=None, track_id=TRACK, job_id="j",
                            stems={"bass": "/b.wav", "vocals": "/v.wav"}, model="m",
                            sample_rate=44100, cached=False, processing_time=1.0),
        stems_failed_message(request_id="r", track_id=TRACK, job_id=None,
                             code=ErrorCode.NOT_AUDIO, message="not audio"),
        error_message(ProtocolError(ErrorCode.BAD_FRAME, "bad")),
        hello_message(server_version="1", model="m", sources=("bass",),
                      model_status=ModelState.READY, model_error=None),
        pong_message(request_id=None, time=1.0),
        cancelled_message(request_id="r"),
        stem_chunk_message(request_id="r", track_id=TRACK, job_id="j", stem="drums",
                           start_frame=0, frames=2, sample_rate=44100, channels=2,
                           data=b"\x00\x01" * 4),
        track_analysis_message(request_id="r", track_id=TRACK, bpm=128.0, key="5", mode="1",
                               analysis={"state": "done", "error": None, "keyName": "F major",
                                         "camelot": "7B", "beats": [0.5, 1.0],
                                         "downbeats": [0.5], "bpmConfidence": 0.9,
                                         "keyConfidence": 0.5, "loudnessLufs": -9.0,
                                         "audibleStart": 0.0, "audibleEnd": 1.5}),
        track_analysis_message(request_id="r", track_id=TRACK, bpm=None, key=None, mode=None,
                               analysis={"state": "failed", "error": "not audio"}),
        drums_ready_message(request_id="r", track_id=TRACK, job_id="j", onsets="/o.json",
                            midi="/d.mid", onsets_url="/u.json", midi_url="/u.mid",
                            onset_count=3, lanes={"kick": 2, "snare": 1}),
        drums_failed_message(request_id="r", track_id=TRACK, job_id="j",
                             code=ErrorCode.TRANSCRIPTION_FAILED, message="failed"),
    ]


@pytest.mark.parametrize("message", built_messages(), ids=lambda m: m["type"])
def test_builders_produce_exactly_the_documented_fields(message: dict[str, Any]) -> None:
    check_against_spec(message)
    if message["type"] == "stemChunk":
        assert decode_frame(encode_frame(message, FrameFormat.MSGPACK))[0] == message
        return
    # Enum arguments become plain strings: the maps must not depend on encode_frame.
    assert json.loads(json.dumps(message)) == message


def test_builders_cover_every_message_type() -> None:
    assert {m["type"] for m in built_messages()} == set(MESSAGE_TYPES)


def test_builders_accept_plain_strings_for_codes() -> None:
    progress = progress_message(request_id=None, track_id="t", job_id=None, stage="decoding",
                                progress=0.0, eta_seconds=None, queue_position=None)
    failed = stems_failed_message(request_id=None, track_id="t", job_id="j",
                                  code="WORKER_CRASHED", message="died twice")
    assert progress["stage"] == "decoding" and type(progress["stage"]) is str
    assert type(built_messages()[1]["stage"]) is str
    assert failed["error"] == {"code": "WORKER_CRASHED", "message": "died twice"}
    assert failed["success"] is False


def test_seed_000_shapes() -> None:
    # The seed's immediate reply and its stemsReady push; ours may add fields, never rename.
    seed_reply = {"success", "trackId", "filePath", "bpm", "key", "mode"}
    seed_ready = {"success", "type", "requestId", "trackId", "stems"}
    info = built_messages()[0]
    assert seed_reply <= set(info) and "stems" not in info
    assert (info["key"], info["mode"]) == ("5", "1")
    ready = stems_ready_message(request_id="optional-request-id", track_id="uuid", job_id="j",
                                stems={"bass": "/p/bass.wav"}, model="m", sample_rate=44100,
                                cached=True, processing_time=None)
    assert seed_ready <= set(ready)
    assert ready["type"] == "stemsReady" and ready["success"] is True
    assert ready["requestId"] == "optional-request-id" and ready["trackId"] == "uuid"
    assert ready["stems"] == {"bass": "/p/bass.wav"} and ready["format"] == "wav"


def test_error_message_echoes_what_could_be_read() -> None:
    error = ProtocolError(ErrorCode.INVALID_FIELD, "field 'x' is bad", request_id=9,
                          command="ping")
    assert error_message(error) == {
        "type": "error", "success": False, "requestId": 9, "command": "ping",
        "error": {"code": "INVALID_FIELD", "message": "field 'x' is bad"},
    }
    assert str(error) == "field 'x' is bad" and "INVALID_FIELD" in repr(error)


# ---- codec ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FrameFormat))
def test_codec_round_trip(fmt: FrameFormat) -> None:
    message = {"type": "x", "nested": {"list": (1, 2.5, None, True)}, "text": "héllo ♫",
               "stage": Stage.SEPARATING, "big": 2**63, Stage.QUEUED: 1}
    frame = encode_frame(message, fmt)
    assert isinstance(frame, bytes if fmt == FrameFormat.MSGPACK else str)
    decoded, got = decode_frame(frame)
    assert got == fmt
    assert decoded == {"type": "x", "nested": {"list": [1, 2.5, None, True]},
                       "text": "héllo ♫", "stage": "separating", "big": 2**63, "queued": 1}


def test_json_frames_are_compact_and_msgpack_uses_bin() -> None:
    assert encode_frame({"a": [1, 2], "b": None}, FrameFormat.JSON) == '{"a":[1,2],"b":null}'
    packed = encode_frame({"data": b"\x00\x01"}, FrameFormat.MSGPACK)
    assert isinstance(packed, bytes) and b"\xc4\x02\x00\x01" in packed  # bin 8, not str
    assert decode_frame(packed)[0]["data"] == b"\x00\x01"


def test_decode_picks_the_format_from_the_frame_type() -> None:
    assert decode_frame(b"\x81\xa1a\x01") == ({"a": 1}, FrameFormat.MSGPACK)
    assert decode_frame('{"a": 1}') == ({"a": 1}, FrameFormat.JSON)
    assert decode_frame('{"e": "\\ud83d\\ude00"}')[0] == {"e": "😀"}  # a paired surrogate


@pytest.mark.parametrize(("message", "words"), [
    ({"data": b"\x00"}, "msgpack"),
    ({"x": float("nan")}, "Out of range"),
    ({"x": object()}, "not JSON serializable"),
    ({1: "int key"}, "keys must be strings"),
])
def test_json_refuses_what_it_cannot_carry(message: dict[Any, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        encode_frame(message, FrameFormat.JSON)


def test_msgpack_refuses_what_it_cannot_carry() -> None:
    with pytest.raises(ValueError, match="msgpack"):
        encode_frame({"x": object()}, FrameFormat.MSGPACK)
    with pytest.raises(ValueError, match="msgpack"):
        encode_frame({"x": 1 << 70}, FrameFormat.MSGPACK)


@pytest.mark.parametrize(("frame", "words"), [
    (b"\xc1", "msgpack"),
    (msgpack.packb([1, 2]), "got list"),
    (msgpack.packb("text"), "got str"),
    (msgpack.packb({1: "x"}), "msgpack"),
    (msgpack.packb({b"key": "x"}, use_bin_type=True), "must be a string, got the bytes key"),
    (b"\x81\xa1a", "msgpack"),  # truncated map
    (msgpack.packb({}) + msgpack.packb({}), "msgpack"),  # two maps in one frame
    (b"\x81\xa1a\xa1\xff", "UTF-8"),
    (msgpack.packb({"a": msgpack.ExtType(5, b"x")}), "extension type 5"),
    (b"\x91" * 100_000, "msgpack"),  # nested too deeply
    ("[1, 2]", "got list"),
    ('"text"', "got str"),
    ("null", "got NoneType"),
    ("{oops", "not valid JSON"),
    ("", "not valid JSON"),
    ('{"a": 1} {"b": 2}', "not valid JSON"),
    ('{"a": NaN}', "NaN"),
    ('{"a": -Infinity}', "Infinity"),
    ('{"n": ' + "1" * 5000 + "}", "not valid JSON"),
    ("[" * 200_000, "JSON"),  # nested too deeply
    ('{"a": "\\ud800"}', "surrogate"),
    ('{"\\udfff": 1}', "surrogate"),
])
def test_bad_frames(frame: bytes | str, words: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_frame(frame)
    assert caught.value.code == ErrorCode.BAD_FRAME
    assert words in caught.value.message and len(caught.value.message) > 30
    assert caught.value.to_error_message()["requestId"] is None


@pytest.mark.parametrize("frame", [
    b"\x00" * (MAX_FRAME_BYTES + 1),
    "x" * (MAX_FRAME_BYTES + 1),
    "é" * (MAX_FRAME_BYTES // 2 + 1),  # fewer characters than the limit, more bytes
])
def test_frames_over_1_mib(frame: bytes | str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_frame(frame)
    assert caught.value.code == ErrorCode.FRAME_TOO_LARGE
    assert str(MAX_FRAME_BYTES) in caught.value.message


@pytest.mark.parametrize("fmt", list(FrameFormat))
def test_frame_of_exactly_the_limit_is_accepted(fmt: FrameFormat) -> None:
    frame = encode_frame({"command": "ping", "pad": "é" * 20}, fmt)
    size = len(frame if isinstance(frame, bytes) else frame.encode())
    assert decode_frame(frame, max_bytes=size)[0]["command"] == "ping"
    with pytest.raises(ProtocolError, match="over the limit"):
        decode_frame(frame, max_bytes=size - 1)


# ---- commands ---------------------------------------------------------------------------


@pytest.mark.parametrize(("message", "command"), [
    ({"command": "getTrackInfo", "trackId": "t", "stems": True, "requestId": 5,
      "extra": {"ignored": True}},
     GetTrackInfo(track_id="t", file_path=None, stems=True, request_id=5,
                  priority=Priority.HIGH)),
    ({"command": "getTrackInfo", "filePath": "/music/a.mp3", "priority": "low"},
     GetTrackInfo(track_id=None, file_path="/music/a.mp3", stems=False, request_id=None,
                  priority=Priority.LOW)),
    ({"command": "getTrackInfo", "trackId": "t", "filePath": None, "stems": None,
      "priority": None, "requestId": None},
     GetTrackInfo(track_id="t", file_path=None, stems=False, request_id=None)),
    ({"command": "getTrackInfo", "trackId": "x" * 200, "stems": False, "priority": "normal",
      "requestId": "r" * 200},
     GetTrackInfo(track_id="x" * 200, file_path=None, stems=False, request_id="r" * 200,
                  priority=Priority.NORMAL)),
    ({"command": "hello", "client": "MismoAudioEngine/2.3", "protocolVersion": 1},
     Hello(client="MismoAudioEngine/2.3", protocol_version=1)),
    ({"command": "hello"}, Hello(client=None, protocol_version=None)),
    ({"command": "ping"}, Ping(request_id=None)),
    ({"command": "ping", "requestId": -(2**63)}, Ping(request_id=-(2**63))),
    ({"command": "cancel", "requestId": "r"}, Cancel(request_id="r")),
    ({"command": "cancel", "requestId": 0}, Cancel(request_id=0)),
    ({"command": "cancel", "requestId": "r", "keepJob": True},
     Cancel(request_id="r", keep_job=True)),
])
def test_parse_commands(message: dict[str, Any], command: Any) -> None:
    assert parse_command(message) == command


@pytest.mark.parametrize("fmt", list(FrameFormat))
def test_seed_000_request_parses_in_both_formats(fmt: FrameFormat) -> None:
    seed = {"command": "getTrackInfo", "trackId": "uuid-of-track", "stems": True,
            "requestId": "optional-request-id"}
    message, _ = decode_frame(encode_frame(seed, fmt))
    assert parse_command(message) == GetTrackInfo(
        track_id="uuid-of-track", file_path=None, stems=True,
        request_id="optional-request-id", priority=Priority.HIGH)


ECHO = "echo"


@pytest.mark.parametrize(("message", "code", "words"), [
    ({}, ErrorCode.MISSING_FIELD, "no 'command' field"),
    ({"trackId": "x"}, ErrorCode.MISSING_FIELD, "'command'"),
    ({"command": 3}, ErrorCode.INVALID_FIELD, "field 'command' must be a string"),
    ({"command": "explode"}, ErrorCode.UNKNOWN_COMMAND,
     "known commands: getTrackInfo, hello, ping, cancel"),
    ({"command": "getTrackinfo"}, ErrorCode.UNKNOWN_COMMAND, "did you mean 'getTrackInfo'?"),
    ({"command": "pong"}, ErrorCode.UNKNOWN_COMMAND, "did you mean 'ping'?"),
    ({"command": "getTrackInfo"}, ErrorCode.MISSING_FIELD, "'trackId'"),
    ({"command": "getTrackInfo", "stems": True}, ErrorCode.MISSING_FIELD, "'filePath'"),
    ({"command": "getTrackInfo", "trackId": "a", "filePath": "/b"}, ErrorCode.INVALID_FIELD,
     "not both"),
    ({"command": "getTrackInfo", "trackId": 7}, ErrorCode.INVALID_FIELD,
     "field 'trackId' must be a string, got integer"),
    ({"command": "getTrackInfo", "trackId": ""}, ErrorCode.INVALID_FIELD,
     "'trackId' must not be empty"),
    ({"command": "getTrackInfo", "trackId": "x" * 201}, ErrorCode.INVALID_FIELD,
     "'trackId' must be at most 200 characters, got 201"),
    ({"command": "getTrackInfo", "filePath": ["/a"]}, ErrorCode.INVALID_FIELD,
     "field 'filePath' must be a string, got array"),
    ({"command": "getTrackInfo", "filePath": "music/a.mp3"}, ErrorCode.INVALID_FIELD,
     "'filePath' must be an absolute path"),
    ({"command": "getTrackInfo", "filePath": "/a\0.mp3"}, ErrorCode.INVALID_FIELD, "NUL"),
    ({"command": "getTrackInfo", "filePath": "/" + "a" * 4096}, ErrorCode.INVALID_FIELD,
     "at most 4096"),
    ({"command": "getTrackInfo", "trackId": "a", "stems": "true"}, ErrorCode.INVALID_FIELD,
     "field 'stems' must be a boolean (true/false), got string"),
    ({"command": "getTrackInfo", "trackId": "a", "stems": 1}, ErrorCode.INVALID_FIELD,
     "field 'stems' must be a boolean (true/false), got integer"),
    ({"command": "getTrackInfo", "trackId": "a", "stems": 0}, ErrorCode.INVALID_FIELD,
     "got integer"),
    ({"command": "getTrackInfo", "trackId": "a", "priority": "urgent"},
     ErrorCode.INVALID_FIELD, "field 'priority' must be one of high, normal, low; "
     "got 'urgent'"),
    ({"command": "getTrackInfo", "trackId": "a", "priority": 1}, ErrorCode.INVALID_FIELD,
     "got integer"),
    ({"command": "hello", "protocolVersion": "1"}, ErrorCode.INVALID_FIELD,
     "field 'protocolVersion' must be an integer, got string"),
    ({"command": "hello", "protocolVersion": True}, ErrorCode.INVALID_FIELD, "got boolean"),
    ({"command": "hello", "protocolVersion": 1.0}, ErrorCode.INVALID_FIELD, "got number"),
    ({"command": "hello", "client": {"name": "x"}}, ErrorCode.INVALID_FIELD,
     "field 'client' must be a string, got map"),
])
def test_command_errors_name_the_problem_and_echo_the_request(
        message: dict[str, Any], code: ErrorCode, words: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_command({**message, "requestId": ECHO})
    assert caught.value.code == code
    assert words in caught.value.message
    reply = caught.value.to_error_message()
    check_against_spec(reply)
    assert reply["requestId"] == ECHO
    command = message.get("command")
    assert reply["command"] == (command if isinstance(command, str) else None)


@pytest.mark.parametrize(("request_id", "words"), [
    ([1], "got array"),
    (True, "got boolean"),
    (1.5, "got number"),
    ("r" * 201, "at most 200 characters"),
    (1 << 64, "64 bits"),
    (-(1 << 63) - 1, "64 bits"),
])
def test_bad_request_ids_are_not_echoed(request_id: Any, words: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_command({"command": "getTrackInfo", "trackId": "a", "requestId": request_id})
    assert caught.value.code == ErrorCode.INVALID_FIELD
    assert "'requestId'" in caught.value.message and words in caught.value.message
    reply = caught.value.to_error_message()
    assert reply["requestId"] is None and reply["command"] == "getTrackInfo"


def test_cancel_needs_a_request_id() -> None:
    for message in ({"command": "cancel"}, {"command": "cancel", "requestId": None}):
        with pytest.raises(ProtocolError) as caught:
            parse_command(message)
        assert caught.value.code == ErrorCode.MISSING_FIELD
        assert "'requestId'" in caught.value.message
        assert caught.value.command == "cancel"


# ---- client -----------------------------------------------------------------------------


RECEIVED: list[GetTrackInfo] = []


async def _fake_server(connection: Any) -> None:
    """Answers like the server: in the format of each frame, with a push in between."""
    async for frame in connection:
        message, fmt = decode_frame(frame)
        command = parse_command(message)
        assert isinstance(command, GetTrackInfo)
        RECEIVED.append(command)
        await connection.send(encode_frame(pong_message(request_id="other", time=0.0), fmt))
        await connection.send(encode_frame(track_info_message(
            request_id=command.request_id, track_id=command.track_id or "t",
            file_path="/a.wav", bpm=None, key=None, mode=None, duration_seconds=1.0,
            sample_rate=44100, channels=2, title=None, stems_cached=False, model=None), fmt))


@contextlib.asynccontextmanager
async def fake_server() -> AsyncIterator[str]:
    # Started inside the test, not as a fixture: it must run on the test's own event loop.
    from websockets.asyncio.server import serve

    async with serve(_fake_server, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


@pytest.mark.parametrize("fmt", list(FrameFormat))
async def test_client_get_track_info_skips_other_messages(fmt: FrameFormat) -> None:
    async with fake_server() as url, StemcastClient.connect(url, fmt=fmt) as client:
        reply = await client.get_track_info(track_id="t1", stems=True, request_id=4,
                                            priority=Priority.LOW, timeout=5)
        assert reply["type"] == "trackInfo" and reply["requestId"] == 4
        assert RECEIVED[-1] == GetTrackInfo(track_id="t1", file_path=None, stems=True,
                                            request_id=4, priority=Priority.LOW)
        assert client.last_frame_was_text == (fmt == FrameFormat.JSON)
        await client.send({"command": "getTrackInfo", "trackId": "t2", "requestId": "b"})
        seen = await client.until(lambda m: m["type"] == "trackInfo", timeout=5)
        assert [m["type"] for m in seen] == ["pong", "trackInfo"]
        with pytest.raises(TimeoutError):
            await client.receive(timeout=0.05)
