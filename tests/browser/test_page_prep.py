"""The page as a DJ's prep tool, in a real headless Chromium against a real `stemcast serve`
(issue 18's page-only items): beat grid and time axis from the track's analysis, zoom, an
A-B loop snapped to beats that plays the right samples, keyboard shortcuts, gain readouts,
download names, cache hits, Cancel, the phone layout, and accessibility fixes.

Same set-up as test_page.py (Debian's chromium driven by Playwright); screenshots at
1440x900 and 390x844 go to test-artifacts/. No width scrolls sideways or lets the side
column's cards spill (`assert_fits`): phones and laptops with the library empty (the first
test, on the module's fresh server), a laptop with a long title in it, phones with a track
loaded.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import numpy as np
import pytest

from tests.conftest import TINY_MODEL
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.browser import (
    ARTIFACTS,
    CHROMIUM,
    assert_fits,
    chromium_path,
    open_page,
    separate_on_page,
    wait_until,
)
from tests.support.server import ServerProcess

STEMS = ["drums", "bass", "other", "vocals"]
TITLE = "Prep Song"
# An artist and title as long as DJ libraries have them: one unbroken line of it is wider
# than the side column.
LONG_TITLE = ("The Extremely Long Artist Name Collective feat. Somebody Else - "
              "A Really Quite Long Track Title (Extended Club Mix, 2026 Remaster)")

if chromium_path() is None:
    pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's 'chromium' package "
                "(.ci/run does) to run the browser tests", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="the Python 'playwright' package is missing: pip install -e '.[test]'")
expect = sync_api.expect

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Noise bursts every 0.5 s over steady partials: 120 BPM for the beat tracker, and
    # every half second unlike every other (the loop test finds where audio came from).
    path = tmp_path_factory.mktemp("prep-audio") / f"{TITLE}.wav"
    write_audio(path, make_music_like_signal(12.0, seed=11), 44100)
    return path


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prep-long") / "Long Song.wav"
    write_audio(path, make_music_like_signal(30.0, seed=12), 44100)
    return path


@pytest.fixture(scope="module")
def long_title_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prep-long-title") / f"{LONG_TITLE}.wav"
    write_audio(path, make_music_like_signal(2.0, seed=13), 44100)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model_repo: Path) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("prep-server") / "data"
    proc = ServerProcess(
        data_dir, args=["--model", TINY_MODEL, "--model-repo", str(tiny_model_repo)],
    ).start(timeout=240)  # a busy shared machine can take over a minute to load the model
    assert proc.health()["model"]["state"] == "ready", proc.log()
    yield proc
    proc.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context, page, messages = open_page(browser, 1440, 900)
    yield page
    context.close()
    assert not messages, messages


def separate(page: Any, clip: Path) -> None:
    separate_on_page(page, clip, TINY_MODEL)


def upload(server: ServerProcess, path: Path, name: str) -> None:
    """POST `path` to /api/tracks as a file called `name` (its title comes from it)."""
    with open(path, "rb") as handle:
        response = httpx.post(f"{server.http_url}/api/tracks", timeout=30,
                              files={"file": (name, handle, "audio/wav")})
    assert response.status_code in (200, 201), response.text


def analysis_of(server: ServerProcess, track_id: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(
        f"{server.http_url}/api/tracks/{track_id}/analysis?wait=1", timeout=70).json()
    assert result["state"] == "done", result
    return result


def position(page: Any) -> float:
    return float(page.evaluate("() => window.stemcastMixer.position()"))


def gains(page: Any) -> dict[str, float]:
    result: dict[str, float] = page.evaluate(
        "() => Object.fromEntries(Object.entries(window.stemcastMixer.gains)"
        ".map(([name, node]) => [name, node.gain.value]))")
    return result


def test_no_sideways_scroll_with_an_empty_library(browser: Any, server: ServerProcess) -> None:
    # First in the module: its server's library is still empty (the other tests fill it).
    tracks = httpx.get(f"{server.http_url}/api/tracks", timeout=10).json()["tracks"]
    assert tracks == [], "this test runs first in its module, on an empty library"
    for width, height in [(360, 740), (390, 844), (430, 932), (800, 1000), (1440, 900)]:
        context, page, messages = open_page(browser, width, height)
        try:
            page.goto(server.http_url + "/")
            expect(page.locator("#conn")).to_have_text("Connected")
            expect(page.locator("#model-select")).to_contain_text(TINY_MODEL)
            expect(page.locator("#library-empty")).to_have_text("No tracks yet.")
            expect(page.locator("#workers [data-fact=model]").first).to_have_text(TINY_MODEL)
            assert_fits(page, f"{width}x{height}, empty library")
            # A select is as wide as its longest option, and the options depend on the
            # server: this tiny model's fit a 360 px form, the dsp engine's or a 6-stem
            # model's labels do not (the form's stacked row once took their width: 1 px of
            # sideways scroll at 390). Such labels, as models.js writes them:
            page.evaluate("""() => {
                document.getElementById('model-select').append(new Option(
                    'htdemucs_6s (Demucs, 6 stems, cuda) · default · loading', 'long'));
                document.getElementById('variant-select').append(new Option(
                    '6 stems: drums, bass, other, vocals, guitar, piano', 'long'));
            }""")
            assert_fits(page, f"{width}x{height}, empty library, long model labels")
            if width == 390:
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "web-page-390x844-empty.png"),
                                full_page=True)
        finally:
            context.close()
        assert not messages, messages


def test_a_finished_separation_as_a_prep_tool(page: Any, server: ServerProcess,
                                               clip: Path, long_title_clip: Path) -> None:
    page.goto(server.http_url + "/")
    separate(page, clip)

    # Separate is not offered again for the same song and settings; a change offers it.
    start = page.get_by_role("button", name="Separate")
    expect(start).to_be_disabled()
    page.locator("#variant-select").select_option("2stems")
    expect(start).to_be_enabled()
    page.locator("#variant-select").select_option("4stems")
    expect(start).to_be_disabled()  # back to what was sent

    # Labels in sentence case, as written (no CSS capitalising them).
    expect(page.locator("#job-stage")).to_have_text("Complete")
    assert page.locator("#job-stage").inner_text() == "Complete"
    names = page.locator(".stem .stem-name").all_inner_texts()
    assert names == ["Drums", "Bass", "Other", "Vocals"], names

    # A stem downloads under the track's name, not a bare "bass.wav".
    link = page.get_by_role("link", name="Download bass as WAV")
    expect(link).to_have_attribute("download", f"{TITLE} (bass).wav")
    with page.expect_download() as info:
        link.click()
    assert info.value.suggested_filename == f"{TITLE} (bass).wav"
    assert Path(info.value.path()).read_bytes()[:4] == b"RIFF"

    # The beat and bar grid drawn from the server's analysis of this track.
    track_id = page.evaluate("() => window.stemcastMixer.trackId")
    analysis = analysis_of(server, track_id)
    beats = [t for t in analysis["beats"] or [] if 0 <= t <= 12.0]
    downbeats = [t for t in analysis["downbeats"] or [] if 0 <= t <= 12.0]
    assert len(beats) >= 8, analysis["beats"]
    canvas = page.locator(".stem[data-stem=drums] canvas")
    expect(canvas).to_have_attribute("data-beats", str(len(beats)), timeout=30_000)
    expect(canvas).to_have_attribute("data-bars", str(len(downbeats)))
    grid = page.evaluate("() => window.stemcastTimeline.grid")
    assert grid["beats"] == analysis["beats"] and grid["downbeats"] == analysis["downbeats"]
    # A time axis over the whole track.
    labels = page.locator("#axis").get_attribute("data-labels") or ""
    assert labels.split(",")[0] == "0:00" and "0:10" in labels.split(","), labels

    # Zoom in twice around the play head (at 0): a quarter of the track in view, the axis
    # finer, and a click lands where it points inside the view.
    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Zoom in").click()
    expect(page.locator("#zoom-level")).to_have_text("4.0×")
    view = page.evaluate("() => ({...window.stemcastTimeline.view})")
    assert view == {"from": 0, "to": 0.25}, view
    expect(page.get_by_label("Scroll the waveforms")).to_be_visible()
    zoomed = (page.locator("#axis").get_attribute("data-labels") or "").split(",")
    seconds = [int(m) * 60 + float(s) for m, s in (label.split(":") for label in zoomed)]
    assert seconds[0] == 0 and 2.5 <= seconds[-1] <= 3.0, zoomed
    whole = [int(m) * 60 + float(s) for m, s in (label.split(":") for label in labels.split(","))]
    assert seconds[1] - seconds[0] < whole[1] - whole[0], (zoomed, labels)
    # Fewer beats in view, each drawn.
    in_view = [t for t in beats if t <= 3.0]
    expect(canvas).to_have_attribute("data-beats", str(len(in_view)))
    page.locator(".stem[data-stem=bass] .wave").scroll_into_view_if_needed()
    box = page.locator(".stem[data-stem=bass] .wave").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    assert abs(position(page) - 1.5) < 0.05, position(page)
    page.get_by_label("Scroll the waveforms").fill("0.5")
    view = page.evaluate("() => ({...window.stemcastTimeline.view})")
    assert view["from"] == 0.5 and view["to"] == 0.75, view
    page.get_by_role("button", name="Whole track").click()
    expect(page.locator("#zoom-level")).to_have_text("1.0×")

    # Gains in dB, with a unity mark (a tick at 0 dB) and double-click back to unity.
    volume = page.get_by_label("bass volume")
    readout = page.locator(".stem[data-stem=bass] .db")
    expect(readout).to_have_text("0.0 dB")
    assert volume.get_attribute("list") == "unity"
    assert page.locator("#unity option").get_attribute("value") == "1"
    volume.fill("0.5")
    expect(readout).to_have_text("−6.0 dB")
    assert volume.get_attribute("aria-valuetext") == "−6.0 dB"
    assert gains(page)["bass"] == 0.5
    volume.fill("0")
    expect(readout).to_have_text("−∞ dB")
    volume.dblclick()
    expect(readout).to_have_text("0.0 dB")
    assert gains(page)["bass"] == 1.0

    # The position slider's keys move in useful steps (5 s; Page Up 30 s; Home, End).
    seek = page.get_by_label("Position")
    seek.focus()
    page.keyboard.press("Home")
    assert position(page) == 0
    page.keyboard.press("ArrowRight")
    assert abs(position(page) - 5.0) < 1e-6
    page.keyboard.press("ArrowLeft")
    assert position(page) == 0
    page.keyboard.press("PageUp")
    assert abs(position(page) - 12.0) < 1e-3

    # The clock is not a live region (it changes every frame); the slider says the time.
    clock = page.locator("#clock")
    assert clock.evaluate("el => el.tagName") != "OUTPUT"
    assert clock.get_attribute("aria-live") is None and clock.get_attribute("role") is None
    assert clock.get_attribute("aria-hidden") == "true"
    assert re.fullmatch(r"0:12 of 0:12", seek.get_attribute("aria-valuetext") or "")

    # Keyboard shortcuts away from form fields: 1-4 solo, arrows move, Space plays/pauses.
    page.locator("#player-title").click()
    page.keyboard.press("Home")  # the page's, not the slider's: nothing happens
    page.keyboard.press("2")
    expect(page.get_by_role("button", name="Solo bass")).to_have_attribute("aria-pressed", "true")
    assert gains(page) == {"drums": 0.0, "bass": 1.0, "other": 0.0, "vocals": 0.0}
    page.keyboard.press("2")
    assert gains(page) == dict.fromkeys(STEMS, 1.0)
    page.evaluate("() => { window.stemcastMixer.offset = 1; }")
    page.keyboard.press("ArrowRight")
    assert abs(position(page) - 6.0) < 1e-6
    page.keyboard.press("ArrowLeft")
    assert abs(position(page) - 1.0) < 1e-6
    page.keyboard.press(" ")
    page.wait_for_function(
        "() => window.stemcastMixer.playing && window.stemcastMixer.position() > 1.2")
    page.keyboard.press(" ")
    assert page.evaluate("() => window.stemcastMixer.playing") is False

    # A title longer than the side column is wide: the library's table, its card and the
    # Workers card below stay in the 400 px column (the title on two lines, the whole of it
    # in its tooltip).
    upload(server, long_title_clip, long_title_clip.name)
    page.get_by_role("button", name="Refresh").first.click()
    long_row = page.locator("#library tr", has_text=LONG_TITLE)
    expect(long_row).to_have_count(1)
    expect(long_row.locator(".title-text")).to_have_attribute("title", LONG_TITLE)
    assert_fits(page, "1440x900 with a long title in the library")
    side = page.locator(".side").bounding_box()
    assert side and side["width"] == 400, side

    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "web-page-1440x900-library.png"), full_page=False)
    page.locator("#player").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "web-page-1440x900.png"), full_page=False)
    page.screenshot(path=str(ARTIFACTS / "web-page-1440x900-full.png"), full_page=True)


def record_output(page: Any, seconds: float) -> tuple[np.ndarray, int]:
    """What the mixer's master output carries, taken from a ScriptProcessor on it."""
    page.evaluate("""() => {
        const m = window.stemcastMixer;
        const tap = m.context.createScriptProcessor(4096, 2, 2);
        window.recorded = [];
        tap.onaudioprocess = (e) => {
            if (m.playing) window.recorded.push(Array.from(e.inputBuffer.getChannelData(0)));
        };
        m.master.connect(tap);
        tap.connect(m.context.destination);  // runs only when connected; outputs silence
        window.tap = tap;
    }""")
    rate = int(page.evaluate("() => window.stemcastMixer.context.sampleRate"))
    page.get_by_role("button", name="Play").click()
    wait_until(page, lambda: page.evaluate("() => window.recorded.length * 4096")
               >= seconds * rate, "the recording")
    page.get_by_role("button", name="Pause").click()
    chunks = page.evaluate("() => { window.tap.disconnect(); return window.recorded; }")
    return np.concatenate([np.asarray(c, dtype=np.float64) for c in chunks]), rate


