"""Output options, stem variants, per-request models, analysis and drums on a real server.

One server with the tiny random-weight Demucs model (and the DSP engine every server
offers) plays every combination back through real decoders.
"""

from __future__ import annotations

import io
import json
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import mido
import numpy as np
import pytest
import soundfile as sf

from stemcast.analysis.drums import transcribe
from stemcast.audio import decode
from stemcast_protocol import FrameFormat
from tests.conftest import TINY_MODEL
from tests.support.audio_fixtures import (
    make_known_groove,
    make_music_like_signal,
    write_audio,
)
from tests.support.callback_receiver import CallbackReceiver
from tests.support.client import SpecCheckedClient
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

FOUR = ["drums", "bass", "other", "vocals"]
END = ("stemsReady", "stemsFailed", "drumsReady", "drumsFailed")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("outputs-music")
    return write_audio(folder / "groove.wav", make_music_like_signal(6.0, seed=11), 44100)


@pytest.fixture(scope="module")
def groove(clip: Path) -> tuple[Path, list[float]]:
    """12 s at 120 bpm in C major, with known drum hits (beside `clip`: the same allowed
    folder)."""
    samples, hits = make_known_groove(12.0, bpm=120.0)
    return write_audio(clip.parent / "known-groove.wav", samples, 44100), hits


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model_repo: Path,
           clip: Path) -> Any:
    proc = ServerProcess(tmp_path_factory.mktemp("outputs") / "data", args=[
        "--model", TINY_MODEL, "--model-repo", str(tiny_model_repo),
        "--allow-path-prefix", str(clip.parent), "--callback-retry-delay", "0.2",
    ]).start()
    assert proc.health()["model"]["state"] == "ready", proc.log()
    yield proc
    proc.stop()


async def request(server: ServerProcess, clip: Path, request_id: str, *,
                  until: tuple[str, ...] = ("stemsReady", "stemsFailed"),
                  fmt: FrameFormat = FrameFormat.JSON, timeout: float = 90,
                  **fields: Any) -> list[dict[str, Any]]:
    """Messages of one getTrackInfo request, up to the first of `until`."""
    messages: list[dict[str, Any]] = []
    async with SpecCheckedClient.connect(server.ws_url, fmt=fmt) as client:
        # hello first: a JSON client that says hello gets stemcast's own shapes, not seed
        # 000's dialect (PROTOCOL.md 1.1).
        await client.send({"command": "hello", "protocolVersion": 1})
        await client.send({"command": "getTrackInfo", "filePath": str(clip), "stems": True,
                           "requestId": request_id, **fields})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = await client.receive(timeout=deadline - time.monotonic())
            if message.get("requestId") != request_id:
                continue
            messages.append(message)
            if message["type"] in until or message["type"] == "error":
                return messages
    raise AssertionError(f"{request_id}: nothing of {until} within {timeout} s: {messages}")


def pcm(path: str) -> np.ndarray:
    data, _ = sf.read(path, dtype="int16", always_2d=True)
    return data


async def test_hello_offers_the_model_and_the_dsp_engine(server: ServerProcess) -> None:
    async with SpecCheckedClient.connect(server.ws_url) as client:
        await client.send({"command": "hello", "protocolVersion": 1})
        hello = await client.receive()
    names = {m["name"]: m for m in hello["models"]}
    assert set(names) == {TINY_MODEL, "dsp"}
    assert names[TINY_MODEL]["default"] is True and names["dsp"]["kind"] == "dsp"
    assert names["dsp"]["sources"] == FOUR
    assert TINY_MODEL in hello["modelChoice"]
    assert hello["outputs"]["formats"] == ["wav", "flac", "mp3"]
    health = server.health()
    assert {m["name"] for m in health["models"]} == {TINY_MODEL, "dsp"}
    assert health["model"]["requested"] == TINY_MODEL


