"""The browser page in a real headless Chromium against a real `stemcast serve`.

Debian's `chromium`, driven by Playwright (the Python package) with `executable_path`
set to the system browser. `.ci/run` installs chromium where it is missing; this module
is skipped, with the reason, only where it could not be installed.
"""

from __future__ import annotations

import io
import re
import time
import wave
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from tests.conftest import TINY_MODEL
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.browser import require_browser
from tests.support.server import ServerProcess

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
STEMS = ["drums", "bass", "other", "vocals"]
TOKEN = "browser-test-token"

sync_api = require_browser()

pytestmark = pytest.mark.integration



@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("page-audio")
    path = folder / "Page Song.wav"
    write_audio(path, make_music_like_signal(4.0, seed=7), 44100)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model_repo: Path) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("page-server") / "data"
    proc = ServerProcess(
        data_dir, args=["--model", TINY_MODEL, "--model-repo", str(tiny_model_repo)],
    ).start()
    assert proc.health()["model"]["state"] == "ready", proc.log()
    yield proc
    proc.stop()


# Taps Web Audio itself (not the page's code): every AudioBufferSourceNode's start and
# stop, and the node it feeds. With it a test renders the page's live graph offline.
AUDIO_TAP = """(() => {
    const starts = [];
    window.stemcastAudioTap = starts;
    const connect = AudioNode.prototype.connect;
    AudioNode.prototype.connect = function (target, ...rest) {
        if (this instanceof AudioBufferSourceNode) this.tapTarget = target;
        return connect.call(this, target, ...rest);
    };
    const start = AudioBufferSourceNode.prototype.start;
    AudioBufferSourceNode.prototype.start = function (when = 0, offset = 0, ...rest) {
        this.tapStart = {node: this, when, offset, stopped: null};
        starts.push(this.tapStart);
        return start.call(this, when, offset, ...rest);
    };
    const stop = AudioBufferSourceNode.prototype.stop;
    AudioBufferSourceNode.prototype.stop = function (when = 0) {
        if (this.tapStart) this.tapStart.stopped = Math.max(when, this.context.currentTime);
        return stop.call(this, when);
    };
})();"""

# Renders what each stem's gain node receives from `now` on, `seconds` long, in an
# OfflineAudioContext: the same buffers, start times and offsets as the live sources, so
# the result is what the speakers get, stem by stem. `position` is the play head at `now`.
RENDER_PLAYED = """async (seconds) => {
    const mixer = window.stemcastMixer;
    const now = mixer.context.currentTime;
    const position = mixer.position();
    const stems = {};
    let rate = mixer.sampleRate;
    for (const [name, gain] of Object.entries(mixer.gains)) {
        const live = window.stemcastAudioTap.filter(
            (s) => s.node.tapTarget === gain && (s.stopped === null || s.stopped > now));
        if (live.length) rate = live[0].node.buffer.sampleRate;
        const offline = new OfflineAudioContext(1, Math.round(seconds * rate), rate);
        for (const s of live) {
            const source = offline.createBufferSource();
            source.buffer = s.node.buffer;
            source.connect(offline.destination);
            // Whole frames: a fractional start interpolates, and noise unlike itself then.
            const frame = (seconds) => Math.round(seconds * rate) / rate;
            const lead = s.when - now;
            if (lead >= 0) source.start(frame(lead), frame(s.offset));
            else source.start(0, frame(s.offset - lead));
            if (s.stopped !== null) source.stop(Math.max(0, s.stopped - now));
        }
        const rendered = await offline.startRendering();
        stems[name] = Array.from(rendered.getChannelData(0));
    }
    return {position, rate, stems};
}"""