def where_from(window: np.ndarray, source: np.ndarray) -> tuple[int, float]:
    """The offset in `source` that `window` matches best, and how well (normalised)."""
    n = len(window)
    size = 1 << int(np.ceil(np.log2(len(source) + n)))
    corr = np.fft.irfft(np.fft.rfft(source, size) * np.conj(np.fft.rfft(window, size)), size)
    corr = corr[: len(source) - n + 1]
    energy = np.sqrt(np.convolve(source ** 2, np.ones(n), "valid")) * np.linalg.norm(window)
    score = corr / np.maximum(energy, 1e-12)
    best = int(np.argmax(score))
    return best, float(score[best])


def test_an_a_b_loop_snapped_to_beats_plays_the_right_samples(
        page: Any, server: ServerProcess, clip: Path) -> None:
    page.goto(server.http_url + "/")
    row = page.locator("#library tr", has_text=TITLE).first
    row.get_by_role("button", name=re.compile("^Open")).click()
    expect(page.locator(".stem canvas[data-drawn=true]")).to_have_count(4)
    track_id = page.evaluate("() => window.stemcastMixer.trackId")
    analysis = analysis_of(server, track_id)
    beats = analysis["beats"]
    page.wait_for_function("() => window.stemcastTimeline.grid.beats.length > 0")

    # Loop start and end at the play head, snapped to the nearest beat.
    a, b = beats[4], beats[6]
    page.evaluate(f"() => {{ window.stemcastMixer.offset = {a + 0.04}; }}")
    page.get_by_role("button", name="Loop start").click()
    page.evaluate(f"() => {{ window.stemcastMixer.offset = {b - 0.04}; }}")
    page.get_by_role("button", name="Loop end").click()
    loop = page.evaluate("() => ({...window.stemcastMixer.loop})")
    assert loop == {"a": a, "b": b, "on": True}, (loop, beats)
    expect(page.get_by_role("button", name="Loop", exact=True)).to_have_attribute(
        "aria-pressed", "true")
    expect(page.locator("#loop-state")).to_contain_text("2 beats")

    # Solo one stem and play from A: what comes out is that stem between A and B, over and
    # over, never what follows B.
    page.get_by_role("button", name="Solo other").click()
    page.evaluate(f"() => {{ window.stemcastMixer.offset = {a}; }}")
    length = b - a
    recorded, rate = record_output(page, 3 * length + 0.5)
    sr = 44100
    lo = max(0.0, a - 1.0)
    hi = min(12.0, b + 1.0)
    source = np.asarray(page.evaluate(
        f"() => Array.from(window.stemcastMixer.stems.other.channels[0]"
        f".subarray({round(lo * sr)}, {round(hi * sr)}))"), dtype=np.float64)
    if rate != sr:  # the context's own rate: bring the recording to the stem's
        times = np.arange(round(len(recorded) * sr / rate)) / sr
        recorded = np.interp(times, np.arange(len(recorded)) / rate, recorded)
    start = int(np.argmax(np.abs(recorded) > 1e-4))  # the first sound after pressing Play
    recorded = recorded[start:]
    assert len(recorded) >= 2.5 * length * sr, len(recorded) / sr
    found = []
    step, size = 2048, 1024
    for at in range(0, len(recorded) - size, step):
        window = recorded[at:at + size]
        if np.linalg.norm(window) < 1e-3:
            continue
        offset, score = where_from(window, source)
        found.append((at / sr, lo + offset / sr, score))
    assert len(found) > 20, found
    # Windows that straddle the loop's seam match nothing whole; all others match exactly
    # (up to resampling where the browser's audio runs at another rate).
    threshold = 0.99 if rate == sr else 0.8
    good = [(s, t) for s, t, score in found if score > threshold]
    assert len(good) >= 0.8 * len(found), found
    # Every window came from inside the loop (within a window's length of its ends) ...
    assert all(a - 0.03 <= t <= b + 0.03 for _, t in good), good
    # ... and the audio jumped back from B to A at least twice, by the loop's length.
    jumps = [(s1, t1, s2, t2) for (s1, t1), (s2, t2) in itertools.pairwise(good)
             if t2 < t1 - 0.1]
    assert len(jumps) >= 2, good
    for s1, t1, s2, t2 in jumps:
        assert abs((s2 - s1) - (t2 - t1) - length) < 0.03, (s1, t1, s2, t2, length)

    # "Loop 4 bars" from the bar nearest the play head, on the analysis's bar lines.
    downbeats = analysis["downbeats"] or []
    page.evaluate("() => { window.stemcastMixer.offset = 0.1; }")
    page.get_by_role("button", name="Loop 4 bars").click()
    loop = page.evaluate("() => ({...window.stemcastMixer.loop})")
    if len(downbeats) >= 2:
        first = min(downbeats, key=lambda t: abs(t - 0.1))
        index = downbeats.index(first)
        spacing = downbeats[-1] - downbeats[-2]
        end = downbeats[index + 4] if index + 4 < len(downbeats) \
            else downbeats[-1] + (index + 4 - len(downbeats) + 1) * spacing
        assert loop["a"] == first and abs(loop["b"] - min(end, 12.0)) < 1e-6, (loop, downbeats)
    else:
        assert loop["a"] in beats and loop["on"], (loop, beats)
    page.get_by_role("button", name="Clear loop").click()
    assert page.evaluate("() => window.stemcastMixer.loop.a") is None


