"""A small asyncio client for scripts and tests (needs the `websockets` package)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from stemcast_protocol.codec import FrameFormat, decode_frame, encode_frame


class StemcastClient:
    def __init__(self, connection: Any, fmt: FrameFormat) -> None:
        self._connection = connection
        self.format = fmt
        self.last_frame_was_text = False

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str, fmt: FrameFormat = FrameFormat.MSGPACK,
                      **kwargs: Any) -> AsyncIterator[StemcastClient]:
        from websockets.asyncio.client import connect

        async with connect(url, max_size=64 * 1024 * 1024, **kwargs) as connection:
            yield cls(connection, fmt)

    async def send(self, message: dict[str, Any]) -> None:
        await self._connection.send(encode_frame(message, self.format))

    async def send_raw(self, frame: bytes | str) -> None:
        await self._connection.send(frame)

    async def receive(self, timeout: float = 30.0) -> dict[str, Any]:
        frame = await asyncio.wait_for(self._connection.recv(), timeout)
        self.last_frame_was_text = isinstance(frame, str)
        message, _fmt = decode_frame(frame, max_bytes=1 << 30)
        return message

    async def until(self, predicate: Callable[[dict[str, Any]], bool],
                    timeout: float = 60.0) -> list[dict[str, Any]]:
        """Every message up to and including the first one that matches."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen: list[dict[str, Any]] = []
        while True:
            message = await self.receive(timeout=max(deadline - loop.time(), 0.001))
            seen.append(message)
            if predicate(message):
                return seen

    async def get_track_info(self, *, track_id: str | None = None, file_path: str | None = None,
                             stems: bool = False, request_id: str | int | None = None,
                             timeout: float = 30.0) -> dict[str, Any]:
        """Send getTrackInfo; return its direct reply (trackInfo, or an error)."""
        message: dict[str, Any] = {"command": "getTrackInfo", "stems": stems}
        if track_id is not None:
            message["trackId"] = track_id
        if file_path is not None:
            message["filePath"] = file_path
        if request_id is not None:
            message["requestId"] = request_id
        await self.send(message)
        replies = await self.until(
            lambda m: m.get("requestId") == request_id and m.get("type") in ("trackInfo", "error"),
            timeout,
        )
        return replies[-1]
