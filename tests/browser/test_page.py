"""The browser page in a real headless Chromium against a real `stemcast serve`.

Debian's `chromium`, driven by Playwright (the Python package) with `executable_path`
set to the system browser. `.ci/run` installs chromium where it is missing; this module
is skipped, with the reason, only where it could not be installed.
"""

from __future__ import annotations

import io
import os
import shutil
import wave
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf

from tests.conftest import TINY_MODEL
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.server import ServerProcess

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
STEMS = ["drums", "bass", "other", "vocals"]
TOKEN = "browser-test-token"

if not os.path.exists(CHROMIUM) and shutil.which("chromium") is None:
    pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's 'chromium' package "
                "(.ci/run does) to run the browser tests", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="the Python 'playwright' package is missing: pip install -e '.[test]'")

pytestmark = pytest.mark.integration

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--autoplay-policy=no-user-gesture-required"]


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS,
                                              headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900},
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    yield page
    context.close()
    assert not [m for m in messages if m.startswith("pageerror")], messages


def gains(page: Any) -> dict[str, float]:
    result: dict[str, float] = page.evaluate(
        "() => Object.fromEntries(Object.entries(window.stemcastMixer.gains)"
        ".map(([name, node]) => [name, node.gain.value]))")
    return result


def test_upload_separate_mix_and_download(page: Any, server: ServerProcess, clip: Path) -> None:
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

    job = page.locator("#job")
    sync_api.expect(job).to_have_attribute("data-stage", "complete", timeout=120_000)
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
    assert download.suggested_filename == "bass.wav"
    data = Path(download.path()).read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    with wave.open(io.BytesIO(data)) as reader:
        assert reader.getframerate() == 44100 and reader.getnchannels() == 2
        assert reader.getsampwidth() == 2 and reader.getnframes() == 4 * 44100
    samples, rate = sf.read(io.BytesIO(data))
    assert rate == 44100 and samples.shape == (4 * 44100, 2)

    # The zip of all stems.
    href = page.locator("#zip").get_attribute("href")
    assert href
    response = httpx.get(server.http_url + href, timeout=30)
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == sorted(f"{s}.wav" for s in STEMS)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-page.png"), full_page=True)


def test_library_lists_the_track_and_opens_it_again(page: Any, server: ServerProcess,
                                                    clip: Path) -> None:
    page.goto(server.http_url + "/")
    row = page.locator("#library tr", has_text="Page Song")
    sync_api.expect(row.first).to_be_visible()
    track_id = row.first.get_attribute("data-track-id")
    stems = httpx.get(f"{server.http_url}/api/tracks/{track_id}/stems", timeout=10).json()
    assert sorted(stems["stems"]) == sorted(STEMS)

    row.first.get_by_role("button").click()
    sync_api.expect(page.locator(".stem canvas[data-drawn=true]")).to_have_count(4)
    # Opened from disk: the same separation job, no new one.
    assert page.evaluate("() => window.stemcastMixer.jobId") == stems["jobId"]
    sync_api.expect(page.locator("#job")).to_have_attribute("data-stage", "complete")


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
