"""The WebSocket outbox counts bytes: the estimate of a message's size follows its payload."""

from __future__ import annotations

from stemcast.ws.outbox_budget import OUTBOX_MAX_BYTES, approx_size


def test_a_message_is_counted_by_its_payload() -> None:
    chunk = {"type": "stemChunk", "stem": "drums", "data": b"\0" * (1 << 20)}
    assert 1 << 20 <= approx_size(chunk) < (1 << 20) + 200
    error = {"type": "error", "error": {"code": "X", "message": "m" * 5000}}
    assert 5000 <= approx_size(error) < 5200
    peaks = {"type": "stemsReady", "waveforms": {"drums": [[0.1, 0.2]] * 100_000}}
    assert approx_size(peaks) >= 100_000 * 16


def test_a_client_that_never_reads_is_bounded() -> None:
    """33 one-megabyte messages pass the budget long before the 512-message limit."""
    chunk = {"type": "stemChunk", "data": b"\0" * (1 << 20)}
    assert approx_size(chunk) * 33 > OUTBOX_MAX_BYTES
