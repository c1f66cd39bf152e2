"""HTTP callbacks from a durable outbox, with retries and exponential backoff.

Callbacks are rows in SQLite before any attempt, so neither a target that is down nor a
server restart loses one. Each job's callbacks go out in order: a later stage waits while
an earlier one is being retried. Attempts: one, then --callback-retries more, waiting
--callback-retry-delay × 1, 2, 4, ... seconds (2, 4, 8 s by default) between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

from stemcast.apijobs.callback_body import spool
from stemcast.apijobs.stems_payload import InlineTooLargeError, absolute_urls, inline_audio
from stemcast.apijobs.store import ApiJobStore, Callback
from stemcast.error_text import describe
from stemcast.net.outbound import OutboundPolicy, OutboundRefused, guarded_client
from stemcast.net.webhooks import WebhookSigner
from stemcast.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class CallbackDispatcher:
    def __init__(self, store: ApiJobStore, *, retries: int, retry_delay: float,
                 timeout: float, policy: OutboundPolicy | None = None,
                 inline_max_bytes: int | None = None,
                 public_url: str | None = None,
                 signer: WebhookSigner | None = None,
                 spool_dir: Path | None = None) -> None:
        self.store = store
        # Where bodies are written before they are sent (None: the system's temp folder).
        self.spool_dir = spool_dir
        # Standard Webhooks headers on every POST; signed with --callback-secret.
        self.signer = signer or WebhookSigner(None)
        # Every attempt connects through the outbound guard (no private targets unless
        # allowed): a callback_url is a client's choice of where the server connects.
        self.policy = policy or OutboundPolicy()
        self.inline_max_bytes = inline_max_bytes
        # Poll-mode URLs are made absolute with this base (--public-url), else with the
        # base URL the job was submitted to.
        self.public_url = public_url
        self.retries = retries
        self.retry_delay = retry_delay
        self.timeout = timeout
        self._wake = asyncio.Event()
        self._in_flight: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self.attempts = 0
        self.failures = 0

    def start(self) -> None:
        self._client = guarded_client(self.policy, timeout=self.timeout)
        self._runner = asyncio.create_task(self._run(), name="callback-dispatcher")

    async def stop(self) -> None:
        await cancel_and_wait([*self._tasks, self._runner])
        if self._client is not None:
            await self._client.aclose()

    def notify(self) -> None:
        """New callbacks were queued: look now instead of at the next due time."""
        self._wake.set()

    async def _run(self) -> None:
        resumed = await self.store.retry_pending_now()
        if resumed:
            log.info("%d callback(s) still to deliver from before the restart", resumed)
        while True:
            self._wake.clear()
            pending = await self.store.next_callbacks()
            now = time.time()
            wait: float | None = None
            for callback in pending:
                if callback.id in self._in_flight:
                    continue
                if callback.next_attempt_at <= now:
                    self._in_flight.add(callback.id)
                    task = asyncio.create_task(self._deliver(callback))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                else:
                    delay = callback.next_attempt_at - now
                    wait = delay if wait is None else min(wait, delay)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    def _body(self, callback: Callback, data: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "job_id": callback.api_job_id,
            "stage": callback.stage,
            "status": callback.status,
            "timestamp": callback.timestamp,
            "data": data,
        }
        if callback.status == "failed" and "error" in data:
            # Seed 000 shows the error at the top level as an object; data.error (what
            # the app stores) is the message string.
            body["error"] = {"code": data.get("error_code"), "message": data["error"]}
        return body

    async def _deliver(self, stale: Callback) -> None:
        assert self._client is not None
        try:
            # The loop's list may predate a delivery that just finished: re-read the row.
            callback = await self.store.get_callback(stale.id)
            if callback is None or callback.state != "pending":
                return
            self.attempts += 1
            error: str | None = None
            try:
                data = await asyncio.to_thread(inline_audio, callback.data,
                                               self.inline_max_bytes)
                base = self.public_url or await self.store.public_url(callback.api_job_id)
                body = self._body(callback, absolute_urls(data, base))
                # Written out here, not by httpx: the signature is over these exact bytes,
                # and a long track's waveforms and stems are made from their files into
                # a temporary file rather than memory (callback_body.py).
                content = await asyncio.to_thread(spool, body, self.spool_dir)
                with closing(content):
                    # One id per callback row: the same on every retry, so receivers can
                    # drop a duplicate delivery.
                    message_id = f"msg_{callback.api_job_id}_{callback.stage}_{callback.id}"
                    signed = await asyncio.to_thread(self.signer.headers, message_id,
                                                     content.chunks())
                    response = await self._client.post(
                        callback.url, content=content.stream(),
                        headers={"Content-Type": "application/json",
                                 "Content-Length": str(content.size),
                                 "X-Mismo-Job-ID": callback.api_job_id,
                                 "X-Mismo-Stage": callback.stage, **signed})
                if response.is_success:
                    await self.store.callback_delivered(callback.id)
                    log.info("callback %s/%s delivered to %s", callback.api_job_id,
                             callback.stage, callback.url)
                    return
                error = f"HTTP {response.status_code}"
            except (InlineTooLargeError, OutboundRefused) as exc:
                # Retrying cannot make the stems smaller or the address public.
                log.error("callback %s/%s not sent: %s", callback.api_job_id, callback.stage, exc)
                await self.store.callback_attempt_failed(callback.id, str(exc), None)
                self.failures += 1
                return
            except httpx.HTTPError as exc:
                # The job's record is readable by clients: keep what the target did (which
                # tells open ports from closed ones) for the operator's log only, and say
                # the cause in words that fit both (never an empty "ReadTimeout: ").
                log.info("callback %s/%s: %s", callback.api_job_id, callback.stage,
                         describe(exc))
                error = (f"no connection to the callback URL, or no answer within "
                         f"{self.timeout:g} s (--callback-timeout)")
            except OSError as exc:
                error = f"could not read the stems or waveforms to send (removed from disk?): {exc}"
            self.failures += 1
            attempt = callback.attempts + 1
            if attempt > self.retries:
                log.error("callback %s/%s to %s failed %d times (%s); giving up, the job stays "
                          "available by polling", callback.api_job_id, callback.stage,
                          callback.url, attempt, error)
                await self.store.callback_attempt_failed(callback.id, error, None)
            else:
                delay = self.retry_delay * 2 ** (attempt - 1)
                log.warning("callback %s/%s to %s failed (%s); retry in %.1f s",
                            callback.api_job_id, callback.stage, callback.url, error, delay)
                await self.store.callback_attempt_failed(callback.id, error, time.time() + delay)
        finally:
            self._in_flight.discard(stale.id)
            self._wake.set()
