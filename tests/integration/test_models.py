"""Which model serves: `auto` with and without weights, `dsp`, and a 6-stem model's
variants, on real servers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from stemcast.separation.random_model import SIX_STEMS, build_htdemucs, save_to_repo
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.client import SpecCheckedClient
from tests.support.server import ServerProcess, free_port

pytestmark = pytest.mark.integration
# Ready in seconds on a quiet 2-core machine; the deadline leaves room for a shared one.
START_S = 180.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models-music")
    return write_audio(folder / "clip.wav", make_music_like_signal(4.0, seed=21), 44100)


async def stems_of(server: ServerProcess, clip: Path, request_id: str,
                   **fields: Any) -> dict[str, Any]:
    async with SpecCheckedClient.connect(server.ws_url) as client:
        await client.send({"command": "getTrackInfo", "filePath": str(clip), "stems": True,
                           "requestId": request_id, **fields})
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            message = await client.receive(timeout=deadline - time.monotonic())
            if message.get("requestId") == request_id and message["type"] in (
                    "trackInfo", "stemsReady", "stemsFailed"):
                if message["type"] == "trackInfo":
                    info = message
                    continue
                message["_info"] = info
                return message
    raise AssertionError("no stemsReady")


async def test_auto_without_weights_serves_the_offline_engine_and_says_why(
        tmp_path: Path, clip: Path) -> None:
    server = ServerProcess(tmp_path / "data", args=["--allow-path-prefix", str(clip.parent)],
                           env={"HF_HOME": str(tmp_path / "hf")}).start(timeout=START_S)
    try:
        health = server.health()
        model = health["model"]
        assert model["requested"] == "auto" and model["name"] == "offline"
        assert model["state"] == "ready" and health["ready"] is True
        assert "htdemucs's weights are not on disk" in model["choice"]
        assert "HF_HUB_OFFLINE" in model["choice"] and "--model-repo" in model["choice"]
        offered = {m["name"]: m["kind"] for m in health["models"]}
        assert offered == {"offline": "spleeter", "spleeter-2stems": "spleeter", "dsp": "dsp"}
        ready = await stems_of(server, clip, "auto")
        assert ready["type"] == "stemsReady" and ready["model"] == "offline"
        assert list(ready["stems"]) == ["drums", "bass", "other", "vocals"]
        assert ready["_info"]["model"] == "offline"
        # Spleeter's own two stems, natively: the 2stems variant is its accompaniment,
        # the same separation (cached), not a sum of other stems.
        native = await stems_of(server, clip, "spleeter", model="spleeter-2stems")
        assert list(native["stems"]) == ["vocals", "accompaniment"]
        two = await stems_of(server, clip, "two", model="spleeter-2stems", variant="2stems")
        assert two["cached"] and list(two["stems"]) == ["vocals", "accompaniment"]
        for stem in ("vocals", "accompaniment"):
            assert np.array_equal(sf.read(two["stems"][stem], dtype="int16")[0],
                                  sf.read(native["stems"][stem], dtype="int16")[0])
    finally:
        server.stop()
    log = server.log()
    assert "auto: the offline engine" in log
    assert "retry" not in log.lower()


async def test_without_network_the_download_is_one_line_in_the_background(
        tmp_path: Path, clip: Path) -> None:
    """Downloads allowed but the hub unreachable (a closed loopback port stands in for
    it): ready at once on the offline engine; the failed download is one warning."""
    closed = free_port()
    server = ServerProcess(tmp_path / "data", args=["--allow-path-prefix", str(clip.parent)],
                           env={"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0",
                                "HF_ENDPOINT": f"http://127.0.0.1:{closed}"}).start(timeout=START_S)
    try:
        model = server.health()["model"]
        assert model["name"] == "offline"
        assert "downloading in the background" in model["choice"]
        deadline = time.monotonic() + 120
        while "download did not complete" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.5)
        ready = await stems_of(server, clip, "after-failed-download")
        assert ready["model"] == "offline"
    finally:
        server.stop()
    log = server.log()
    assert log.count("download did not complete") == 1
    assert log.count("downloading them in the background") == 1
    assert "retry" not in log.lower() and "Retrying" not in log


async def test_auto_with_weights_takes_htdemucs(tmp_path: Path, clip: Path) -> None:
    repo = tmp_path / "repo"
    save_to_repo(build_htdemucs("tiny", seed=3), repo, "htdemucs")  # stands in for the real
    server = ServerProcess(tmp_path / "data", args=[
        "--model-repo", str(repo), "--allow-path-prefix", str(clip.parent)]).start()
    try:
        model = server.health()["model"]
        assert model["name"] == "htdemucs" and model["choice"].startswith("auto: htdemucs")
        ready = await stems_of(server, clip, "auto-ht")
        assert ready["model"] == "htdemucs"
    finally:
        server.stop()


async def test_a_six_stem_model_and_its_variants(tmp_path: Path, clip: Path) -> None:
    repo = tmp_path / "repo"
    save_to_repo(build_htdemucs("tiny", SIX_STEMS, seed=5), repo, "six")
    server = ServerProcess(tmp_path / "data", args=[
        "--model", "six", "--model-repo", str(repo),
        "--allow-path-prefix", str(clip.parent)]).start()
    try:
        six = await stems_of(server, clip, "six")
        assert list(six["stems"]) == list(SIX_STEMS)
        explicit = await stems_of(server, clip, "six-explicit", variant="6stems")
        assert explicit["stems"] == six["stems"] and explicit["cached"]
        four = await stems_of(server, clip, "four", variant="4stems")
        assert list(four["stems"]) == ["drums", "bass", "other", "vocals"]
        parts = [sf.read(six["stems"][n], dtype="int16")[0].astype(np.int32)
                 for n in ("other", "guitar", "piano")]
        other = sf.read(four["stems"]["other"], dtype="int16")[0]
        assert np.array_equal(other, np.clip(sum(parts), -32768, 32767))
    finally:
        server.stop()


def test_separate_on_the_command_line_with_the_dsp_engine(tmp_path: Path, clip: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stemcast.cli", "separate", str(clip), "--out",
         str(tmp_path / "out"), "--model", "dsp"], capture_output=True, text=True,
        timeout=120, check=False, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "weightless DSP engine" in result.stderr
    mix = sf.read(clip, dtype="int16")[0].astype(np.int32)
    folder = tmp_path / "out" / "dsp" / clip.stem  # demucs's layout: OUT/MODEL/TRACK/STEM
    total = sum(sf.read(folder / f"{n}.wav", dtype="int16")[0].astype(np.int32)
                for n in ("drums", "bass", "other", "vocals"))
    assert np.max(np.abs(total - mix)) <= 2
