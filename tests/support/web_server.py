"""A throwaway HTTP server on loopback for tests that need a web site to fetch from."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serves `handler` in a thread; yields its base URL, shuts it down after."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class Site:
    """A web site with a song: `pages` (path -> HTML), `redirects` (path -> 302 Location),
    `song` at /media/track.wav, `files` (path -> WAV bytes); `hits` records every path
    asked for. A path in `two_faced`
    shows its page to stemcast's own first look (User-Agent stemcast/...) and redirects
    anyone else (yt-dlp): a site controls every answer it gives."""

    song: bytes
    pages: dict[str, str] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    two_faced: set[str] = field(default_factory=set)
    files: dict[str, bytes] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    url: str = ""  # set while it is served

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@contextlib.contextmanager
def serving_site(site: Site) -> Iterator[Site]:
    """Serves `site` on loopback (its `url` set) until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            site.hits.append(self.path)
            first_look = self.headers.get("User-Agent", "").startswith("stemcast/")
            if self.path in site.redirects and not (first_look and self.path in site.two_faced):
                self.send_response(302)
                self.send_header("Location", site.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path in site.pages:
                body, kind = site.pages[self.path].encode(), "text/html; charset=utf-8"
            elif self.path == "/media/track.wav" or self.path in site.files:
                body, kind = site.files.get(self.path, site.song), "audio/wav"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as url:
        site.url = url
        yield site
