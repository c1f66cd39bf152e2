"""The HTTP API's contract as a client meets it: real replies fit /openapi.json, one JSON
error shape for every error (Starlette's 404 and 405 included), the liveness and readiness
probes, and /metrics as Prometheus's own checker reads it."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.openapi_check import OpenApiChecker
from tests.support.server import ServerProcess
from tests.support.tools import missing_tool

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("contract-music")
    return write_audio(folder / "contract.wav", make_music_like_signal(4.0, seed=71), 44100)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clip: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("contract") / "data", args=[
        "--model", "dsp", "--allow-path-prefix", str(clip.parent)]).start()
    yield proc
    proc.stop()


def _error(response: httpx.Response) -> dict[str, str]:
    assert response.headers["content-type"] == "application/json", response.text
    body = response.json()
    assert body["success"] is False and set(body["error"]) >= {"code", "message"}, body
    error: dict[str, str] = body["error"]
    return error


@pytest.mark.parametrize("path", ["/no/such/route", "/api/nothing-here", "/missing.js"])
def test_unknown_paths_answer_the_json_error_shape(server: ServerProcess, path: str) -> None:
    response = httpx.get(f"{server.http_url}{path}")
    assert response.status_code == 404
    error = _error(response)
    assert error["code"] == "NOT_FOUND" and path in error["message"]


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("PUT", "/jobs", "POST"),
    ("PATCH", "/jobs/some-job", "DELETE, GET, HEAD"),
    ("DELETE", "/api/tracks", "GET, HEAD, POST"),
    ("POST", "/health", "GET, HEAD"),
    ("POST", "/index.html", "GET, HEAD"),
])
def test_wrong_methods_answer_405_with_allow(server: ServerProcess, method: str, path: str,
                                             allow: str) -> None:
    response = httpx.request(method, f"{server.http_url}{path}")
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    error = _error(response)
    assert error["code"] == "METHOD_NOT_ALLOWED" and method in error["message"]


def test_probes_of_a_ready_server(server: ServerProcess) -> None:
    live = httpx.get(f"{server.http_url}/health/live")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = httpx.get(f"{server.http_url}/health/ready")
    assert ready.status_code == 200 and ready.json() == {"status": "ok", "ready": True}


def test_probes_of_a_server_without_a_model(tmp_path: Path) -> None:
    """No weights anywhere: alive, never ready (503 NOT_READY), /health still 200."""
    server = ServerProcess(tmp_path / "data", args=["--model", "htdemucs"],
                           env={"HF_HOME": str(tmp_path / "hf")}).start(timeout=60)
    try:
        assert server.health()["model"]["state"] == "unavailable"
        assert httpx.get(f"{server.http_url}/health/live").status_code == 200
        ready = httpx.get(f"{server.http_url}/health/ready")
        assert ready.status_code == 503 and ready.headers["retry-after"]
        assert _error(ready)["code"] == "NOT_READY"
        assert httpx.get(f"{server.http_url}/health").status_code == 200
    finally:
        server.stop()


def test_real_replies_fit_the_openapi_description(server: ServerProcess, clip: Path) -> None:
    base = server.http_url
    document = httpx.get(f"{base}/openapi.json").json()
    checker = OpenApiChecker(document)

    def call(method: str, path: str, status: int, **kwargs: Any) -> httpx.Response:
        response = httpx.request(method, f"{base}{path}", timeout=60, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        checker.check(response)
        return response

    for path in ("/health", "/health/live", "/health/ready", "/queue", "/stats", "/metrics"):
        call("GET", path, 200)
    track = call("POST", "/api/tracks", 201, json={"path": str(clip)}).json()
    call("GET", "/api/tracks", 200)
    call("GET", f"/api/tracks/{track['trackId']}", 200)
    call("GET", f"/api/tracks/{track['trackId']}/analysis?wait=1", 200)
    call("GET", f"/api/tracks/{track['trackId']}/stems", 404)
    call("POST", "/jobs", 200, json={"file_path": str(clip), "track_hash": "contract-1",
                                     "options": {"stems": True, "basic_features": True}})
    deadline = time.monotonic() + 120
    while call("GET", "/jobs/contract-1", 200).json()["status"] != "completed":
        assert time.monotonic() < deadline, "job contract-1 never completed"
        time.sleep(0.2)
    job = call("GET", "/jobs/contract-1", 200).json()
    assert job["callbacks"] == []
    call("GET", "/jobs/contract-1/stems", 200)
    call("GET", "/jobs/contract-1/stems/bass.wav", 200)
    call("GET", "/jobs/contract-1/stems.zip", 200)
    separation = job["separation_job_id"]
    call("GET", f"/api/tracks/{track['trackId']}/stems", 200)
    call("GET", f"/api/stems/{separation}/waveforms?zoom=1", 200)
    call("GET", f"/api/stems/{separation}/bass.wav", 200)
    call("GET", f"/api/stems/{separation}.zip", 200)
    call("GET", f"/api/tracks/{track['trackId']}/onsets.json", 404)
    call("POST", f"/api/stems/{separation}/mix", 200, json={"gains": {"vocals": -6}})
    cues = f"/api/tracks/{track['trackId']}/cues"
    call("PUT", cues, 200, json={"hotCues": [{"index": 0, "position": 0.5}]})
    call("GET", cues, 200)
    call("PUT", f"{cues}/1", 200, json={"position": 0.25, "name": "drop"})
    call("GET", f"{cues}/1", 200)
    call("DELETE", f"{cues}/1", 200)
    call("DELETE", cues, 200)
    call("GET", "/queue", 200)
    call("GET", "/stats", 200)
    # Errors fit the one error shape the description names for them.
    call("GET", "/jobs/no-such-job", 404)
    call("POST", "/jobs", 422, json={"track_hash": "x"})
    call("POST", "/api/tracks", 415, content=b"x", headers={"content-type": "text/plain"})
    call("GET", f"/api/stems/{separation}/bass?format=ogg", 422)
    call("PUT", "/jobs", 405)
    call("DELETE", "/jobs/contract-1", 200)
    call("DELETE", f"/api/tracks/{track['trackId']}", 200)
    every = {op["operationId"] for ops in document["paths"].values() for op in ops.values()}
    # Not called here: a URL download (test_web_api), the docs themselves (below), the
    # MIDI twin of onsets.json.
    assert every - checker.checked == {"fetch_track", "openapi_json", "docs_page",
                                       "get_track_drums"}


def test_the_docs_page_needs_nothing_from_elsewhere(server: ServerProcess) -> None:
    page = httpx.get(f"{server.http_url}/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "openapi.json" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    assert "<script src" not in page.text and "<link" not in page.text


def test_metrics_pass_promtool_and_totals_are_counters(server: ServerProcess,
                                                       clip: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        missing_tool("promtool (Debian package prometheus) is not installed")
    # Some work first, so that the counters have samples beyond zero.
    httpx.post(f"{server.http_url}/api/tracks", json={"path": str(clip)}, timeout=30)
    scrape = httpx.get(f"{server.http_url}/metrics")
    assert scrape.status_code == 200
    checked = subprocess.run([promtool, "check", "metrics"], input=scrape.content,
                             capture_output=True, timeout=60)
    # promtool exits non-zero on format errors and on lint findings (a counter without
    # _total, a missing HELP, ...), and says which on its output.
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()
    types = dict(line.split()[2:4] for line in scrape.text.splitlines()
                 if line.startswith("# TYPE "))
    for total in ("stemcast_worker_restarts", "stemcast_callback_attempts",
                  "stemcast_callback_failures", "stemcast_cache_removed",
                  "stemcast_cache_removed_bytes", "stemcast_tracks_analysed",
                  "stemcast_renditions", "stemcast_drum_transcriptions",
                  "stemcast_cpu_pool_restarts", "stemcast_cache_requests"):
        # The text format names a counter's family with its _total sample name.
        assert types.get(f"{total}_total") == "counter", total
    # What stays a gauge can go down.
    assert types["stemcast_queue_length"] == types["stemcast_connected_clients"] == "gauge"
