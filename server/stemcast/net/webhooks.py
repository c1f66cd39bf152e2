"""Signed callbacks, as the Standard Webhooks scheme (https://www.standardwebhooks.com).

Each callback POST carries `webhook-id` (the same on every retry of one callback, so a
receiver can drop duplicates), `webhook-timestamp` (Unix seconds of this attempt) and,
with --callback-secret, `webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">` over the exact bytes sent. The secret is given as
`whsec_<base64>` (what Standard Webhooks libraries generate) or as plain text, whose
UTF-8 bytes are then the key. The secret is never printed: not in errors, not in reprs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable
from typing import Final

PREFIX: Final = "whsec_"
# Standard Webhooks asks for 24 to 64 bytes; fewer than 16 is a password, not a key.
MIN_SECRET_BYTES: Final = 16


def parse_secret(text: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` or plain secret; ValueError names the fix."""
    if text.startswith(PREFIX):
        try:
            key = base64.b64decode(text[len(PREFIX):], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("--callback-secret starts with whsec_ but the rest is not "
                             "base64; give whsec_ and base64 of 24-64 random bytes, e.g. "
                             "from `python -c \"import base64,os; print('whsec_' + "
                             "base64.b64encode(os.urandom(32)).decode())\"`") from None
    else:
        key = text.encode("utf-8")
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"--callback-secret is {len(key)} bytes; give at least "
                         f"{MIN_SECRET_BYTES} (Standard Webhooks uses 24-64 random bytes)")
    return key


class WebhookSigner:
    """The Standard Webhooks headers of one callback attempt; no secret: id and time only."""

    def __init__(self, secret: str | None) -> None:
        self._key = parse_secret(secret) if secret else None

    @property
    def signs(self) -> bool:
        return self._key is not None

    def headers(self, message_id: str, body: bytes | Iterable[bytes],
                timestamp: int | None = None) -> dict[str, str]:
        """`body` is the exact bytes sent, whole or in pieces (a long track's callback is
        read from a spooled file rather than held in memory)."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        headers = {"webhook-id": message_id, "webhook-timestamp": stamp}
        if self._key is not None:
            mac = hmac.new(self._key, f"{message_id}.{stamp}.".encode(), hashlib.sha256)
            for piece in [body] if isinstance(body, bytes) else body:
                mac.update(piece)
            digest = mac.digest()
            headers["webhook-signature"] = "v1," + base64.b64encode(digest).decode()
        return headers

    def __repr__(self) -> str:
        return f"WebhookSigner(signs={self.signs})"
