"""Stems streamed while they separate, and a busy server switching to an urgent track."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from stemcast.audio import decode, float_to_pcm16
from stemcast.separation.demucs_engine import DemucsEngine
from stemcast_protocol import FrameFormat
from tests.conftest import TINY_MODEL
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.client import SpecCheckedClient
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("stream-music")
    spec = {"song": 20.0, "background": 40.0, "urgent": 5.0}
    return {name: write_audio(folder / f"{name}.wav",
                              make_music_like_signal(seconds, seed=60 + i), 44100)
            for i, (name, seconds) in enumerate(spec.items())}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model_repo: Path,
           clips: dict[str, Path]) -> Any:
    proc = ServerProcess(tmp_path_factory.mktemp("stream") / "data", args=[
        "--model", TINY_MODEL, "--model-repo", str(tiny_model_repo),
        "--allow-path-prefix", str(clips["song"].parent)]).start()
    yield proc
    proc.stop()


async def collect(client: SpecCheckedClient, request_id: str,
                  timeout: float = 120) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        message = await client.receive(timeout=deadline - time.monotonic())
        if message.get("requestId") != request_id:
            continue
        message["_t"] = time.monotonic()
        messages.append(message)
        if message["type"] in ("stemsReady", "stemsFailed"):
            return messages


def joined_chunks(messages: list[dict[str, Any]]) -> dict[str, bytes]:
    parts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        if message["type"] == "stemChunk":
            parts[message["stem"]].append(message)
    joined = {}
    for stem, chunks in parts.items():
        cursor = 0
        for chunk in chunks:  # in order, no gap, no overlap
            assert chunk["startFrame"] == cursor and chunk["encoding"] == "pcm_s16le"
            assert len(chunk["data"]) == chunk["frames"] * chunk["channels"] * 2
            cursor += chunk["frames"]
        joined[stem] = b"".join(c["data"] for c in chunks)
    return joined


def wav_data(path: str) -> bytes:
    samples, _ = sf.read(path, dtype="int16", always_2d=True)
    return bytes(samples.astype("<i2").tobytes())


async def test_binary_chunks_stream_before_the_end_and_equal_the_files(
        server: ServerProcess, clips: dict[str, Path]) -> None:
    async with SpecCheckedClient.connect(server.ws_url, fmt=FrameFormat.MSGPACK) as client:
        await client.send({"command": "hello", "delivery": "binary"})
        assert (await client.receive())["type"] == "hello"
        await client.send({"command": "getTrackInfo", "filePath": str(clips["song"]),
                           "stems": True, "requestId": "live"})
        messages = await collect(client, "live")
    ready = messages[-1]
    assert ready["type"] == "stemsReady" and ready["cached"] is False
    chunks = [m for m in messages if m["type"] == "stemChunk"]
    first_chunk = messages.index(chunks[0])
    # Audio arrives while the track still separates: before the job's writing stage.
    writing = [i for i, m in enumerate(messages) if m.get("stage") == "writing"]
    assert writing and first_chunk < writing[0]
    assert messages.index(chunks[-1]) < len(messages) - 1  # every chunk before stemsReady
    joined = joined_chunks(messages)
    assert set(joined) == set(ready["stems"])
    for stem, path in ready["stems"].items():
        assert joined[stem] == wav_data(path)
        assert len(joined[stem]) == 20 * 44100 * 2 * 2


async def test_cached_stems_stream_from_disk_too(server: ServerProcess,
                                                 clips: dict[str, Path]) -> None:
    async with SpecCheckedClient.connect(server.ws_url) as client:
        await client.send({"command": "getTrackInfo", "filePath": str(clips["song"]),
                           "stems": True, "requestId": "warm"})
        first = (await collect(client, "warm"))[-1]
        await client.send({"command": "getTrackInfo", "filePath": str(clips["song"]),
                           "stems": True, "requestId": "cached", "delivery": "binary"})
        messages = await collect(client, "cached")
    ready = messages[-1]
    assert ready["cached"] is True and ready["stems"] == first["stems"]
    joined = joined_chunks(messages)
    assert {stem: wav_data(path) for stem, path in ready["stems"].items()} == joined


async def test_json_clients_get_paths_only(server: ServerProcess,
                                           clips: dict[str, Path]) -> None:
    async with SpecCheckedClient.connect(server.ws_url, fmt=FrameFormat.JSON) as client:
        await client.send({"command": "getTrackInfo", "filePath": str(clips["song"]),
                           "stems": True, "requestId": "json", "delivery": "binary"})
        messages = await collect(client, "json")
    assert messages[-1]["type"] == "stemsReady"
    assert not [m for m in messages if m["type"] == "stemChunk"]


async def test_urgent_track_preempts_a_background_one_without_a_seam(
        server: ServerProcess, clips: dict[str, Path], tiny_model_repo: Path) -> None:
    async with SpecCheckedClient.connect(server.ws_url) as client:
        await client.send({"command": "hello", "delivery": "binary"})
        await client.receive()
        await client.send({"command": "getTrackInfo", "filePath": str(clips["background"]),
                           "stems": True, "requestId": "bg", "priority": "low"})
        seen = await client.until(
            lambda m: m.get("requestId") == "bg" and m["type"] == "stemChunk", timeout=60)
        # The background track is separating; a DJ loads a track now.
        await client.send({"command": "getTrackInfo", "filePath": str(clips["urgent"]),
                           "stems": True, "requestId": "now", "priority": "high"})
        order: list[str] = []
        messages: dict[str, list[dict[str, Any]]] = {"bg": [m for m in seen
                                                            if m.get("requestId") == "bg"],
                                                     "now": []}
        while len(order) < 2:
            message = await client.receive(timeout=120)
            if message.get("requestId") in messages:
                messages[message["requestId"]].append(message)
                if message["type"] == "stemsReady":
                    order.append(message["requestId"])
    assert order == ["now", "bg"]  # the urgent one did not wait for the whole background
    # The background job was suspended and resumed: its stems equal an uninterrupted run.
    background = messages["bg"][-1]
    precision = server.health()["model"]["precision"]
    engine = DemucsEngine.load(TINY_MODEL, tiny_model_repo, device="cpu", precision=precision)
    expected = engine.separate(decode(clips["background"]).samples)
    joined = joined_chunks(messages["bg"])
    for stem, path in background["stems"].items():
        want = float_to_pcm16(expected[stem]).astype(np.int32)
        got = sf.read(path, dtype="int16", always_2d=True)[0].astype(np.int32)
        assert np.max(np.abs(got - want)) <= 1
        assert joined[stem] == wav_data(path)