def test_phone_layout(browser: Any, server: ServerProcess, clip: Path) -> None:
    for width, height in [(390, 844), (360, 740), (430, 932)]:
        context, page, messages = open_page(browser, width, height)
        try:
            page.goto(server.http_url + "/")
            expect(page.locator("#conn")).to_have_text("Connected")
            page.locator("#library tr", has_text=TITLE).first \
                .get_by_role("button", name=re.compile("^Open")).click()
            expect(page.locator(".stem canvas[data-drawn=true]")).to_have_count(4)
            # The Workers card lists the local worker processes (no heartbeat: a pid).
            worker = page.locator("#workers li").first
            expect(worker.locator("[data-fact=device]")).to_have_text("cpu")
            expect(worker.locator("[data-fact=model]")).to_have_text(TINY_MODEL)
            expect(worker.locator("[data-fact=pid]")).to_have_text(re.compile(r"^\d+$"))
            box = worker.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
            # No sideways scrolling.
            sizes = page.evaluate("""() => ({scroll: document.documentElement.scrollWidth,
                                             client: document.documentElement.clientWidth})""")
            assert sizes["scroll"] <= sizes["client"] == width, (width, sizes)
            assert_fits(page, f"{width}x{height} with a track loaded")
            # Stems stacked: each waveform as wide as its row, below the controls.
            for name in STEMS:
                wave = page.locator(f".stem[data-stem={name}] .wave").bounding_box()
                row = page.locator(f".stem[data-stem={name}]").bounding_box()
                controls = page.locator(f".stem[data-stem={name}] .stem-controls").bounding_box()
                assert wave and row and controls
                assert wave["width"] >= row["width"] - 24, (width, name, wave, row)
                assert wave["y"] >= controls["y"] + controls["height"] - 1, (width, name)
            # The clock in full view.
            clock = page.locator("#clock")
            expect(clock).to_be_visible()
            box = clock.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
            assert clock.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
            # The header's model line on one line, not nine.
            lines = page.locator("#model-line").evaluate(
                "el => el.getBoundingClientRect().height"
                " / parseFloat(getComputedStyle(el).lineHeight)")
            assert lines <= 1.05, (width, lines)
            topbar = page.locator(".topbar").bounding_box()
            assert topbar and topbar["height"] < 140, (width, topbar)
            if width == 390:
                ARTIFACTS.mkdir(exist_ok=True)
                page.locator("#player").scroll_into_view_if_needed()
                page.screenshot(path=str(ARTIFACTS / "web-page-390x844.png"), full_page=False)
                page.screenshot(path=str(ARTIFACTS / "web-page-390x844-full.png"), full_page=True)
        finally:
            context.close()
        assert not messages, messages


