"""How many bytes one client's unsent messages may hold.

Counting messages alone let four clients that never read hold 1.8 GB (each message could
be large); the budget counts bytes too. A client past it is closed with 1013 ("try again
later") and a reason that says why, and the server log says which client.
"""

from __future__ import annotations

from typing import Any, Final

# Stem audio pauses its pumps at 8 MB (session.CHUNK_BYTES_HIGH); the rest are small
# messages and waveform peaks. A client that lets more than this pile up is not reading.
OUTBOX_MAX_BYTES: Final = 32 << 20
CLOSE_REASON: Final = "client not reading: its unsent messages passed 32 MB"


def approx_size(value: Any, depth: int = 0) -> int:
    """Roughly the encoded size of a message: its strings and bytes, plus a little per item
    (cheap: no encoding; deep structures are counted to a few levels, as ours are shallow)."""
    if isinstance(value, bytes | bytearray | memoryview | str):
        return len(value)
    if depth > 6:
        return 8
    if isinstance(value, dict):
        return sum(approx_size(k, depth + 1) + approx_size(v, depth + 1) + 2
                   for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(approx_size(v, depth + 1) + 1 for v in value)
    return 8