async def test_formats_rates_and_depths_decode_back(server: ServerProcess, clip: Path) -> None:
    frames = decode(clip).frames
    master = (await request(server, clip, "master"))[-1]
    assert master["format"] == "wav" and master["bitDepth"] == 16
    cases = [
        ({"format": "flac"}, "FLAC", "PCM_16", 44100),
        ({"format": "flac", "bitDepth": 24, "sampleRate": 48000}, "FLAC", "PCM_24", 48000),
        ({"format": "wav", "bitDepth": 24}, "WAV", "PCM_24", 44100),
        ({"format": "wav", "bitDepth": 32}, "WAV", "FLOAT", 44100),
        ({"format": "wav", "sampleRate": 48000}, "WAV", "PCM_16", 48000),
        ({"format": "mp3", "bitrate": 192}, "MP3", None, 44100),
    ]
    float_jobs: set[str] = set()
    for index, (options, container, subtype, rate) in enumerate(cases):
        ready = (await request(server, clip, f"fmt{index}", **options))[-1]
        assert ready["type"] == "stemsReady", ready
        # 16-bit outputs (any container, rate or bitrate) are renditions of the one 16-bit
        # master: its job, not a separation of their own. Deeper ones share one float job.
        if subtype in ("PCM_24", "FLOAT"):
            assert ready["jobId"] != master["jobId"], (options, ready["jobId"])
            float_jobs.add(ready["jobId"])
        else:
            assert ready["jobId"] == master["jobId"], (options, ready["jobId"])
        assert ready["format"] == options["format"] and ready["sampleRate"] == rate
        assert set(ready["stems"]) == set(FOUR)
        for path in ready["stems"].values():
            assert path.endswith("." + options["format"]) and Path(path).is_absolute()
            info = sf.info(path)
            assert info.format == container and info.samplerate == rate
            assert info.channels == 2
            if subtype:
                assert info.subtype == subtype
            expected = round(frames * rate / 44100)
            # mp3 adds encoder delay and padding (about 1-2 frames of 1152 samples).
            slack = 3000 if container == "MP3" else 1
            assert abs(info.frames - expected) <= slack, (options, info.frames, expected)
        if options == {"format": "flac"}:
            # Lossless: the very samples of the 16-bit master.
            for name, path in ready["stems"].items():
                assert np.array_equal(pcm(path), pcm(master["stems"][name]))
    assert len(float_jobs) == 1, float_jobs
    # 16-bit outputs come from the 16-bit separation, deeper ones from a float one.
    assert (await request(server, clip, "again", format="mp3", bitrate=192))[-1]["cached"]


async def test_variants_are_sums_of_the_four_stems(server: ServerProcess, clip: Path) -> None:
    master = (await request(server, clip, "v-master"))[-1]
    four = {name: pcm(path).astype(np.int32) for name, path in master["stems"].items()}
    two = (await request(server, clip, "v-2", variant="2stems"))[-1]
    assert two["variant"] == "2stems-vocals" and set(two["stems"]) == {"vocals",
                                                                      "accompaniment"}
    assert two["jobId"] == master["jobId"], "a variant must not separate again"
    accompaniment = np.clip(four["drums"] + four["bass"] + four["other"], -32768, 32767)
    assert np.array_equal(pcm(two["stems"]["accompaniment"]), accompaniment)
    assert np.array_equal(pcm(two["stems"]["vocals"]), four["vocals"])
    drums = (await request(server, clip, "v-d", variant="2stems-drums"))[-1]
    assert set(drums["stems"]) == {"drums", "nodrums"}
    nodrums = np.clip(four["bass"] + four["other"] + four["vocals"], -32768, 32767)
    assert np.array_equal(pcm(drums["stems"]["nodrums"]), nodrums)
    subset = (await request(server, clip, "v-sub", stems=["vocals", "drums"]))[-1]
    assert set(subset["stems"]) == {"drums", "vocals"} and subset["cached"] is True
    assert subset["stems"]["drums"] == master["stems"]["drums"]
    six = (await request(server, clip, "v-6", variant="6stems"))[-1]
    assert six["type"] == "stemsFailed" and six["error"]["code"] == "INVALID_FIELD"
    assert "variant" in six["error"]["message"] and "htdemucs_6s" in six["error"]["message"]
    wrong = (await request(server, clip, "v-x", stems=["guitar"]))[-1]
    assert wrong["type"] == "stemsFailed" and "guitar" in wrong["error"]["message"]
    bad = (await request(server, clip, "v-bad", format="ogg"))[-1]
    assert bad["type"] == "error" and "format" in bad["error"]["message"]


