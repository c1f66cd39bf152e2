"""Signed callbacks (Standard Webhooks): a receiver verifies them with the README's own
snippet; a changed body, another secret or an old timestamp fail; retries keep the id;
the secret never reaches the log."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.callback_receiver import CallbackReceiver
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
KEY = bytes(range(7, 39))  # 32 bytes
SECRET = "whsec_" + base64.b64encode(KEY).decode()

Verify = Callable[..., bool]


def readme_snippet() -> Verify:
    """The README's verification snippet, run as written."""
    found = re.search(r"<!-- verify-snippet -->\n```python\n(.*?)```", README.read_text(),
                      re.S)
    assert found, "README.md lost its verification snippet"
    namespace: dict[str, Any] = {}
    exec(compile(found.group(1), "README.md snippet", "exec"), namespace)
    verify: Verify = namespace["verify_stemcast_callback"]
    return verify


def test_signed_callbacks_verify_with_the_readme_snippet(tmp_path: Path) -> None:
    verify = readme_snippet()
    (tmp_path / "music").mkdir()
    clip = write_audio(tmp_path / "music" / "hook.wav", make_music_like_signal(3.0, seed=81),
                       44100)
    server = ServerProcess(tmp_path / "data", args=[
        "--model", "dsp", "--allow-path-prefix", str(clip.parent),
        "--callback-retry-delay", "0.2", "--log-level", "debug"],
        env={"STEMCAST_CALLBACK_SECRET": SECRET}).start()
    try:
        with CallbackReceiver(fail_first=1,
                              verify=lambda headers, raw: verify(SECRET, headers, raw)) \
                as receiver:
            submitted = httpx.post(f"{server.http_url}/jobs", timeout=30, json={
                "file_path": str(clip), "track_hash": "signed-1",
                "callback_url": receiver.url})
            assert submitted.status_code == 200, submitted.text
            receiver.wait_for("job_completed", timeout=120)
        assert receiver.refused == 0 and receiver.stages() == ["stems", "job_completed"]
        first = receiver.received[0]
        headers = {k.lower(): v for k, v in first.headers.items()}
        assert headers["x-mismo-job-id"] == "signed-1" and headers["x-mismo-stage"] == "stems"
        assert headers["webhook-signature"].startswith("v1,")
        # The refused first attempt and its retry are one message: the same id.
        refused = {k.lower(): v for k, v in receiver.attempt_headers[0].items()}
        assert refused["webhook-id"] == headers["webhook-id"]
        assert len({r.headers["webhook-id"] for r in receiver.received}) == 2

        raw = first.raw
        assert verify(SECRET, headers, raw)
        assert not verify(SECRET, headers, raw.replace(b'"stems"', b'"stemz"', 1))
        assert not verify(SECRET, headers, raw + b" ")
        assert not verify("whsec_" + base64.b64encode(b"x" * 32).decode(), headers, raw)
        stale = {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}
        assert not verify(SECRET, stale, raw)
    finally:
        server.stop()
    assert server.log_path is not None
    log = server.log_path.read_text(errors="replace")
    assert "callback signed-1/stems delivered" in log  # a debug-level log, read whole
    assert SECRET not in log and SECRET[6:] not in log


@pytest.mark.parametrize("secret", ["short-secret", "whsec_***not-base64***"])
def test_a_bad_secret_stops_the_start_without_printing_it(tmp_path: Path, secret: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stemcast.cli", "serve", "--data-dir", str(tmp_path),
         "--callback-secret", secret], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--callback-secret" in done.stderr and secret not in done.stderr + done.stdout
