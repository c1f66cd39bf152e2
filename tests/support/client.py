"""The integration tests' WebSocket client: every message a real server sends is checked
against PROTOCOL.md's tables (tests/support/protocol_spec.py) and the published JSON
Schema (protocol/messages.schema.json, tests/support/message_schema.py) as it arrives.

A drop-in for `stemcast_protocol.StemcastClient`: the tests use this one, so that no reply
they read has fields, types or codes that the spec does not describe.
"""

from __future__ import annotations

from stemcast_protocol import StemcastClient
from stemcast_protocol.client import Message
from tests.support.protocol_spec import check_against_spec


class SpecCheckedClient(StemcastClient):
    """A `StemcastClient` whose `receive` (and so `until`, `get_track_info`) fails on any
    message that is not exactly what PROTOCOL.md and messages.schema.json describe."""

    async def receive(self, timeout: float = 30.0) -> Message:
        message = await super().receive(timeout)
        try:
            check_against_spec(message)
        except AssertionError as exc:
            raise AssertionError(f"a server message breaks PROTOCOL.md or "
                                 f"messages.schema.json ({exc}): "
                                 f"{_short(message)}") from exc
        return message


def _short(message: Message) -> Message:
    """The message with binary audio shown by its size (a stemChunk holds ~1 MB)."""
    return {key: f"<{len(value)} bytes>" if isinstance(value, bytes) else value
            for key, value in message.items()}