def assert_played_in_step(page: Any, stems: dict[str, np.ndarray]) -> None:
    """What each stem plays from now on is its file from the play head on: every stem in
    step with the play head, and so with the others. `stems`: mono float per stem."""
    played = page.evaluate(RENDER_PLAYED, 0.4)
    rate, position = played["rate"], played["position"]
    assert set(played["stems"]) == set(stems), sorted(played["stems"])
    reach = round(0.5 * rate)  # look for each stem's audio up to 0.5 s either side
    head = round(position * rate)
    lags = {}
    for name, values in played["stems"].items():
        rendered = np.asarray(values, dtype=np.float64)
        assert np.max(np.abs(rendered)) > 1e-3, f"{name}: nothing plays"
        padded = np.concatenate([np.zeros(reach), stems[name], np.zeros(reach + len(rendered))])
        window = padded[head:head + 2 * reach + len(rendered)]
        score = signal.correlate(window, rendered, mode="valid", method="fft")
        best = int(np.argmax(score))
        lags[name] = (best - reach) / rate
        match = window[best:best + len(rendered)]
        similarity = float(np.dot(match, rendered)
                           / (np.linalg.norm(match) * np.linalg.norm(rendered) + 1e-12))
        assert similarity > 0.99, f"{name}: what plays is not the stem ({similarity:.3f})"
    # The live sources start 50 ms ahead on the context's clock, so their place is exact.
    assert all(abs(lag) <= 0.005 for lag in lags.values()), (
        f"stems out of step with the play head at {position:.3f} s (seconds ahead): {lags}")


def mono_stems(server: ServerProcess, track_id: str) -> dict[str, np.ndarray]:
    listing = httpx.get(f"{server.http_url}/api/tracks/{track_id}/stems", timeout=10).json()
    stems = {}
    for name, url in listing["stems"].items():
        data, _rate = sf.read(io.BytesIO(httpx.get(server.http_url + url, timeout=30).content),
                              always_2d=True)
        stems[name] = data.mean(axis=1)
    return stems


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900},
                                  accept_downloads=True)
    context.add_init_script(AUDIO_TAP)
    page = context.new_page()
    page.set_default_timeout(30_000)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    yield page
    context.close()
    assert not [m for m in messages if m.startswith("pageerror")], messages