def test_accessibility_names(page: Any, server: ServerProcess, clip: Path) -> None:
    page.goto(server.http_url + "/")
    expect(page.locator("#conn")).to_have_text("Connected")
    # The drop zone is one control in the accessibility tree, not a button and a file input.
    tree = page.locator("#start-form").aria_snapshot()
    assert tree.count("Drop an audio file here") == 1, tree
    expect(page.get_by_role("button", name=re.compile("Drop an audio file"))).to_have_count(1)
    # The same song uploaded again is the same track (one row); a copy of it under another
    # file name is another row of that title: their buttons still have distinct names.
    copy = clip.with_name(f"copy of {clip.name}")
    copy.write_bytes(clip.read_bytes() + b"\0\0")  # other bytes, same title and audio
    for path in (clip, copy):
        upload(server, path, clip.name)
    page.get_by_role("button", name="Refresh").first.click()
    rows = page.locator("#library tr", has_text=TITLE)
    wait_until(page, lambda: rows.count() >= 1, "the library rows of the title")
    names = page.locator("#library button").evaluate_all(
        "buttons => buttons.map(b => b.getAttribute('aria-label'))")
    assert len(names) == len(set(names)), names


class HoldChunks:
    """Passes the page's WebSocket through, holding back stemsReady and every stemChunk
    that starts after `after_seconds`: the page is seen mid-stream."""

    def __init__(self, after_seconds: float) -> None:
        self.after = after_seconds
        self.holding = True
        self.held: list[bytes] = []
        self.route: Any = None

    def __call__(self, route: Any) -> None:
        self.route = route
        server = route.connect_to_server()

        def from_server(message: bytes | str) -> None:
            if self.holding and isinstance(message, bytes):
                decoded = msgpack.unpackb(message)
                kind = decoded.get("type")
                late = kind == "stemChunk" and \
                    decoded["startFrame"] / decoded["sampleRate"] >= self.after
                if kind == "stemsReady" or late:
                    self.held.append(message)
                    return
            route.send(message)

        server.on_message(from_server)
        route.on_message(server.send)

    def release(self) -> None:
        self.holding = False
        for message in self.held:
            self.route.send(message)


