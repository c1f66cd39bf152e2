"""The job card's time left in a real headless Chromium against a real `stemcast serve`:
"about M:SS–M:SS left" while the server sends etaRange, one figure once it stops.

The frames are Chromium's own (Playwright's framereceived), the text is what the page
showed after each (a MutationObserver on #job-eta): the page must show exactly the
server's figures, in order, as a range while they come with one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests.conftest import TINY_MODEL
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.browser import open_page, require_browser, separate_on_page
from tests.support.server import ServerProcess

sync_api = require_browser()

pytestmark = pytest.mark.integration

RANGE = re.compile(r"^about \d+:\d\d–\d+:\d\d left$")
SINGLE = re.compile(r"^about \d+:\d\d left$")
# Every change of the card's time left, as the page shows it.
WATCH_ETA = """() => {
    window.etaTexts = [];
    const eta = document.getElementById("job-eta");
    new MutationObserver(() => window.etaTexts.push(eta.textContent))
        .observe(eta, {childList: true, characterData: true, subtree: true});
}"""


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Long enough for many segments: the first ones leave the pace unsure (a range).
    path = tmp_path_factory.mktemp("eta-audio") / "Eta Song.wav"
    write_audio(path, make_music_like_signal(40.0, seed=5), 44100)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model_repo: Path) -> Iterator[Any]:
    # A fresh data directory: nothing learned, so the first estimates are unsure.
    data_dir = tmp_path_factory.mktemp("eta-server") / "data"
    proc = ServerProcess(
        data_dir, args=["--model", TINY_MODEL, "--model-repo", str(tiny_model_repo)],
    ).start(timeout=240)
    yield proc
    proc.stop()


def _clock(seconds: float) -> str:
    """dom.js's clock(): whole seconds as M:SS."""
    whole = int(max(seconds, 0.0))
    return f"{whole // 60}:{whole % 60:02d}"


def _shown_for(message: dict[str, Any]) -> str:
    """What job.js's timeLeft() should show for one progress message."""
    eta, span = message.get("etaSeconds"), message.get("etaRange")
    if eta is None:
        return ""
    if span is not None and _clock(span[0]) != _clock(span[1]):
        return f"about {_clock(span[0])}–{_clock(span[1])} left"
    return f"about {_clock(eta)} left"


def _decoded(payload: Any) -> dict[str, Any] | None:
    message = msgpack.unpackb(payload) if isinstance(payload, bytes) else json.loads(payload)
    return message if isinstance(message, dict) else None


def _changes(texts: list[str]) -> list[str]:
    """The non-empty texts, each run of one text once."""
    out: list[str] = []
    for text in texts:
        if text and (not out or out[-1] != text):
            out.append(text)
    return out


def test_the_card_shows_a_range_while_the_server_is_unsure(browser: Any, server: ServerProcess,
                                                           clip: Path) -> None:
    context, page, errors = open_page(browser, 1440, 900)
    progress: list[dict[str, Any]] = []

    def on_frame(payload: Any) -> None:
        message = _decoded(payload)
        if message is not None and message.get("type") == "progress":
            progress.append(message)

    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
    try:
        page.goto(server.http_url + "/")
        page.evaluate(WATCH_ETA)
        separate_on_page(page, clip, TINY_MODEL)
        shown = _changes(page.evaluate("() => window.etaTexts"))
    finally:
        context.close()
    assert not errors, errors

    ranged = [m for m in progress if m.get("etaRange") is not None]
    single = [m for m in progress if m.get("etaSeconds") is not None and "etaRange" not in m]
    assert ranged, f"the server sent no etaRange: {progress}"
    assert single, f"the server never became sure: {progress}"
    # Exactly the server's figures, in the order they came.
    assert shown == _changes([_shown_for(m) for m in progress]), (shown, progress)
    kinds = ["range" if RANGE.match(text) else "single" for text in shown]
    assert all(RANGE.match(text) or SINGLE.match(text) for text in shown), shown
    # A range first, while the pace is unsure; one figure after (writing has no range).
    assert "range" in kinds and kinds[-1] == "single", shown
    assert kinds.index("range") < len(kinds) - 1 - kinds[::-1].index("single"), shown
