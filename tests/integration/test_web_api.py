"""The HTTP routes behind the browser page: stems by separation job id, a track's last
stems, and registering a track from a URL (served by a loopback HTTP server here)."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf

from stemcast.http.url_fetch import FetchError, download
from stemcast.net.outbound import OutboundPolicy
from tests.conftest import TINY_MODEL
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.client import SpecCheckedClient
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

STEMS = {"bass", "drums", "other", "vocals"}
BIG = 1024 * 1024 + 4096  # just over --max-upload-mb 1


class _Files(BaseHTTPRequestHandler):
    song = b""
    protocol_version = "HTTP/1.0"  # a body without Content-Length ends when the socket does

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, body: bytes, content_type: str, length: bool = True,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/music/Fetched%20Song.wav":
            self._send(self.song, "audio/wav")
        elif self.path == "/download?id=7":
            self._send(self.song, "audio/x-wav",
                       extra={"Content-Disposition": 'attachment; filename="Named.wav"'})
        elif self.path == "/big.wav":
            self._send(b"\0" * BIG, "audio/wav")
        elif self.path == "/big-unannounced.wav":
            self._send(b"\0" * BIG, "audio/wav", length=False)
        elif self.path == "/notes.txt":
            self._send(b"not audio at all\n", "text/plain")
        elif self.path == "/slow.wav":
            time.sleep(3)
            self._send(self.song, "audio/wav")
        else:
            self.send_error(404, "Not Found")


@pytest.fixture(scope="module")
def files() -> Iterator[str]:
    buffer = io.BytesIO()
    sf.write(buffer, make_music_like_signal(3.0, seed=11).T, 44100, format="WAV",
             subtype="PCM_16")
    _Files.song = buffer.getvalue()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model_repo: Path) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("web-api") / "data"
    proc = ServerProcess(data_dir, args=["--model", TINY_MODEL, "--model-repo",
                                         str(tiny_model_repo), "--max-upload-mb", "1"]).start()
    yield proc
    proc.stop()


def _fetch(server: ServerProcess, url: Any) -> httpx.Response:
    return httpx.post(f"{server.http_url}/api/tracks/fetch", json={"url": url}, timeout=60)


async def test_stems_by_job_id_zip_and_a_tracks_last_stems(server: ServerProcess,
                                                          tmp_path: Path) -> None:
    song = write_audio(tmp_path / "Api Song.wav", make_music_like_signal(3.0, seed=5), 44100)
    with song.open("rb") as handle:
        track = httpx.post(f"{server.http_url}/api/tracks", timeout=30,
                           files={"file": ("Api Song.wav", handle, "audio/wav")}).json()
    missing = httpx.get(f"{server.http_url}/api/tracks/{track['trackId']}/stems")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NO_STEMS"

    async with SpecCheckedClient.connect(server.ws_url) as client:
        await client.send({"command": "getTrackInfo", "trackId": track["trackId"],
                           "stems": True, "requestId": "page"})
        message = (await client.until(
            lambda m: m["type"] in ("stemsReady", "stemsFailed"), timeout=120))[-1]
    assert message["type"] == "stemsReady", message
    job_id = message["jobId"]

    for name in ("bass", "bass.wav"):
        response = httpx.get(f"{server.http_url}/api/stems/{job_id}/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/wav"
        assert response.content == Path(message["stems"]["bass"]).read_bytes()
    wrong = httpx.get(f"{server.http_url}/api/stems/{job_id}/flute")
    assert wrong.status_code == 404
    assert wrong.json() == {"success": False, "error": {
        "code": "STEM_NOT_FOUND", "message": wrong.json()["error"]["message"]}}
    assert "it has drums, bass, other, vocals" in wrong.json()["error"]["message"]
    unknown = httpx.get(f"{server.http_url}/api/stems/no-such-job/bass")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "JOB_NOT_FOUND"

    archive = httpx.get(f"{server.http_url}/api/stems/{job_id}.zip")
    assert archive.status_code == 200
    assert archive.headers["content-disposition"] == 'attachment; filename="Api Song-stems.zip"'
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        assert {n.removesuffix(".wav") for n in opened.namelist()} == STEMS
        assert opened.read("vocals.wav") == Path(message["stems"]["vocals"]).read_bytes()
    assert httpx.get(f"{server.http_url}/api/stems/no-such-job.zip").status_code == 404

    last = httpx.get(f"{server.http_url}/api/tracks/{track['trackId']}/stems").json()
    assert last["jobId"] == job_id and set(last["stems"]) == STEMS
    assert last["stems"]["bass"] == f"/api/stems/{job_id}/bass.wav"
    assert last["zip"] == f"/api/stems/{job_id}.zip"
    nothing = httpx.get(f"{server.http_url}/api/tracks/nope/stems")
    assert nothing.status_code == 404 and nothing.json()["error"]["code"] == "TRACK_NOT_FOUND"

    # Files gone from disk: said so, not a crash.
    for path in message["stems"].values():
        Path(path).unlink()
    gone = httpx.get(f"{server.http_url}/api/stems/{job_id}/bass")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "STEMS_REMOVED"
    assert httpx.get(f"{server.http_url}/api/tracks/{track['trackId']}/stems").status_code \
        == 404


def test_fetch_a_track_from_a_url(server: ServerProcess, files: str) -> None:
    response = _fetch(server, f"{files}/music/Fetched%20Song.wav")
    assert response.status_code == 201, response.text
    track = response.json()
    assert track["title"] == "Fetched Song" and track["source"] == "upload"
    assert abs(track["durationSeconds"] - 3.0) < 0.01
    assert Path(track["filePath"]).read_bytes() == _Files.song
    listed = httpx.get(f"{server.http_url}/api/tracks").json()["tracks"]
    assert track["trackId"] in {t["trackId"] for t in listed}

    named = _fetch(server, f"{files}/download?id=7")
    assert named.status_code == 201 and named.json()["title"] == "Named"


@pytest.mark.parametrize(("url", "status", "code", "words"), [
    ("ftp://127.0.0.1/song.wav", 422, "INVALID_FIELD", "http:// or https://"),
    ("not a url", 422, "INVALID_FIELD", "http:// or https://"),
    ("", 422, "MISSING_FIELD", "'url'"),
    (None, 422, "MISSING_FIELD", "'url'"),
    ("{files}/big.wav", 413, "UPLOAD_TOO_LARGE", "1 MB"),
    ("{files}/big-unannounced.wav", 413, "UPLOAD_TOO_LARGE", "1 MB"),
    # The same words as a closed port: the target's answer is not told (no port scanning).
    ("{files}/missing.wav", 502, "FETCH_FAILED", "could not download"),
    ("http://127.0.0.1:{closed}/song.wav", 502, "FETCH_FAILED", "could not download"),
    ("{files}/notes.txt", 422, "NOT_AUDIO", "notes.txt"),
])
def test_fetch_errors_are_clear(server: ServerProcess, files: str, url: str | None,
                                status: int, code: str, words: str) -> None:
    from tests.support.server import free_port

    if isinstance(url, str):
        url = url.format(files=files, closed=free_port())
    response = _fetch(server, url)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == code
    assert words in body["error"]["message"]
    uploads = Path(server.data_dir) / "uploads"
    assert not list(uploads.glob("*.partial"))


async def test_download_stops_at_its_timeout(files: str, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        await download(f"{files}/slow.wav", tmp_path, 1 << 20,
                       OutboundPolicy(allow_private=True), timeout=0.5)
    assert time.monotonic() - started < 2.5
    assert caught.value.status == 502 and caught.value.code == "FETCH_TIMEOUT"
    assert not list(tmp_path.iterdir())
