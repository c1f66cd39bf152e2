"""yt-dlp with every request it makes sent through the outbound guard (net/outbound.py).

yt-dlp sends each request (page reads, API calls, every redirect hop, a page's meta refresh
or embed it follows) through a "request director" that picks one of its request handlers.
GuardedYoutubeDL builds that director with one handler only, GuardedRH, which makes the
request with guarded_client: the name is resolved once, every address checked, the TCP
connection goes to the checked address (no DNS rebinding), and each redirect connects
through the same check. yt-dlp's own handlers (urllib, requests, curl_cffi, websockets)
are left out on purpose: the director falls back to the next handler when one refuses a
request, so with them beside ours a refused request would be made anyway.

Imported only when yt-dlp is installed (page_audio.py): this module needs yt_dlp.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import time
from typing import Any, Final

import httpx
import yt_dlp
from yt_dlp.networking.common import RequestHandler, Response
from yt_dlp.networking.exceptions import HTTPError, TransportError

from stemcast.net.outbound import OutboundPolicy, OutboundRefused, guarded_client

# A page, an API answer or a manifest: text, never the audio itself (that is downloaded by
# the server's own downloader, with --max-upload-mb). A bigger answer is refused.
MAX_PAGE_BYTES: Final = 16 * 1024 * 1024
MAX_REDIRECTS: Final = 10
# The answer's body is handed over decoded, so its transfer headers no longer apply.
_TRANSFER_HEADERS: Final = frozenset({"content-encoding", "content-length", "transfer-encoding"})

log = logging.getLogger(__name__)


class GuardRefusedError(TransportError):
    """yt-dlp's side of an OutboundRefused (yt-dlp wants its own error types)."""


class GuardedRH(RequestHandler):
    """Makes yt-dlp's requests with the guarded httpx client, no proxy ever.

    `refusals` collects every OutboundRefused, so that the caller can tell "the guard
    refused a hop" from "the page has no audio" whatever yt-dlp makes of the error.
    """

    _SUPPORTED_URL_SCHEMES = ("http", "https")
    # Proxies are never used (a proxy would connect to addresses we never checked): any
    # proxy setting is accepted here and ignored, rather than refused and then sent
    # through another handler.
    _SUPPORTED_PROXY_SCHEMES = None
    _SUPPORTED_FEATURES = None

    def __init__(self, *, policy: OutboundPolicy, deadline: float,
                 refusals: list[OutboundRefused], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy
        self.deadline = deadline  # time.monotonic() after which no request starts
        self.refusals = refusals

    def _check_extensions(self, extensions: dict[str, Any]) -> None:
        super()._check_extensions(extensions)
        for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing"):
            extensions.pop(name, None)  # impersonate and others stay: unsupported

    def _prepare_headers(self, request: Any, headers: Any) -> None:
        headers["Accept-Encoding"] = "gzip, deflate"  # what httpx always decodes

    def _send(self, request: Any) -> Response:
        timeout = min(self._calculate_timeout(request), self.deadline - time.monotonic())
        if timeout <= 0:
            raise TransportError("out of time reading the page")
        try:
            status, url, headers, body = asyncio.run(self._fetch(request, timeout))
        except OutboundRefused as exc:
            self.refusals.append(exc)
            raise GuardRefusedError(str(exc), cause=exc) from exc
        except httpx.TooManyRedirects as exc:
            raise TransportError(f"more than {MAX_REDIRECTS} redirects", cause=exc) from exc
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise TransportError("timed out", cause=exc) from exc
        except httpx.HTTPError as exc:
            raise TransportError("no connection, or no answer", cause=exc) from exc
        response = Response(io.BytesIO(body), url, headers, status)
        if not 200 <= status < 300:
            raise HTTPError(response)
        return response

    async def _fetch(self, request: Any, timeout: float) -> tuple[int, str, dict[str, str],
                                                                  bytes]:
        async with asyncio.timeout(timeout), \
                guarded_client(self.policy, timeout=timeout, follow_redirects=True,
                               max_redirects=MAX_REDIRECTS) as client:
            client.cookies = httpx.Cookies(self._get_cookiejar(request))  # yt-dlp's jar
            async with client.stream(request.method, request.url,
                                     headers=self._get_headers(request),
                                     content=_body_of(request.data)) as answer:
                body = bytearray()
                async for chunk in answer.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_PAGE_BYTES:
                        raise TransportError(f"the page is larger than "
                                             f"{MAX_PAGE_BYTES >> 20} MB")
        headers = {name: value for name, value in answer.headers.items()
                   if name.lower() not in _TRANSFER_HEADERS}
        return answer.status_code, str(answer.url), headers, bytes(body)


def _body_of(data: Any) -> bytes | None:
    """yt-dlp's request data (bytes, a file, an iterable of bytes) as bytes."""
    if data is None or isinstance(data, bytes):
        return data
    if hasattr(data, "read"):
        return bytes(data.read())
    return b"".join(data)


class _Log:
    """yt-dlp's messages into the server's log (its errors are a client's page, not ours:
    the HTTP answer carries them), instead of onto stderr."""

    def debug(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    info = debug

    def warning(self, message: str) -> None:
        log.info("yt-dlp: %s", message)

    error = warning


class GuardedYoutubeDL(yt_dlp.YoutubeDL):
    """A YoutubeDL whose only request handler is GuardedRH."""

    def __init__(self, params: dict[str, Any], policy: OutboundPolicy, deadline: float) -> None:
        self.refusals: list[OutboundRefused] = []
        self._guarded_rh = functools.partial(GuardedRH, policy=policy, deadline=deadline,
                                             refusals=self.refusals)
        super().__init__({"logger": _Log(), **params})

    def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
        # yt-dlp's public way to choose handlers; theirs are left out (module docstring).
        return super().build_request_director([self._guarded_rh], [])
