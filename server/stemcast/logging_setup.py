"""Logging: plain text lines by default, one JSON object per line with `--log-json`.

Every JSON line has time, level, logger and message, plus `job_id` and `request_id`
when known: from `extra={"job_id": ...}`, from the context variables set by the request
middleware (`request_id`) and `job_context`, or, for the scheduler's and worker pool's
"job <id> ..." lines, from the job id the message names.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "stemcast_request_id", default=None)
job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "stemcast_job_id", default=None)

_JOB_IN_MESSAGE = re.compile(
    r"\bjob (?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")


@contextlib.contextmanager
def job_context(job_id: str) -> Iterator[None]:
    token = job_id_var.set(job_id)
    try:
        yield
    finally:
        job_id_var.reset(token)


class ContextFilter(logging.Filter):
    """Puts job_id and request_id on each record (None when unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        if getattr(record, "job_id", None) is None:
            job_id = job_id_var.get()
            if job_id is None:
                match = _JOB_IN_MESSAGE.search(record.getMessage())
                job_id = match.group("id") if match else None
            record.job_id = job_id
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("job_id", "request_id"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


# Secrets that reach log lines: ?token= in request lines (uvicorn's access log, WebSocket
# handshakes, callback URLs), Authorization headers in tracebacks and debug output.
_SECRETS = (
    (re.compile(r"([?&;](?:token|access_token|api_key|apikey|signature|x-amz-signature|x-amz-credential|x-amz-security-token)=)[^&\s\"'#]+",
                re.IGNORECASE), r"\1[redacted]"),
    (re.compile(r"(authorization[\"']?\s*[:=,]\s*(?:b?[\"'])?)[^\"'\r\n,})]+", re.IGNORECASE),
     r"\1[redacted]"),
    (re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}", re.IGNORECASE), r"\1 [redacted]"),
)


def scrub(text: str) -> str:
    """The text with query tokens and credentials replaced by [redacted]."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class ScrubbingFormatter(logging.Formatter):
    """Formats with another formatter, then scrubs the whole line (traceback included)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return scrub(self.inner.format(record))


@dataclass(frozen=True)
class LogSettings:
    """The server's --log-level and --log-json, handed to every process it spawns (the
    separation workers, the CPU pools), so their lines come out in the same shape."""

    level: str = "info"
    json_lines: bool = False

    def apply(self) -> None:
        configure_logging(self.level, json_lines=self.json_lines)


def configure_logging(level: str, *, json_lines: bool) -> None:
    # Python warnings (torch's, librosa's) go through logging too: in JSON when asked,
    # instead of bare text lines in a JSON stream.
    logging.captureWarnings(True)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    inner = JsonFormatter() if json_lines else \
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(ScrubbingFormatter(inner))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


class RequestIdMiddleware:
    """Gives each HTTP request an id (the client's X-Request-ID, or a new one), sets it
    for the log lines written while handling it, and echoes it in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode(
            "latin-1")[:64]
        request_id = given or uuid.uuid4().hex[:16]
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