class HoldStemsReady:
    """Passes the page's WebSocket through Playwright, holding `stemsReady` back until
    released: the page is then seen with streamed audio only, its job not yet done."""

    def __init__(self) -> None:
        self.holding = True
        self.held: list[bytes | str] = []
        self.route: Any = None

    def __call__(self, route: Any) -> None:
        self.route = route
        server = route.connect_to_server()

        def from_server(message: bytes | str) -> None:
            if self.holding and isinstance(message, bytes) \
                    and msgpack.unpackb(message).get("type") == "stemsReady":
                self.held.append(message)
            else:
                route.send(message)

        server.on_message(from_server)
        route.on_message(server.send)

    def wait_held(self, page: Any, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.held:
            assert time.monotonic() < deadline, "no stemsReady came"
            page.wait_for_timeout(100)

    def release(self) -> None:
        self.holding = False
        for message in self.held:
            self.route.send(message)
        self.held.clear()


def stats(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate("() => ({...window.stemcastStats})")
    return result


def option_values(page: Any, selector: str) -> list[str]:
    values: list[str] = page.locator(f"{selector} option").evaluate_all(
        "options => options.map(o => o.value)")
    return values


def gains(page: Any) -> dict[str, float]:
    result: dict[str, float] = page.evaluate(
        "() => Object.fromEntries(Object.entries(window.stemcastMixer.gains)"
        ".map(([name, node]) => [name, node.gain.value]))")
    return result


def test_upload_separate_mix_and_download(page: Any, server: ServerProcess, clip: Path) -> None:
    held = HoldStemsReady()
    page.route_web_socket(re.compile(r"/ws(\?.*)?$"), held)
    page.goto(server.http_url + "/")
    sync_api.expect(page.locator("#conn")).to_have_text("Connected")
    sync_api.expect(page.locator("#model-select")).to_contain_text(TINY_MODEL)
    sync_api.expect(page.locator("#variant-select")).to_contain_text("4 stems")
    page.set_input_files("#file-input", str(clip))
    sync_api.expect(page.locator("#file-name")).to_contain_text("Page Song.wav")
    # Record what the job card shows while the socket pushes progress.
    page.evaluate("""() => {
        window.seen = [];
        const facts = document.querySelector('.job-facts');
        new MutationObserver(() => window.seen.push(facts.innerText))
            .observe(facts, {subtree: true, childList: true, characterData: true});
    }""")
    page.get_by_role("button", name="Separate").click()

    # The stems stream (msgpack stemChunk frames) while they separate, and what has come
    # plays at once: stemsReady is held back here, so this is streamed audio only.
    page.wait_for_function("() => window.stemcastStats.chunks > 0", timeout=120_000)
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => window.stemcastMixer.position() > 0.3")
    streaming = page.evaluate("""() => ({complete: window.stemcastMixer.complete,
        origin: window.stemcastMixer.origin,
        sources: Object.keys(window.stemcastMixer.sources).length,
        seconds: window.stemcastMixer.availableSeconds()})""")
    assert streaming["complete"] is False and streaming["origin"] == "stream", streaming
    assert streaming["sources"] == 4 and streaming["seconds"] > 0.3, streaming
    sync_api.expect(page.locator(".stem canvas[data-drawn=partial], "
                                 ".stem canvas[data-drawn=true]")).to_have_count(4)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-page-streaming.png"), full_page=True)
    page.get_by_role("button", name="Pause").click()
    held.wait_held(page)
    assert stats(page)["playsWhileStreaming"] >= 1
    held.release()

    job = page.locator("#job")
    sync_api.expect(job).to_have_attribute("data-stage", "complete", timeout=120_000)
    streamed = stats(page)
    assert streamed["transport"] == "msgpack", streamed
    assert streamed["chunksBeforeReady"] >= len(STEMS), streamed
    # The whole audio came as chunks: nothing fetched again for playback.
    assert streamed["readyAfterChunks"] == 1 and streamed["fetchedStems"] == 0, streamed
    assert page.locator("#job-progress").evaluate("el => el.value") == 1
    sync_api.expect(page.locator("#job-percent")).to_have_text("100%")
    sync_api.expect(page.locator("#job-track")).to_contain_text("Page Song")
    seen = " | ".join(page.evaluate("() => window.seen"))
    assert "Separating" in seen and "left" in seen and "running now" in seen, seen

    # One waveform per stem, drawn from the decoded audio.
    sync_api.expect(page.locator(".stem canvas[data-drawn=true]")).to_have_count(4)
    names = page.locator(".stem").evaluate_all("rows => rows.map(r => r.dataset.stem)")
    assert names == STEMS
    assert gains(page) == dict.fromkeys(STEMS, 1.0)

    # Solo one stem: only its gain stays up; solo off again: all up.
    page.get_by_role("button", name="Solo vocals").click()
    sync_api.expect(page.get_by_role("button", name="Solo vocals")).to_have_attribute(
        "aria-pressed", "true")
    assert gains(page) == {"drums": 0.0, "bass": 0.0, "other": 0.0, "vocals": 1.0}
    page.get_by_role("button", name="Mute drums").click()
    page.get_by_role("button", name="Solo vocals").click()
    assert gains(page) == {"drums": 0.0, "bass": 1.0, "other": 1.0, "vocals": 1.0}
    page.get_by_label("bass volume").fill("0.5")
    assert gains(page)["bass"] == 0.5

    # Play all stems together from one clock; the shared play head moves; seek by click.
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => window.stemcastMixer.position() > 0.3")
    started = page.evaluate("() => Object.keys(window.stemcastMixer.sources).length")
    assert started == 4
    page.get_by_role("button", name="Pause").click()
    wave_box = page.locator(".stem[data-stem=bass] .wave").bounding_box()
    assert wave_box is not None
    page.mouse.click(wave_box["x"] + wave_box["width"] * 0.75,
                     wave_box["y"] + wave_box["height"] / 2)
    position = page.evaluate("() => window.stemcastMixer.position()")
    assert abs(position - 3.0) < 0.15
    heads = page.locator(".playhead").evaluate_all("hs => hs.map(h => h.style.left)")
    assert len(set(heads)) == 1 and heads[0] != ""

    # Download one stem from its link: a valid 16-bit WAV of the clip's length.
    with page.expect_download() as info:
        page.get_by_role("link", name="Download bass as WAV").click()
    download = info.value
    assert download.suggested_filename == "Page Song (bass).wav"
    data = Path(download.path()).read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    with wave.open(io.BytesIO(data)) as reader:
        assert reader.getframerate() == 44100 and reader.getnchannels() == 2
        assert reader.getsampwidth() == 2 and reader.getnframes() == 4 * 44100
    samples, rate = sf.read(io.BytesIO(data))
    assert rate == 44100 and samples.shape == (4 * 44100, 2)
    # What played is what the server wrote: the streamed chunks, sample for sample.
    step = 37
    played = page.evaluate(f"""() => window.stemcastMixer.stems.bass.channels
        .map(c => Array.from(c.filter((_, i) => i % {step} === 0)))""")
    assert len(played) == 2
    for channel, values in enumerate(played):
        assert values == samples[::step, channel].tolist(), f"channel {channel} differs"

    # The zip of all stems.
    href = page.locator("#zip").get_attribute("href")
    assert href
    response = httpx.get(server.http_url + href, timeout=30)
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == sorted(f"{s}.wav" for s in STEMS)

    # Tempo, key and Camelot code once the server's background analysis is done: on the
    # job card, the player and in the library, as the server has them.
    bpm = page.locator("#job-track .bpm")
    sync_api.expect(bpm).to_have_text(re.compile(r"^\d+ BPM$"), timeout=90_000)
    track_id = page.evaluate("() => window.stemcastMixer.trackId")
    analysis = httpx.get(f"{server.http_url}/api/tracks/{track_id}/analysis", timeout=10).json()
    assert analysis["state"] == "done", analysis
    sync_api.expect(bpm).to_have_text(f"{round(analysis['bpm'])} BPM")
    sync_api.expect(page.locator("#job-track .key")).to_have_text(analysis["keyName"])
    sync_api.expect(page.locator("#job-track .camelot")).to_have_text(analysis["camelot"])
    assert re.fullmatch(r"(1[0-2]|[1-9])[AB]", analysis["camelot"]), analysis
    sync_api.expect(page.locator("#player-track .camelot")).to_have_text(analysis["camelot"])
    row = page.locator(f"#library tr[data-track-id='{track_id}']")
    sync_api.expect(row.locator(".bpm")).to_have_text(str(round(analysis["bpm"])))
    sync_api.expect(row.locator(".key")).to_contain_text(analysis["keyName"])
    sync_api.expect(row.locator(".camelot")).to_have_text(analysis["camelot"])

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-page.png"), full_page=True)


def test_model_and_variant_choices(page: Any, server: ServerProcess) -> None:
    page.goto(server.http_url + "/")
    sync_api.expect(page.locator("#conn")).to_have_text("Connected")
    # Every model on offer, the server's default chosen; the weightless dsp always there.
    sync_api.expect(page.locator("#model-select option")).to_have_count(2)
    assert option_values(page, "#model-select") == [TINY_MODEL, "dsp"]
    sync_api.expect(page.locator("#model-select")).to_have_value(TINY_MODEL)
    sync_api.expect(page.locator("#model-select option[value=dsp]")).to_contain_text("DSP")
    # The top line says which engine runs and why, in the server's words.
    choice = server.health()["model"]["choice"]
    assert choice
    sync_api.expect(page.locator("#model-line")).to_contain_text(f"model {TINY_MODEL}")
    sync_api.expect(page.locator("#model-line")).to_contain_text(choice)
    # Four-stem models: no 6stems; 4 stems first.
    assert option_values(page, "#variant-select") == ["4stems", "2stems", "2stems-drums"]
    sync_api.expect(page.locator("#variant-select")).to_have_value("4stems")
    page.locator("#variant-select").select_option("2stems-drums")
    page.locator("#model-select").select_option("dsp")
    assert option_values(page, "#variant-select") == ["4stems", "2stems", "2stems-drums"]
    sync_api.expect(page.locator("#variant-select")).to_have_value("2stems-drums")
    # Download formats the server renders.
    assert option_values(page, "#format-select") == ["wav16", "wav24", "wav32", "flac", "mp3"]


def test_library_lists_the_track_and_opens_it_again(page: Any, server: ServerProcess,
                                                    clip: Path) -> None:
    page.goto(server.http_url + "/")
    row = page.locator("#library tr", has_text="Page Song")
    sync_api.expect(row.first).to_be_visible()
    track_id = row.first.get_attribute("data-track-id")
    stems = httpx.get(f"{server.http_url}/api/tracks/{track_id}/stems", timeout=10).json()
    assert sorted(stems["stems"]) == sorted(STEMS)

    row.first.get_by_role("button", name=re.compile("^Open")).click()
    sync_api.expect(page.locator(".stem canvas[data-drawn=true]")).to_have_count(4)
    # Opened from disk: the same separation job, no new one.
    assert page.evaluate("() => window.stemcastMixer.jobId") == stems["jobId"]
    sync_api.expect(page.locator("#job")).to_have_attribute("data-stage", "complete")


def test_every_stem_plays_in_step_with_the_play_head(page: Any, server: ServerProcess,
                                                     tmp_path: Path) -> None:
    """What is played, not what is stored: the page's graph rendered offline."""
    # Loud broadband noise in the clip: every stem is then unlike itself at any other
    # offset (a stem of steady tones would match itself a period later).
    samples = make_music_like_signal(4.0, seed=8)
    samples += np.random.default_rng(8).uniform(-0.4, 0.4, samples.shape).astype(np.float32)
    clip = write_audio(tmp_path / "Sync Song.wav", samples * 0.5, 44100)
    # Separated through the job API, then opened from the library.
    with clip.open("rb") as handle:
        job = httpx.post(f"{server.http_url}/jobs", timeout=60, data={
            "stem_delivery_mode": "poll"}, files={"file": (clip.name, handle, "audio/wav")})
    assert job.status_code == 200, job.text
    deadline = time.monotonic() + 180
    while httpx.get(f"{server.http_url}/jobs/{job.json()['job_id']}",
                    timeout=10).json()["status"] != "completed":
        assert time.monotonic() < deadline, "the clip was not separated within 180 s"
        time.sleep(0.2)
    page.goto(server.http_url + "/")
    row = page.locator("#library tr", has_text="Sync Song")
    sync_api.expect(row.first).to_be_visible()
    stems = mono_stems(server, str(row.first.get_attribute("data-track-id")))
    row.first.get_by_role("button", name=re.compile("^Open")).click()
    sync_api.expect(page.locator(".stem canvas[data-drawn=true]")).to_have_count(4)
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => window.stemcastMixer.position() > 0.3")
    assert_played_in_step(page, stems)
    # Paused (unless it has played to the end meanwhile), moved by a click on a waveform,
    # played again: new sources start mid-stem.
    if page.evaluate("() => window.stemcastMixer.playing"):
        page.get_by_role("button", name="Pause").click()
    wave_box = page.locator(".stem[data-stem=drums] .wave").bounding_box()
    assert wave_box is not None
    page.mouse.click(wave_box["x"] + wave_box["width"] * 0.5,
                     wave_box["y"] + wave_box["height"] / 2)
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => window.stemcastMixer.position() > 2.1")
    assert_played_in_step(page, stems)


def test_a_file_that_is_not_audio_is_refused_in_words(page: Any, server: ServerProcess,
                                                      clip: Path) -> None:
    page.goto(server.http_url + "/")
    # Dropped on the drop zone, as a person drags a file from their desktop.
    page.evaluate("""() => {
        const data = new DataTransfer();
        data.items.add(new File(["this is not audio"], "notes.wav", {type: "audio/wav"}));
        document.getElementById("drop").dispatchEvent(
            new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
    }""")
    sync_api.expect(page.locator("#file-name")).to_contain_text("notes.wav")
    page.get_by_role("button", name="Separate").click()
    error = page.locator("#errors .error[data-code=NOT_AUDIO]")
    sync_api.expect(error).to_be_visible()
    sync_api.expect(error).to_contain_text("not audio")
    sync_api.expect(page.locator("#job")).to_have_attribute("data-stage", "failed")


def test_a_pasted_url_is_fetched_by_the_server(page: Any, server: ServerProcess,
                                               clip: Path) -> None:
    page.goto(server.http_url + "/")
    # The server itself serves a WAV on loopback: its own stem of the first test.
    track = httpx.get(f"{server.http_url}/api/tracks", timeout=10).json()["tracks"]
    finished = next(t for t in track if t["title"] == "Page Song")
    stems = httpx.get(f"{server.http_url}/api/tracks/{finished['trackId']}/stems",
                      timeout=10).json()
    page.get_by_label("direct link").fill(server.http_url + stems["stems"]["drums"])
    page.get_by_role("button", name="Separate").click()
    sync_api.expect(page.locator("#job")).to_have_attribute("data-stage", "complete",
                                                            timeout=120_000)
    sync_api.expect(page.locator(".stem canvas[data-drawn=true]")).to_have_count(4)
    titles = page.locator("#library td.title").all_inner_texts()
    assert "drums" in titles


def test_two_stem_variant_streams_vocals_and_accompaniment(page: Any, server: ServerProcess,
                                                           clip: Path) -> None:
    page.goto(server.http_url + "/")
    sync_api.expect(page.locator("#conn")).to_have_text("Connected")
    page.set_input_files("#file-input", str(clip))
    page.locator("#variant-select").select_option("2stems")
    page.get_by_role("button", name="Separate").click()
    sync_api.expect(page.locator("#job")).to_have_attribute("data-stage", "complete",
                                                            timeout=120_000)
    sync_api.expect(page.locator(".stem canvas[data-drawn=true]")).to_have_count(2)
    names = page.locator(".stem").evaluate_all("rows => rows.map(r => r.dataset.stem)")
    assert names == ["vocals", "accompaniment"]
    # Separated before (same audio, same model): streamed again from the server's disk.
    seen = stats(page)
    assert seen["chunksBeforeReady"] >= 2 and seen["fetchedStems"] == 0, seen
    assert gains(page) == {"vocals": 1.0, "accompaniment": 1.0}
    page.get_by_role("button", name="Solo accompaniment").click()
    assert gains(page) == {"vocals": 0.0, "accompaniment": 1.0}
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => window.stemcastMixer.position() > 0.2")
    page.get_by_role("button", name="Pause").click()

    # Downloads in that variant: one stem, and the zip of both.
    link = page.get_by_role("link", name="Download accompaniment as WAV")
    href = link.get_attribute("href")
    assert href and "variant=2stems" in href, href
    response = httpx.get(server.http_url + href, timeout=30)
    assert response.status_code == 200 and response.content[:4] == b"RIFF"
    samples, rate = sf.read(io.BytesIO(response.content))
    assert rate == 44100 and samples.shape == (4 * 44100, 2)
    zip_href = page.locator("#zip").get_attribute("href")
    assert zip_href and "variant=2stems" in zip_href, zip_href
    response = httpx.get(server.http_url + zip_href, timeout=30)
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == ["accompaniment.wav", "vocals.wav"]


def test_without_msgpack_the_page_speaks_json_and_fetches_the_stems(
        page: Any, server: ServerProcess, clip: Path) -> None:
    # As a browser would be if the vendored msgpack could not load: JSON frames, no
    # streaming, the finished stems fetched as WAV files (in the variant asked for).
    page.route("**/vendor/msgpack/**", lambda route: route.abort())
    page.goto(server.http_url + "/")
    sync_api.expect(page.locator("#conn")).to_have_text("Connected")
    assert stats(page)["transport"] == "json"
    page.set_input_files("#file-input", str(clip))
    page.locator("#variant-select").select_option("2stems-drums")
    page.get_by_role("button", name="Separate").click()
    sync_api.expect(page.locator("#job")).to_have_attribute("data-stage", "complete",
                                                            timeout=120_000)
    sync_api.expect(page.locator(".stem canvas[data-drawn=true]")).to_have_count(2)
    names = page.locator(".stem").evaluate_all("rows => rows.map(r => r.dataset.stem)")
    assert names == ["drums", "nodrums"]
    seen = stats(page)
    assert seen["chunks"] == 0 and seen["fetchedStems"] == 2, seen
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => window.stemcastMixer.position() > 0.2")
    assert page.evaluate("() => window.stemcastMixer.origin") == "fetch"


def test_download_format_mp3(page: Any, server: ServerProcess, clip: Path) -> None:
    page.goto(server.http_url + "/")
    row = page.locator("#library tr", has_text="Page Song")
    row.first.get_by_role("button", name=re.compile("^Open")).click()
    sync_api.expect(page.locator(".stem canvas[data-drawn=true]")).to_have_count(4)
    page.get_by_label("Download as").select_option("mp3")
    link = page.get_by_role("link", name="Download bass as MP3")
    sync_api.expect(link).to_have_attribute("href", re.compile(r"format=mp3"))
    with page.expect_download() as info:
        link.click()
    download = info.value
    # Saved from the link's href (format=mp3, above) through a blob, under the page's name.
    assert download.suggested_filename == "Page Song (bass).mp3"
    data = Path(download.path()).read_bytes()
    assert data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0), data[:8]
    zip_href = page.locator("#zip").get_attribute("href")
    assert zip_href and "format=mp3" in zip_href, zip_href
    response = httpx.get(server.http_url + zip_href, timeout=60)
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == sorted(f"{s}.mp3" for s in STEMS)
    # The choice is remembered for the next visit.
    page.reload()
    sync_api.expect(page.get_by_label("Download as")).to_have_value("mp3")


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server with a token and no model weights at all."""
    root = tmp_path_factory.mktemp("token-server")
    (root / "empty-repo").mkdir()
    proc = ServerProcess(
        root / "data", args=["--model", "htdemucs", "--model-repo", str(root / "empty-repo"),
                             "--token", TOKEN, "--model-fetch-timeout", "0"],
    ).start()
    yield proc
    proc.stop()


def test_token_from_the_url_and_a_server_without_weights(page: Any, token_server: ServerProcess,
                                                         clip: Path) -> None:
    page.goto(token_server.http_url + "/")
    # Without the token: said in words, and the token field opens.
    error = page.locator("#errors .error[data-code=UNAUTHORIZED]")
    sync_api.expect(error).to_be_visible()
    sync_api.expect(page.locator("#token-input")).to_be_visible()

    page.goto(f"{token_server.http_url}/?token={TOKEN}")
    sync_api.expect(page.locator("#conn")).to_have_text("Connected")
    assert "token=" not in page.url  # taken into localStorage, not left in the address
    assert page.evaluate("() => localStorage.getItem('stemcast.token')") == TOKEN
    model_error = page.locator("#errors .error[data-code=MODEL_UNAVAILABLE]")
    sync_api.expect(model_error).to_be_visible()
    sync_api.expect(model_error).to_contain_text("no model weights")
    # The configured model stays the choice (and fails below); dsp is offered beside it.
    sync_api.expect(page.locator("#model-select")).to_have_value("htdemucs")
    sync_api.expect(page.locator("#model-select option[value=dsp]")).to_have_count(1)

    page.set_input_files("#file-input", str(clip))
    page.get_by_role("button", name="Separate").click()
    sync_api.expect(page.locator("#job")).to_have_attribute("data-stage", "failed")
    sync_api.expect(page.locator("#library tr", has_text="Page Song")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-page-errors.png"), full_page=True)

    # A lost connection is said in words, and the page reconnects by itself.
    token_server.stop()
    sync_api.expect(page.locator("#conn")).to_contain_text("Disconnected")
    sync_api.expect(page.locator("#errors .error[data-code=CONNECTION]")).to_be_visible()
    token_server.start(wait_model=False)
    sync_api.expect(page.locator("#conn")).to_have_text("Connected", timeout=30_000)
    sync_api.expect(page.locator("#errors .error[data-code=CONNECTION]")).to_have_count(0)
