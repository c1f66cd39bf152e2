"""HTTP: checks on a job's callback at submission, before any work is queued.

The callback URL must pass the outbound guard (net/outbound.py) now, so a client learns at
once that it names a private address (and which flag allows it); the guard checks again at
every attempt, as the name may resolve differently later. A callback-mode job whose stems
could not be sent base64 in one body is refused here, with the modes that work.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from stemcast.apijobs.models import AnalysisOptions, DeliveryMode
from stemcast.apijobs.stems_payload import estimated_inline_bytes, inline_too_large
from stemcast.config import Settings
from stemcast.http.errors import HTTPProblem
from stemcast.library.tracks import Track
from stemcast.net.outbound import OutboundRefused, checked_addresses


async def check_callback(settings: Settings, url: str | None, mode: DeliveryMode,
                         options: AnalysisOptions, track: Track) -> None:
    if url is not None:
        parts = urlsplit(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise HTTPProblem(422, "INVALID_FIELD", "field 'callback_url': the port is not a "
                              "number in 1..65535") from exc
        try:
            await checked_addresses(parts.hostname or "", port, settings.callback_policy())
        except OutboundRefused as exc:
            raise HTTPProblem(422, "CALLBACK_URL_NOT_ALLOWED",
                              f"field 'callback_url': {exc}") from exc
        except httpx.ConnectError:
            pass  # not resolvable now: the attempts retry, and check again, later
    if mode == DeliveryMode.CALLBACK and options.stems:
        limit = settings.callback_inline_max_bytes
        estimate = estimated_inline_bytes(track.duration_seconds, options.output)
        if estimate > limit:
            raise HTTPProblem(422, "CALLBACK_TOO_LARGE",
                              f"field 'stem_delivery_mode': {inline_too_large(estimate, limit)}")
