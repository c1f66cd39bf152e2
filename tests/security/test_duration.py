"""The duration limit holds on the decoded samples, not on the header's estimate: a file
whose header understates its length stops decoding at the limit; a header's absurd length
is not believed."""

from __future__ import annotations

import time
from pathlib import Path

import av
import httpx
import numpy as np
import pytest

from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

RATE = 44100


def write_understated_adts(path: Path, seconds: float) -> None:
    """Loud noise first, then silence: FFmpeg estimates an ADTS file's length from the
    first packets' bitrate, so this probes at a few seconds and decodes to `seconds`."""
    rng = np.random.default_rng(0)
    audio = np.zeros((2, int(seconds * RATE)), np.float32)
    audio[:, : 4 * RATE] = rng.standard_normal((2, 4 * RATE)) * 0.5
    with av.open(str(path), "w", format="adts") as container:
        stream = container.add_stream("aac", rate=RATE, layout="stereo")
        stream.bit_rate = 256000
        for start in range(0, audio.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(audio[:, start:start + 1024]), format="fltp",
                layout="stereo")
            frame.sample_rate = RATE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def write_flac_without_length(path: Path, seconds: float) -> None:
    """A FLAC whose STREAMINFO says 'total samples unknown' (as streaming encoders write)."""
    write_audio(path, make_music_like_signal(seconds, seed=4) * 0.1, RATE)
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC"
    info = 8  # 'fLaC' + the metadata block header
    data[info + 13] &= 0xF0  # the top 4 bits of the 36-bit sample count
    data[info + 14: info + 18] = b"\0\0\0\0"
    path.write_bytes(bytes(data))


def _wait_job(server: ServerProcess, job_id: str, timeout: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, object] = httpx.get(f"{server.http_url}/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(0.3)
    raise TimeoutError(f"job {job_id} did not finish in {timeout} s")


def test_a_file_decoding_past_the_limit_is_stopped(guarded: ServerProcess,
                                                   lib_dir: Path) -> None:
    path = lib_dir / "understated.aac"
    write_understated_adts(path, 90)  # the limit is 60 s
    added = httpx.post(f"{guarded.http_url}/api/tracks", json={"path": str(path)}, timeout=30)
    assert added.status_code == 201 and added.json()["durationSeconds"] < 30  # the estimate
    submitted = httpx.post(f"{guarded.http_url}/jobs", json={"file_path": str(path)},
                           timeout=30)
    assert submitted.status_code == 200, submitted.text
    job = _wait_job(guarded, submitted.json()["job_id"])
    assert job["status"] == "failed", job
    # The seed's spelling: `error` the message, the code beside it (README "Mismo drop-in").
    assert job["error_code"] == "TRACK_TOO_LONG", job
    assert "--max-duration-s" in str(job["error"])


def test_an_absurd_header_length_is_not_believed(guarded: ServerProcess, lib_dir: Path) -> None:
    short = lib_dir / "unknown-length-short.flac"
    write_flac_without_length(short, 3.0)
    added = httpx.post(f"{guarded.http_url}/api/tracks", json={"path": str(short)}, timeout=30)
    assert added.status_code == 201, added.text
    assert abs(added.json()["durationSeconds"] - 3.0) < 0.1  # counted, not 1e15 s

    long = lib_dir / "unknown-length-long.flac"
    write_flac_without_length(long, 70.0)
    refused = httpx.post(f"{guarded.http_url}/api/tracks", json={"path": str(long)}, timeout=60)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "TRACK_TOO_LONG"
