"""The page's library and server-kept prep tools in a real headless Chromium against a real
`stemcast serve` (issue 18): one library row per audio after repeated uploads, search,
delete; cue pads saved on the server and restored on the next visit; the exported mix
equal to the server's rendering of the same gains; tempo kept in the rendering's length.
Screenshots at 1440x900 and 390x844 go to test-artifacts/."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf

from tests.conftest import TINY_MODEL
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.browser import (
    ARTIFACTS,
    assert_fits,
    chromium_path,
    open_page,
    separate_on_page,
)
from tests.support.server import ServerProcess, start_tiny_server

if chromium_path() is None:
    pytest.skip("no Chromium: install Debian's 'chromium' package (.ci/run does) to run the "
                "browser tests", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="the Python 'playwright' package is missing: pip install -e '.[test]'")
expect = sync_api.expect

pytestmark = pytest.mark.integration
TITLE = "Library Song"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("library-audio") / f"{TITLE}.wav"
    write_audio(path, make_music_like_signal(8.0, seed=21), 44100)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model_repo: Path) -> Iterator[Any]:
    proc = start_tiny_server(tmp_path_factory.mktemp("library-page") / "data", tiny_model_repo)
    yield proc
    proc.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context, page, errors = open_page(browser, 1440, 900)
    page.on("dialog", lambda dialog: dialog.accept())  # Delete asks first
    yield page
    context.close()
    assert not errors, errors


def upload(server: ServerProcess, path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        reply = httpx.post(f"{server.http_url}/api/tracks", timeout=60,
                           files={"file": (path.name, handle, "audio/wav")})
    result: dict[str, Any] = reply.json()
    return result


def separate(page: Any, clip: Path) -> None:
    separate_on_page(page, clip, TINY_MODEL)


def test_one_row_per_audio_search_and_delete(page: Any, server: ServerProcess,
                                            tmp_path: Path) -> None:
    song = write_audio(tmp_path / "Dedupe Me.wav", make_music_like_signal(2.0, seed=22), 44100)
    ids = {upload(server, song)["trackId"] for _ in range(3)}
    assert len(ids) == 1
    upload(server, write_audio(tmp_path / "Other Tune.wav",
                               make_music_like_signal(2.0, seed=23), 44100))
    page.goto(server.http_url + "/")
    expect(page.locator("#conn")).to_have_text("Connected")
    rows = page.locator("#library tr")
    expect(rows.filter(has_text="Dedupe Me")).to_have_count(1)
    expect(rows.filter(has_text="Dedupe Me").locator("td.title")) \
        .to_have_attribute("data-separations", "Not separated yet")

    page.get_by_label("Search the library").fill("dedupe")
    expect(rows).to_have_count(1)
    page.get_by_label("Search the library").fill("")
    expect(rows).to_have_count(2)
    page.get_by_label("Sort by").select_option("title:asc")
    expect(rows.first).to_contain_text("Dedupe Me")

    page.get_by_role("button", name="Delete Dedupe Me (0:02)").click()
    expect(rows.filter(has_text="Dedupe Me")).to_have_count(0)
    listed = httpx.get(f"{server.http_url}/api/tracks", params={"q": "dedupe"}).json()
    assert listed["tracks"] == []


def test_cues_export_and_tempo(page: Any, server: ServerProcess, clip: Path) -> None:
    page.goto(server.http_url + "/")
    separate(page, clip)
    track_id = page.evaluate("() => window.stemcastMixer.trackId")
    job_id = page.evaluate("() => window.stemcastMixer.jobId")
    row = page.locator(f"#library tr[data-track-id='{track_id}']")
    expect(row.locator("td.title")).to_have_attribute(
        "data-separations", f"Separated: {TINY_MODEL} (4 stems, 2 stems, drums + no drums)")

    # A cue at 2 s, kept on the server.
    page.locator("#seek").fill("2")
    page.get_by_role("button", name="Cue 1: set a cue here").click()
    expect(page.get_by_role("button", name="Cue 1 at 0:02: jump there (Shift: remove)")) \
        .to_be_visible()
    cues = httpx.get(f"{server.http_url}/api/tracks/{track_id}/cues").json()["hotCues"]
    assert [(c["index"], round(c["position"], 2)) for c in cues] == [(0, 2.0)], cues

    # The export of the mix as set: vocals down to 0.5 (-6.02 dB), the rest at 0 dB.
    vocals = page.get_by_label("Vocals volume")
    vocals.fill("0.5")
    with page.expect_download() as info:
        page.get_by_role("button", name="Export mix").click()
    assert info.value.suggested_filename == f"{TITLE} (mix).wav"
    exported = Path(info.value.path()).read_bytes()
    rendered = httpx.post(f"{server.http_url}/api/stems/{job_id}/mix", timeout=60, json={
        "gains": {"drums": 0, "bass": 0, "other": 0, "vocals": -6.02}}).content
    assert exported == rendered

    # Tempo 80% with the key up 2: the rendering is 1/0.8 as long, the key named.
    page.get_by_role("slider", name="Tempo").fill("80")
    page.get_by_role("combobox", name="Key", exact=True).select_option("2")
    expect(page.locator("#tempo-value")).to_have_text("80%")
    page.get_by_role("button", name="Preview").click()
    page.wait_for_function("() => document.getElementById('mix-preview').duration > 0",
                           timeout=60_000)
    seconds = page.evaluate("() => document.getElementById('mix-preview').duration")
    assert abs(seconds - 8.0 / 0.8) < 0.1, seconds
    analysis = httpx.get(f"{server.http_url}/api/tracks/{track_id}/analysis?wait=1",
                         timeout=70).json()
    if analysis["key"] is not None:
        expect(page.locator("#resulting-key")).to_contain_text("Key ")
    preview = httpx.post(f"{server.http_url}/api/stems/{job_id}/mix", timeout=60,
                         json={"tempo": 0.8}).content
    assert sf.info(io.BytesIO(preview)).duration == pytest.approx(10.0, abs=0.1)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-prep-1440x900.png"), full_page=True)

    # The next visit: Open from the library brings the cue back, and it jumps there.
    page.reload()
    expect(page.locator("#conn")).to_have_text("Connected")
    row.get_by_role("button", name="Open").click()
    expect(page.locator(".stem canvas[data-drawn=true]")).to_have_count(4, timeout=60_000)
    pad = page.get_by_role("button", name="Cue 1 at 0:02: jump there (Shift: remove)")
    pad.click()
    assert abs(page.evaluate("() => window.stemcastMixer.position()") - 2.0) < 0.05
    pad.click(modifiers=["Shift"])
    expect(page.get_by_role("button", name="Cue 1: set a cue here")).to_be_visible()
    assert httpx.get(f"{server.http_url}/api/tracks/{track_id}/cues").json()["hotCues"] == []


def test_open_honours_the_chosen_layout_and_the_phone_view(browser: Any,
                                                           server: ServerProcess,
                                                           clip: Path) -> None:
    context, page, errors = open_page(browser, 390, 844)
    try:
        page.goto(server.http_url + "/")
        expect(page.locator("#conn")).to_have_text("Connected")
        row = page.locator("#library tr", has_text=TITLE)
        expect(row.first.locator("td.title")).to_have_attribute("data-separations",
                                                                 re.compile("^Separated"))
        page.locator("#variant-select").select_option("2stems")
        row.first.get_by_role("button", name="Open").click()
        expect(page.locator(".stem canvas[data-drawn=true]")).to_have_count(2, timeout=60_000)
        names = page.locator(".stem .stem-name").all_inner_texts()
        assert names == ["Vocals", "Accompaniment"], names
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, width
        assert_fits(page, "390x844, a 2-stem layout opened")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-prep-390x844.png"), full_page=True)
    finally:
        context.close()
    assert not errors, errors


def test_tempo_and_key_live_in_the_browser(page: Any, server: ServerProcess) -> None:
    """At 80% the stretched stems (Signalsmith Stretch) read the track at 0.8 s per second
    of the audio clock, all four in step, and the play head follows them."""
    page.goto(server.http_url + "/")
    expect(page.locator("#conn")).to_have_text("Connected")
    page.locator("#library tr", has_text=TITLE).first.get_by_role("button", name="Open").click()
    expect(page.locator(".stem canvas[data-drawn=true]")).to_have_count(4, timeout=60_000)
    page.get_by_role("slider", name="Tempo").fill("80")
    page.get_by_role("combobox", name="Key", exact=True).select_option("-1")
    page.wait_for_function("() => Object.keys(window.stemcastStretch.nodes).length === 4"
                           " && window.stemcastMixer.rate === 0.8", timeout=60_000)
    page.get_by_role("button", name="Play").click()
    sample = ("() => { const m = window.stemcastMixer; const n = window.stemcastStretch.nodes;"
              " return [m.context.currentTime, m.position(),"
              " ...Object.values(n).map((node) => node.inputTime)]; }")
    page.wait_for_timeout(700)
    before = page.evaluate(sample)
    page.wait_for_timeout(2000)
    after = page.evaluate(sample)
    clock = after[0] - before[0]
    assert clock > 1.0, (before, after)
    assert (after[1] - before[1]) / clock == pytest.approx(0.8, abs=0.03), (before, after)
    for node_before, node_after in zip(before[2:], after[2:], strict=True):
        assert (node_after - node_before) / clock == pytest.approx(0.8, abs=0.1), (before, after)
    assert max(after[2:]) - min(after[2:]) < 0.06, after  # the stems in step
    page.get_by_role("slider", name="Tempo").fill("100")
    page.get_by_role("combobox", name="Key", exact=True).select_option("0")
    page.wait_for_function("() => window.stemcastMixer.rate === 1")