def test_a_cache_hit_is_shown_as_one_and_unseparated_parts_say_so(
        page: Any, server: ServerProcess, clip: Path) -> None:
    held = HoldChunks(after_seconds=2.0)
    page.route_web_socket(re.compile(r"/ws(\?.*)?$"), held)
    page.goto(server.http_url + "/")
    expect(page.locator("#conn")).to_have_text("Connected")
    page.evaluate("""() => {
        window.seen = [];
        const facts = document.querySelector('.job-facts');
        new MutationObserver(() => window.seen.push(facts.innerText))
            .observe(facts, {subtree: true, childList: true, characterData: true});
    }""")
    page.set_input_files("#file-input", str(clip))
    page.get_by_role("button", name="Separate").click()
    # A new upload of audio the server has separated: its stems are read from disk, not
    # separated again, and the card says so (no "Decoding 0%", no "Separating").
    page.wait_for_function("() => window.stemcastMixer.availableSeconds() >= 1.9")
    wait_until(page, lambda: len(held.held) > 0, "a held chunk")
    # (The same file uploaded again is the same track, known to be cached from the start.)
    expect(page.locator("#job-stage")).to_have_text(
        re.compile("^(Loading the stems|Found in the cache)$"))
    expect(page.locator("#stream-status")).not_to_contain_text("separate")
    # A click on the part not here yet is answered in words; the play head stays.
    page.locator(".stem[data-stem=drums] .wave").scroll_into_view_if_needed()
    box = page.locator(".stem[data-stem=drums] .wave").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    expect(page.locator("#stream-status")).to_contain_text(
        re.compile("Not (separated|loaded) yet"))
    assert position(page) == 0
    held.release()
    expect(page.locator("#job-stage")).to_have_text("Complete (from cache)", timeout=60_000)
    expect(page.locator("#job-title")).to_have_text("From the cache")
    expect(page.locator("#stream-status")).to_have_text("All stems here, from the cache.")
    seen = " | ".join(page.evaluate("() => window.seen"))
    assert "Decoding" not in seen and "Separating" not in seen and " 0%" not in seen, seen