async def test_binary_chunks_of_a_variant_equal_its_files(server: ServerProcess,
                                                          clip: Path) -> None:
    messages = await request(server, clip, "bin2", fmt=FrameFormat.MSGPACK, delivery="binary",
                             variant="2stems")
    ready = messages[-1]
    chunks: dict[str, list[bytes]] = {}
    for message in messages:
        if message["type"] == "stemChunk":
            chunks.setdefault(message["stem"], []).append(message["data"])
    assert set(chunks) == {"vocals", "accompaniment"}
    for name, parts in chunks.items():
        assert b"".join(parts) == pcm(ready["stems"][name]).tobytes()


async def test_a_model_chosen_per_request(server: ServerProcess, clip: Path) -> None:
    ready = (await request(server, clip, "dsp", model="dsp"))[-1]
    assert ready["type"] == "stemsReady" and ready["model"] == "dsp"
    mix = pcm(str(clip)).astype(np.int32)
    total = sum(pcm(path).astype(np.int32) for path in ready["stems"].values())
    # The DSP engine's stems sum to the mix; each 16-bit stem rounds by half a step.
    assert np.max(np.abs(total - mix)) <= 2
    unknown = (await request(server, clip, "nope", model="no-such-model"))[-1]
    assert unknown["type"] == "stemsFailed" and unknown["error"]["code"] == "INVALID_FIELD"
    assert "dsp" in unknown["error"]["message"]


def transcribed(drum_stem: str) -> list[tuple[float, int]]:
    """(time, lane) of every onset the transcriber finds in a served drum stem, here."""
    audio = decode(Path(drum_stem))
    return [(o.time, o.lane) for o in transcribe(audio.samples, audio.sample_rate)]


def assert_on_the_grid(onsets: list[tuple[float, int]], hits: list[float]) -> None:
    """Most of the clip's drum hits are found, and most of what is found is on them
    (within 30 ms; the DSP engine's drum stem keeps some of the chord's attack)."""
    grid = np.array(hits)
    times = np.array([time for time, _lane in onsets])
    assert len(times), "no onsets"
    found = sum(bool(np.any(np.abs(times - hit) <= 0.03)) for hit in grid)
    on_grid = sum(bool(np.min(np.abs(grid - time)) <= 0.03) for time in times)
    assert found >= 0.8 * len(grid), (found, len(grid), onsets)
    assert on_grid >= 0.8 * len(times), (on_grid, len(times), onsets)


async def test_analysis_and_drums(server: ServerProcess,
                                  groove: tuple[Path, list[float]]) -> None:
    clip, hits = groove
    # The DSP engine: its drum stem keeps the clip's hits (the tiny random model's does not).
    messages = await request(server, clip, "drums", until=("drumsReady", "drumsFailed"),
                             drums=True, model="dsp")
    kinds = [m["type"] for m in messages]
    assert kinds.index("stemsReady") < kinds.index("drumsReady"), kinds
    ready, drums = messages[kinds.index("stemsReady")], messages[-1]
    # What the server found is what the transcriber finds in the drum stem it served,
    # and that is the clip's known grid of hits.
    expected = transcribed(ready["stems"]["drums"])
    assert_on_the_grid(expected, hits)
    assert drums["onsetCount"] == len(expected) and Path(drums["midi"]).is_file()
    lanes: dict[str, int] = {}
    for onset in json.loads(Path(drums["onsets"]).read_text())["onsets"]:
        lanes[onset["type"]] = lanes.get(onset["type"], 0) + 1
    assert drums["lanes"] == lanes
    track_id = drums["trackId"]
    midi = httpx.get(f"{server.http_url}{drums['midiUrl']}")
    assert midi.status_code == 200
    parsed = mido.MidiFile(file=io.BytesIO(midi.content))
    notes = [m for m in parsed if m.type == "note_on" and m.velocity > 0]
    assert len(notes) == drums["onsetCount"] and all(m.channel == 9 for m in notes)
    onsets = httpx.get(f"{server.http_url}/api/tracks/{track_id}/onsets.json").json()
    assert onsets["onset_count"] == drums["onsetCount"]
    # onsets.json gives times in ms.
    assert [(o["time"], o["lane"]) for o in onsets["onsets"]] == [
        (round(t, 3), lane) for t, lane in expected]
    for onset in onsets["onsets"]:
        assert set(onset) >= {"time", "lane", "type", "confidence"}
        assert 0 <= onset["lane"] <= 7
    analysis = httpx.get(f"{server.http_url}/api/tracks/{track_id}/analysis?wait=1",
                         timeout=90).json()
    # The clip is 120 bpm in C major.
    assert analysis["state"] == "done", analysis
    assert abs(analysis["bpm"] - 120) <= 1, analysis["bpm"]
    assert (analysis["keyName"], analysis["camelot"]) == ("C major", "8B"), analysis
    assert [w["stem_type"] for w in analysis["waveforms"] if w["zoom_level"] == 1] == ["mix"]
    # trackInfo now carries the analysis; stemsReady carries overview peaks.
    info = (await request(server, clip, "info2", model="dsp"))
    assert info[0]["analysis"] == "done" and info[0]["bpm"] == analysis["bpm"]
    assert (info[0]["key"], info[0]["mode"]) == ("0", "1")  # C, major: seed 000's spelling
    peaks = {w["stem_type"] for w in info[-1]["waveforms"]}
    assert peaks == {"mix", *FOUR}


