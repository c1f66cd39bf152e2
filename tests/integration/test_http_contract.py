"""The HTTP API's contract as a client meets it: one JSON error shape for every error
(Starlette's 404 and 405 included), the liveness and readiness probes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.server import ServerProcess

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
