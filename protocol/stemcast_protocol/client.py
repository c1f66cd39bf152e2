"""A small asyncio client for scripts and tests (needs the optional `websockets` package)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from stemcast_protocol.codec import FrameFormat, decode_frame, encode_frame
from stemcast_protocol.errors import RequestId
from stemcast_protocol.messages import Priority

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

# Server pushes may carry binary stem audio; the 1 MiB limit is for client frames only.
MAX_SERVER_FRAME_BYTES = 64 * 1024 * 1024

Message = dict[str, Any]


class StemcastClient:
    """One WebSocket connection that sends maps in `fmt` and decodes whatever comes back."""

    def __init__(self, connection: ClientConnection, fmt: FrameFormat) -> None:
        self._connection = connection
        self.format = fmt
        self.last_frame_was_text = False

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str, fmt: FrameFormat = FrameFormat.MSGPACK,
                      **kwargs: Any) -> AsyncIterator[StemcastClient]:
        """`async with StemcastClient.connect("ws://127.0.0.1:8000/ws") as client: ...`"""
        try:
            from websockets.asyncio.client import connect
        except ImportError as exc:  # an optional dependency of the protocol package
            raise ImportError("StemcastClient needs the 'websockets' package: "
                              "pip install 'websockets>=13'") from exc
        kwargs.setdefault("max_size", MAX_SERVER_FRAME_BYTES)
        async with connect(url, **kwargs) as connection:
            yield cls(connection, fmt)

    async def send(self, message: Mapping[str, Any]) -> None:
        await self._connection.send(encode_frame(message, self.format))

    async def send_raw(self, frame: bytes | str) -> None:
        """Send a frame as is (tests use it for malformed frames)."""
        await self._connection.send(frame)

    async def receive(self, timeout: float = 30.0) -> Message:
        """The next server message; raises TimeoutError after `timeout` seconds."""
        frame = await asyncio.wait_for(self._connection.recv(), timeout)
        self.last_frame_was_text = isinstance(frame, str)
        message, _fmt = decode_frame(frame, max_bytes=MAX_SERVER_FRAME_BYTES)
        return message

    async def until(self, predicate: Callable[[Message], bool],
                    timeout: float = 60.0) -> list[Message]:
        """Every message up to and including the first one that matches `predicate`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen: list[Message] = []
        while True:
            message = await self.receive(timeout=max(deadline - loop.time(), 0.001))
            seen.append(message)
            if predicate(message):
                return seen

    async def get_track_info(self, *, track_id: str | None = None,
                             file_path: str | None = None, stems: bool = False,
                             request_id: RequestId = None, priority: Priority | None = None,
                             timeout: float = 30.0) -> Message:
        """Send getTrackInfo; return its direct reply (trackInfo, or an error).

        Messages that arrive before the reply are dropped; give each request its own
        `request_id` so that the reply cannot be mistaken for another request's.
        """
        message: Message = {"command": "getTrackInfo", "stems": stems}
        if track_id is not None:
            message["trackId"] = track_id
        if file_path is not None:
            message["filePath"] = file_path
        if request_id is not None:
            message["requestId"] = request_id
        if priority is not None:
            message["priority"] = priority.value
        await self.send(message)
        replies = await self.until(
            lambda m: m.get("requestId") == request_id and m.get("type") in ("trackInfo", "error"),
            timeout,
        )
        return replies[-1]