async def test_estimates_fall_with_the_real_time_left(server: ServerProcess,
                                                      clip: Path) -> None:
    """Once separation has moved twice, ETAs are within 2x of the time that really was
    left, and fall. (Before that the job's own pace is one segment with the stage's start-up
    in it, and the history is of other lengths: the estimate is a range there, and
    bench/eta.py measures how far off it is.)"""
    # 40 s: enough segments (and seconds) after the second move for several estimates
    long_clip = write_audio(clip.parent / "eta.wav", make_music_like_signal(40.0, seed=12),
                            44100)
    messages: list[tuple[float, dict[str, Any]]] = []
    async with SpecCheckedClient.connect(server.ws_url) as client:
        await client.send({"command": "getTrackInfo", "filePath": str(long_clip),
                           "stems": True, "requestId": "eta"})
        deadline = time.monotonic() + 400  # 20 s of audio took 55 s on a loaded machine
        while not messages or messages[-1][1]["type"] not in ("stemsReady", "stemsFailed"):
            message = await client.receive(timeout=max(deadline - time.monotonic(), 0.01))
            if message.get("requestId") == "eta":
                messages.append((time.monotonic(), message))
    finished, ready = messages[-1]
    assert ready["type"] == "stemsReady", ready
    # From the second move until the last segment is done (its message says 0 s left while the
    # stems are written), and not below a second left: the progress ticks (one a second)
    # are as long as what is measured there.
    figures = sorted({m["progress"] for _at, m in messages
                      if m["type"] == "progress" and m["stage"] == "separating"})
    assert len(figures) >= 4, figures  # several segments: moves to measure a pace between
    second, top = figures[2], figures[-1]  # figures[0]: the stage's start, before any move
    estimates = [(m["etaSeconds"], round(finished - at, 2)) for at, m in messages
                 if m["type"] == "progress" and m["stage"] == "separating"
                 and second <= m["progress"] < top and finished - at >= 1.0]
    assert len(estimates) >= 3, [m for _at, m in messages]
    # Within 2x of the time really left, as a median. Not every one: progress moves a
    # segment at a time, so an estimate climbs until its segment ends, and on a shared
    # machine one segment can take three times as long as the one before.
    assert 0.5 <= statistics.median(eta / left for eta, left in estimates) <= 2.0, estimates
    # And they fall: the last is well below the first.
    assert estimates[-1][0] < 0.75 * estimates[0][0], estimates


