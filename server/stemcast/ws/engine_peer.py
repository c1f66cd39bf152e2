"""The engine link: stemcast dials a DJ engine that is itself a WebSocket server.

In Mismo the audio engine listens (AUDIO_SERVER_WS_URL, ws://localhost:8080 by default)
and the app server dials it, says `{"type": "appServerIdentify"}`, then answers the
engine's `getTrackInfo` commands. `stemcast serve --engine-url ws://HOST:PORT` takes the
app server's place on that link: the connection is wrapped to look like the WebSocket a
client opens to /ws (accept, receive, send_text, send_bytes, close), so the very same
ClientSession serves it, in seed 000's JSON dialect (the engine sends no hello; see
ws/seed_dialect.py). Frames without `command` (the engine's events, its replies such as
"App server registered successfully" or `welcome`) and the app-only `deck.*` commands
are not requests to stemcast: they are dropped here (the engine reads the track's hot
cues as `hotCues` in trackInfo; they are set over HTTP, /api/tracks/{id}/cues).
A lost or refused connection is dialled again after 1, 2, 4, ... up to 30 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from stemcast.ws.session import ClientSession, SessionDeps

log = logging.getLogger(__name__)

IDENTIFY = {"type": "appServerIdentify"}
FIRST_DELAY_S, MAX_DELAY_S = 1.0, 30.0
OPEN_TIMEOUT_S = 5.0
MAX_FRAME_BYTES = 2 * 1024 * 1024
IGNORED_COMMAND_PREFIX = "deck."


def is_request(frame: str | bytes) -> bool:
    """Whether an engine frame asks stemcast for something (else it is dropped)."""
    if isinstance(frame, bytes):
        return True  # msgpack: the session decodes (and answers errors) as on /ws
    try:
        fields = json.loads(frame)
    except ValueError:
        return True  # let the session answer BAD_FRAME, as /ws does
    if not isinstance(fields, dict):
        return True
    command = fields.get("command")
    if command is None:
        return False
    return not (isinstance(command, str) and command.startswith(IGNORED_COMMAND_PREFIX))


class PeerSocket:
    """A dialled connection with the methods ClientSession uses of Starlette's WebSocket."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection

    async def accept(self) -> None:
        pass  # the engine accepted us when we dialled

    async def receive(self) -> dict[str, Any]:
        while True:
            try:
                frame = await self._connection.recv()
            except ConnectionClosed:
                return {"type": "websocket.disconnect"}
            if is_request(frame):
                if isinstance(frame, bytes):
                    return {"type": "websocket.receive", "bytes": frame}
                return {"type": "websocket.receive", "text": frame}
            log.debug("engine link: not a request, ignored: %.200s", frame)

    async def send_text(self, data: str) -> None:
        await self._connection.send(data)

    async def send_bytes(self, data: bytes) -> None:
        await self._connection.send(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._connection.close(code, reason)


class EnginePeer:
    """Keeps one link to the engine at `url` open for the server's lifetime."""

    def __init__(self, url: str, services: SessionDeps, *, first_delay: float = FIRST_DELAY_S,
                 max_delay: float = MAX_DELAY_S) -> None:
        self.url = url
        self.services = services
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.connected = False
        self.connections = 0  # links opened so far (reconnects included)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="engine-peer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:

        delay = self.first_delay
        while True:
            try:
                async with connect(self.url, open_timeout=OPEN_TIMEOUT_S,
                                   max_size=MAX_FRAME_BYTES) as connection:
                    self.connected = True
                    self.connections += 1
                    delay = self.first_delay
                    log.info("engine link: connected to %s; identifying as the app server",
                             self.url)
                    await connection.send(json.dumps(IDENTIFY))
                    await ClientSession(PeerSocket(connection), self.services).run()  # type: ignore[arg-type]
                log.warning("engine link: %s closed the connection; dialling again in "
                            "%.0f s", self.url, delay)
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI,
                    ConnectionClosed) as exc:
                log.warning("engine link: cannot reach %s (%s: %s); trying again in %.0f s",
                            self.url, type(exc).__name__, exc, delay)
            finally:
                self.connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay)
