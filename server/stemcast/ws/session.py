"""One WebSocket session: decode frames, dispatch commands, push job events.

Replies go out in the format of the client's last frame (binary msgpack or JSON text).
A bad frame gets an `error` reply and the connection stays open. The outbox is
bounded: see OUTBOX_LIMIT and PROTOCOL.md ("Slow clients").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from stemcast import __version__
from stemcast.analysis.service import AnalysisService
from stemcast.audio import AudioError
from stemcast.library.library import TrackLibrary
from stemcast.library.paths import PathNotAllowedError
from stemcast.library.tracks import Track
from stemcast.requests import RequestFailed, StemsAsk, StemsPipeline
from stemcast.ws import seed_dialect
from stemcast.ws.fault_replies import storage_fault_error
from stemcast.ws.outbox_budget import CLOSE_REASON, OUTBOX_MAX_BYTES, approx_size
from stemcast.ws.subscription import RequestSubscription
from stemcast_protocol import (
    Cancel,
    Delivery,
    ErrorCode,
    FrameFormat,
    GetTrackInfo,
    Hello,
    ModelState,
    Ping,
    Priority,
    ProtocolError,
    Stage,
    cancelled_message,
    decode_frame,
    encode_frame,
    error_message,
    hello_message,
    parse_command,
    pong_message,
    progress_message,
    track_analysis_message,
    track_info_message,
)

log = logging.getLogger(__name__)

# Messages waiting to be sent to one client. Progress messages beyond half of it are
# dropped (a newer one follows within a second); if even essential messages pile up
# to the limit, the client is not reading and the connection is closed (code 1013).
OUTBOX_LIMIT = 512
CLOSE_TOO_SLOW = 1013
# stemChunk audio in the outbox: pumps pause above HIGH and resume below LOW, so a slow
# client costs at most this much memory (its audio waits on disk, not in RAM).
CHUNK_BYTES_HIGH = 8 << 20
CHUNK_BYTES_LOW = 4 << 20


class ConnectedClients:
    """How many WebSocket clients are connected now (for /health and /metrics)."""

    def __init__(self) -> None:
        self.count = 0


@dataclass(frozen=True)
class SessionDeps:
    """What a session uses, handed to it by the app (no service locator)."""

    library: TrackLibrary
    analysis: AnalysisService
    pipeline: StemsPipeline  # admits and finishes every stems request
    configured_model: str  # --model, named in trackInfo while the workers load
    clients: ConnectedClients


class ClientSession:
    def __init__(self, websocket: WebSocket, services: SessionDeps) -> None:
        self.ws = websocket
        self.services = services
        self.format = FrameFormat.MSGPACK
        self._outbox: deque[tuple[dict[str, Any], FrameFormat]] = deque()
        self._outbox_ready = asyncio.Event()
        self._outbox_bytes = 0  # approx_size of the messages in the outbox
        # Bytes of stem audio waiting in the outbox; chunk pumps wait while it is high.
        self._chunk_bytes = 0
        self._room = asyncio.Event()
        self._room.set()
        self.delivery = Delivery.PATH
        self._closing = False
        self._subscriptions: list[RequestSubscription] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # (requestId, remover) of trackAnalysis listeners: removed on cancel and at the end.
        self._analysis_waits: list[tuple[Any, Callable[[], None]]] = []
        self.dropped_progress = 0
        self.hello_seen = False  # JSON without hello: seed 000's dialect (ws/seed_dialect.py)
        self._frame_track_id = ""

    # ---- connection ----------------------------------------------------------------

    async def run(self) -> None:
        await self.ws.accept()
        self.services.clients.count += 1
        sender = asyncio.create_task(self._send_loop(), name="ws-sender")
        try:
            while not self._closing:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                frame = message.get("bytes")
                if frame is None:
                    frame = message.get("text", "")
                await self._handle_frame(frame)
        except WebSocketDisconnect:
            pass
        finally:
            self._closing = True  # job events still in flight for us are dropped
            self.services.clients.count -= 1
            for subscription in list(self._subscriptions):
                subscription.close()
                self._drop_subscription(subscription)
            for task in list(self._tasks):
                task.cancel()
            for _request_id, remove in self._analysis_waits:
                remove()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _send_loop(self) -> None:
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            while self._outbox:
                message, fmt = self._outbox.popleft()
                self._outbox_bytes -= approx_size(message)
                if message.get("type") == "stemChunk":
                    self._chunk_bytes -= len(message["data"])
                    if self._chunk_bytes <= CHUNK_BYTES_LOW:
                        self._room.set()
                try:
                    data = encode_frame(message, fmt)
                except ValueError:
                    # A bug, not the client's fault: log it and keep the session alive.
                    log.exception("could not encode a %s message", message.get("type"))
                    continue
                try:
                    if isinstance(data, bytes):
                        await self.ws.send_bytes(data)
                    else:
                        await self.ws.send_text(data)
                except Exception:  # the client went away; the receive loop ends too
                    self._closing = True
                    return

    def push(self, message: dict[str, Any], essential: bool = True) -> None:
        """Queue a message for this client without waiting (job events call this)."""
        if self._closing:
            return
        if not essential and len(self._outbox) >= OUTBOX_LIMIT // 2:
            self.dropped_progress += 1
            return
        if self.format == FrameFormat.JSON and not self.hello_seen:
            message = seed_dialect.to_seed(message, self._frame_track_id)
        size = approx_size(message)
        if len(self._outbox) >= OUTBOX_LIMIT or self._outbox_bytes + size > OUTBOX_MAX_BYTES:
            log.warning("closing a client that does not read its messages (%d queued, "
                        "%d bytes)", len(self._outbox), self._outbox_bytes)
            self._closing = True
            self._spawn(self.ws.close(code=CLOSE_TOO_SLOW, reason=CLOSE_REASON))
            return
        self._outbox_bytes += size
        self._outbox.append((message, self.format))
        if message.get("type") == "stemChunk":
            self._chunk_bytes += len(message["data"])
            if self._chunk_bytes >= CHUNK_BYTES_HIGH:
                self._room.clear()
        self._outbox_ready.set()

    async def wait_for_room(self) -> None:
        """Chunk pumps call this before reading more audio for this client."""
        await self._room.wait()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- frames and commands -------------------------------------------------------

    async def _handle_frame(self, frame: bytes | str) -> None:
        self.format = FrameFormat.JSON if isinstance(frame, str) else FrameFormat.MSGPACK
        fields: dict[str, Any] = {}
        try:
            fields, _fmt = decode_frame(frame)
            if seed_dialect.is_event_frame(fields):
                return
            self._frame_track_id = seed_dialect.frame_track_id(fields)
            command = parse_command(fields)
            if isinstance(command, GetTrackInfo):
                await self._get_track_info(command)
            elif isinstance(command, Hello):
                self.hello_seen = True
                if command.delivery is not None:
                    self.delivery = command.delivery
                self.push(self._hello())
            elif isinstance(command, Ping):
                self.push(pong_message(request_id=command.request_id, time=time.time()))
            elif isinstance(command, Cancel):
                await self._cancel(command)
        except ProtocolError as exc:
            self.push(error_message(exc))
        except Exception as exc:  # a bug must not take the connection down with it
            fault = storage_fault_error(exc, request_id=fields.get("requestId"),
                                        command=fields.get("command"))
            if fault is not None:  # a locked database or a full disk: not a bug
                self.push(fault)
                return
            log.exception("internal error handling a frame")
            self.push(error_message(ProtocolError(
                ErrorCode.INTERNAL_ERROR, f"internal server error: {type(exc).__name__}"
            )))

    def _hello(self) -> dict[str, Any]:
        model = self.services.pipeline.models()
        return hello_message(
            server_version=__version__,
            model=model.name,
            sources=list(model.sources),
            model_status=model.state,
            model_error=model.error,
            model_choice=model.choice,
            models=model.offer(),
        )

    async def _cancel(self, command: Cancel) -> None:
        """Stop following the request; its job stops too when this was its last follower,
        unless the client says keepJob (PROTOCOL.md 3.4)."""
        matching = [s for s in self._subscriptions if s.request_id == command.request_id]
        waits = [w for w in self._analysis_waits if w[0] == command.request_id]
        if not matching and not waits:
            raise ProtocolError(
                ErrorCode.REQUEST_NOT_FOUND,
                f"no running request with requestId {command.request_id!r} on this connection",
                request_id=command.request_id, command="cancel",
            )
        job_cancelled = False
        for subscription in matching:
            subscription.finished = True
            if subscription.job_id is not None and not command.keep_job:
                job_cancelled |= await self.services.pipeline.cancel_for(subscription.job_id,
                                                                         subscription)
            self._drop_subscription(subscription)
        for wait in waits:
            wait[1]()
            self._analysis_waits.remove(wait)
        self.push(cancelled_message(request_id=command.request_id,
                                    job_cancelled=job_cancelled))

    async def _resolve_track(self, command: GetTrackInfo) -> Track:
        library = self.services.library
        try:
            if command.track_id is not None:
                track = await library.get(command.track_id)
                if track is None:
                    raise ProtocolError(
                        ErrorCode.TRACK_NOT_FOUND,
                        f"no track with trackId '{command.track_id}'. Register the file with "
                        "POST /api/tracks or `stemcast add`, or send filePath instead",
                        request_id=command.request_id, command="getTrackInfo",
                    )
                return await library.refresh(track)
            assert command.file_path is not None
            return await library.add_allowed_path(command.file_path)
        except PathNotAllowedError as exc:
            raise ProtocolError(ErrorCode.PATH_NOT_ALLOWED, str(exc),
                                request_id=command.request_id, command="getTrackInfo") from exc
        except ValueError as exc:
            if isinstance(exc, AudioError):
                raise ProtocolError(ErrorCode(exc.code.value), str(exc),
                                    request_id=command.request_id,
                                    command="getTrackInfo") from exc
            raise ProtocolError(ErrorCode.INVALID_FIELD, f"filePath: {exc}",
                                request_id=command.request_id, command="getTrackInfo") from exc

    async def _get_track_info(self, command: GetTrackInfo) -> None:
        track = await self._resolve_track(command)
        pipeline = self.services.pipeline
        cached = await pipeline.stems_cached(track, command.model, command.output)
        analysis = track.analysis_api()
        pool_model = pipeline.models()
        hot_cues = [cue.to_api() for cue in await self.services.library.cues.for_track(track.id)]
        self.push(track_info_message(
            request_id=command.request_id,
            track_id=track.id,
            file_path=track.path,
            bpm=track.bpm,
            key=track.musical_key,
            mode=track.mode,
            duration_seconds=track.duration_seconds,
            sample_rate=track.sample_rate,
            channels=track.channels,
            title=track.title,
            stems_cached=cached,
            model=command.model or (pool_model.name if pool_model.state != ModelState.LOADING
                                    else self.services.configured_model),
            key_name=analysis["keyName"],
            camelot=analysis["camelot"],
            analysis=track.analysis_state,
            hot_cues=hot_cues,
            **seed_dialect.grid_fields(track),
        ))
        if track.analysis_state == "pending":
            self._follow_analysis(track, command.request_id)
        if command.stems:
            delivery = command.delivery or self.delivery
            subscription = RequestSubscription(
                request_id=command.request_id, track_id=track.id, push=self.push,
                on_finished=self._drop_subscription,
                pipeline=pipeline,
                output=command.output, drums=command.drums,
                # JSON has no binary type: a JSON client gets paths (PROTOCOL.md 4.9).
                binary=delivery == Delivery.BINARY and self.format == FrameFormat.MSGPACK,
                wait_for_room=self.wait_for_room,
            )
            self._subscriptions.append(subscription)
            # Hashing and queueing run beside the receive loop: the client may send more.
            ask = StemsAsk(track=track, model=command.model, output=command.output,
                           priority=command.priority)
            self._spawn(self._request_stems(ask, subscription))

    def _follow_analysis(self, track: Track, request_id: Any) -> None:
        """The DJ is waiting at the deck: analyse the track first, push the result."""
        analysis = self.services.analysis

        def done(finished: Track) -> None:
            self._analysis_waits[:] = [w for w in self._analysis_waits if w[1] is not remove]
            self._spawn(self._push_analysis(finished, request_id))

        remove = analysis.when_done(track.id, done)
        self._analysis_waits.append((request_id, remove))
        analysis.request(track, Priority.HIGH)

    async def _push_analysis(self, finished: Track, request_id: Any) -> None:
        """trackAnalysis with the cues as they are now (set while the analysis ran, too)."""
        cues = await self.services.library.cues.for_track(finished.id)
        self.push(track_analysis_message(
            request_id=request_id, track_id=finished.id,
            analysis=finished.analysis_api(), bpm=finished.bpm,
            key=finished.musical_key, mode=finished.mode,
            hot_cues=[cue.to_api() for cue in cues], **seed_dialect.grid_fields(finished)))

    async def _request_stems(self, ask: StemsAsk, subscription: RequestSubscription) -> None:
        def hashing() -> None:
            self.push(progress_message(
                request_id=subscription.request_id, track_id=ask.track.id, job_id=None,
                stage=Stage.DECODING, progress=0.0, eta_seconds=None, queue_position=None,
            ), False)

        async def still_wanted() -> bool:
            return not subscription.finished  # cancelled while hashing

        admitted = await self.services.pipeline.admit(ask, subscription,
                                                      still_wanted=still_wanted,
                                                      on_hashing=hashing)
        if isinstance(admitted, RequestFailed):
            subscription.fail(admitted.code, admitted.message)
        elif admitted is not None:
            subscription.job_id = admitted.job_id

    def _drop_subscription(self, subscription: RequestSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
        if subscription.job_id is not None:
            self.services.pipeline.unsubscribe(subscription.job_id, subscription)