def test_cancel_a_running_separation(page: Any, server: ServerProcess, long_clip: Path) -> None:
    page.goto(server.http_url + "/")
    expect(page.locator("#conn")).to_have_text("Connected")
    page.set_input_files("#file-input", str(long_clip))
    cancel = page.get_by_role("button", name="Cancel")
    expect(cancel).to_be_hidden()
    page.get_by_role("button", name="Separate").click()
    expect(cancel).to_be_visible(timeout=60_000)
    page.wait_for_function("() => window.stemcastStats.chunks > 0", timeout=120_000)
    cancel.click()
    expect(page.locator("#job")).to_have_attribute("data-stage", "cancelled")
    expect(page.locator("#job-stage")).to_have_text("Cancelled")
    expect(cancel).to_be_hidden()
    expect(page.get_by_role("button", name="Separate")).to_be_enabled()
    expect(page.locator("#stream-status")).to_contain_text("no more audio will come")
    # Once the server has nothing left running, the page got no frame after the cancel.
    deadline = time.monotonic() + 600
    while httpx.get(f"{server.http_url}/queue", timeout=10).json()["jobs"]:
        assert time.monotonic() < deadline, "the server's queue never emptied"
        page.wait_for_timeout(250)
    counts = page.evaluate(
        "() => [window.stemcastStats.chunks, window.stemcastStats.chunksAtCancel]")
    assert counts[0] == counts[1], counts


def test_drum_midi_download(page: Any, server: ServerProcess, clip: Path) -> None:
    page.goto(server.http_url + "/")
    expect(page.locator("#conn")).to_have_text("Connected")
    page.set_input_files("#file-input", str(clip))
    page.get_by_label("Drum MIDI too").check()
    page.get_by_role("button", name="Separate").click()
    expect(page.locator("#job")).to_have_attribute("data-stage", "complete", timeout=120_000)
    midi = page.get_by_role("link", name="Drum MIDI")
    expect(midi).to_be_visible(timeout=120_000)
    expect(midi).to_have_attribute("download", f"{TITLE} (drums).mid")
    with page.expect_download() as info:
        midi.click()
    assert info.value.suggested_filename == f"{TITLE} (drums).mid"
    assert Path(info.value.path()).read_bytes()[:4] == b"MThd"
    # Opened again from the library, the link is there too (the server has the file).
    page.reload()
    expect(page.locator("#conn")).to_have_text("Connected")
    page.locator("#library tr", has_text=TITLE).first \
        .get_by_role("button", name=re.compile("^Open")).click()
    expect(page.locator(".stem canvas[data-drawn=true]")).to_have_count(4)
    expect(page.get_by_role("link", name="Drum MIDI")).to_be_visible()
