"""Odd inputs get clear answers: a header that lies about the length, NaN samples, frames
nested too deep or holding msgpack extensions, a callback receiver that never answers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import numpy as np
import pytest
import soundfile as sf

from stemcast_protocol import StemcastClient
from tests.faults.helpers import until_all_done, wait_for
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

CALLBACK_TIMEOUT_S = 1


@pytest.fixture(scope="module")
def odd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("odd")
    signal = make_music_like_signal(8.0, seed=51)
    for suffix in ("flac", "mp3"):
        whole = write_audio(folder / f"whole.{suffix}", signal, 44100).read_bytes()
        # Cut off halfway (a copy that stopped): the header still says 8 s.
        (folder / f"cut.{suffix}").write_bytes(whole[:len(whole) // 2])
    samples = make_music_like_signal(3.0, seed=52).T.copy()
    samples[44100, 1] = np.nan
    sf.write(folder / "nan.wav", samples, 44100, subtype="FLOAT")
    write_audio(folder / "plain.wav", make_music_like_signal(3.0, seed=53), 44100)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, odd_dir: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("odd-server") / "data", args=[
        "--model", "dsp", "--allow-path-prefix", str(odd_dir),
        "--callback-timeout", str(CALLBACK_TIMEOUT_S), "--callback-retries", "0"]).start()
    yield process
    process.stop()


@pytest.mark.parametrize("suffix", ["flac", "mp3"])
async def test_a_truncated_file_reports_the_duration_that_decodes(
        server: ServerProcess, odd_dir: Path, suffix: str) -> None:
    cut = odd_dir / f"cut.{suffix}"
    assert sf.info(str(cut)).duration > 7.5  # the header's claim: the whole 8 s
    added = httpx.post(f"{server.http_url}/api/tracks", json={"path": str(cut)}, timeout=60)
    assert added.status_code == 201, added.text
    assert 3.5 < added.json()["durationSeconds"] < 4.5, added.json()
    async with StemcastClient.connect(server.ws_url) as client:
        await client.send({"command": "getTrackInfo", "filePath": str(cut), "stems": True,
                           "requestId": "cut"})
        messages = (await until_all_done(client, {"cut"}, timeout=120))["cut"]
    info, ready = messages[0], messages[-1]
    assert info["type"] == "trackInfo" and ready["type"] == "stemsReady", messages
    stem_seconds = sf.info(next(iter(ready["stems"].values()))).duration
    assert abs(info["durationSeconds"] - stem_seconds) < 0.1, (info, stem_seconds)


async def test_nan_samples_are_refused_at_the_door(server: ServerProcess,
                                                   odd_dir: Path) -> None:
    nan = odd_dir / "nan.wav"
    response = httpx.post(f"{server.http_url}/api/tracks", json={"path": str(nan)}, timeout=60)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "UNSUPPORTED_AUDIO"
    assert "NaN" in error["message"] and "1.00 s" in error["message"], error
    async with StemcastClient.connect(server.ws_url) as client:
        await client.send({"command": "getTrackInfo", "filePath": str(nan), "stems": True,
                           "requestId": "nan"})
        reply = await client.receive(timeout=60)
    assert reply["type"] == "error" and reply["error"]["code"] == "UNSUPPORTED_AUDIO", reply
    assert not any(job["input_path"] == str(nan) for job in _jobs(server))


def _jobs(server: ServerProcess) -> list[dict[str, Any]]:
    """Every separation job the server ever queued (GET /queue lists live ones only)."""
    import sqlite3

    with sqlite3.connect(server.data_dir / "stemcast.sqlite3") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute("SELECT input_path FROM jobs")]


@pytest.mark.parametrize(("frame", "words"), [
    (b"\x91" * 2000 + b"\xc0", "nests arrays/maps too deeply"),
    (msgpack.packb({"command": "ping", "at": msgpack.Timestamp(1, 0)}),
     "msgpack timestamp (extension type -1)"),
    (msgpack.packb({"command": "ping", "x": msgpack.ExtType(7, b"\x01")}),
     "msgpack extension type 7"),
])
async def test_frames_the_protocol_forbids_are_refused_in_plain_words(
        server: ServerProcess, frame: bytes, words: str) -> None:
    async with StemcastClient.connect(server.ws_url) as client:
        await client.send_raw(frame)
        reply = await client.receive(timeout=30)
        assert reply["type"] == "error" and reply["error"]["code"] == "BAD_FRAME", reply
        assert words in reply["error"]["message"], reply
        assert "()" not in reply["error"]["message"]
        await client.send({"command": "ping", "requestId": "still-open"})
        assert (await client.receive(timeout=30))["type"] == "pong"


@pytest.fixture
def silent_receiver() -> Iterator[str]:
    """An HTTP callback receiver that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    listener.close()


def test_a_hanging_callback_receiver_is_named_as_the_cause(
        server: ServerProcess, odd_dir: Path, silent_receiver: str) -> None:
    submitted = httpx.post(f"{server.http_url}/jobs", timeout=60, json={
        "file_path": str(odd_dir / "plain.wav"), "callback_url": silent_receiver,
        "options": {"stems": False, "basic_features": True}})
    assert submitted.status_code == 200, submitted.text
    job_id = submitted.json()["job_id"]

    def failed_callback() -> dict[str, Any] | None:
        job = httpx.get(f"{server.http_url}/jobs/{job_id}", timeout=30).json()
        errors = [c for c in job["callbacks"] if c["last_error"]]
        return errors[0] if errors else None

    callback = wait_for(failed_callback, 120, "a callback attempt to time out", interval=0.5)
    # The cause in words, the same for a silent receiver and a closed port (SECURITY.md:
    # a stored error must not tell ports apart).
    assert callback["last_error"] == (f"no connection to the callback URL, or no answer "
                                      f"within {CALLBACK_TIMEOUT_S:g} s (--callback-timeout)"), \
        callback