def test_http_outputs_and_the_job_api(server: ServerProcess, clip: Path,
                                      groove: tuple[Path, list[float]],
                                      tmp_path: Path) -> None:
    with CallbackReceiver() as receiver:
        response = httpx.post(f"{server.http_url}/jobs", json={
            "file_path": str(groove[0]), "track_hash": "out-1", "callback_url": receiver.url,
            "options": {"stems": True, "basic_features": True, "drums": True,
                        "format": "flac", "variant": "2stems", "model": "dsp"}}, timeout=30)
        assert response.status_code == 200, response.text
        done = receiver.wait_for("job_completed", timeout=120)
        stages = [r.body["stage"] for r in receiver.received]
    assert stages == ["basic_features", "stems", "drums", "job_completed"], stages
    features = receiver.received[0].body["data"]
    assert {"bpm", "key", "mode", "camelot", "beats"} <= set(features)
    assert abs(features["bpm"] - 120) <= 1 and features["camelot"] == "8B", features
    stems = receiver.received[1].body["data"]
    assert stems["format"] == "flac" and set(stems["stems"]) == {"vocals", "accompaniment"}
    assert {w["zoom_level"] for w in stems["peaks"]} == {1, 2}
    assert {w["stem_type"] for w in stems["peaks"]} == {"mix", "vocals", "accompaniment"}
    # The app server's shape: one entry per zoom level (0-1 here), <stem>_amplitude each.
    assert [w["zoom_level"] for w in stems["waveforms"]] == [0, 1]
    assert all({"vocals_amplitude", "accompaniment_amplitude"} <= set(w)
               for w in stems["waveforms"])
    assert done.body["status"] == "completed"
    zipped = httpx.get(f"{server.http_url}/jobs/out-1/stems.zip")
    assert zipped.status_code == 200 and b"accompaniment.flac" in zipped.content
    job = httpx.get(f"{server.http_url}/jobs/out-1").json()
    # The drums callback: what the transcriber finds in the master's drum stem, as served.
    drum_stem = tmp_path / "drums.wav"
    drum_stem.write_bytes(httpx.get(
        f"{server.http_url}/api/stems/{job['separation_job_id']}/drums.wav").content)
    expected = transcribed(str(drum_stem))
    assert_on_the_grid(expected, groove[1])
    drums = receiver.received[2].body["data"]
    assert drums["onset_count"] == len(expected), drums
    document = json.loads(Path(drums["onsets"]).read_text())
    assert [(o["time"], o["lane"]) for o in document["onsets"]] == [
        (round(t, 3), lane) for t, lane in expected]
    assert drums["lanes"] == {name: sum(o["type"] == name for o in document["onsets"])
                              for name in {o["type"] for o in document["onsets"]}}
    assert Path(drums["midi"]).is_file()
    assert drums["onsets_url"] == f"/api/tracks/{job['track_id']}/onsets.json"
    mp3 = httpx.get(f"{server.http_url}/api/stems/{job['separation_job_id']}/vocals.mp3",
                    params={"format": "mp3"}, timeout=60)
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
    assert mp3.content[:3] == b"ID3" or mp3.content[0] == 0xFF
    bad = httpx.post(f"{server.http_url}/jobs", json={
        "file_path": str(clip), "options": {"format": "flac", "bitrate": 128}})
    assert bad.status_code == 422 and "bitrate" in bad.json()["error"]["message"]


async def test_waveforms_by_zoom_level(server: ServerProcess, clip: Path) -> None:
    ready = (await request(server, clip, "peaks"))[-1]
    assert {w["zoom_level"] for w in ready["waveforms"]} == {1}  # the overview only
    url = f"{server.http_url}/api/stems/{ready['jobId']}/waveforms"
    every = httpx.get(url).json()["waveforms"]
    assert sorted((w["zoom_level"], w["stem_type"]) for w in every) == sorted(
        (level, name) for level in (1, 2, 3) for name in ("mix", *FOUR))
    for entry in every:
        assert len(entry["data"]) == 2 * entry["length"]
        assert entry["length"] == pytest.approx(6.0 * entry["pairs_per_second"], abs=1)
        assert all(lo <= hi for lo, hi in zip(entry["data"][::2], entry["data"][1::2],
                                              strict=True))
    fine = httpx.get(url, params={"zoom": 3}).json()["waveforms"]
    assert {w["zoom_level"] for w in fine} == {3} and len(fine) == 5
    two = httpx.get(url, params={"variant": "2stems", "zoom": 1}).json()["waveforms"]
    assert {w["stem_type"] for w in two} == {"mix", "vocals", "accompaniment"}
    assert httpx.get(url, params={"zoom": 9}).status_code == 422


def test_metrics_count_the_derived_work(server: ServerProcess) -> None:
    """Runs after the tests above on the same server: renditions, drums and analyses."""
    text = httpx.get(f"{server.http_url}/metrics").text
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line.startswith("stemcast_") and " " in line}
    assert values["stemcast_renditions_total"] >= 6  # flac, flac 24/48k, wav 24, mp3, 48k...
    assert values["stemcast_drum_transcriptions_total"] >= 1
    assert values['stemcast_tracks_analysed_total{result="done"}'] >= 1
    assert values["stemcast_cpu_pool_restarts_total"] == 0
    # ETAs are learned per model: the DSP engine and Demucs run at very different speeds.
    factors = server.health()["queue"]["realtimeFactors"]
    assert set(factors) == {TINY_MODEL, "dsp"} and all(f > 0 for f in factors.values())
