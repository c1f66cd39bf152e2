"""`stemcast serve`: the server (WebSocket /ws, HTTP API, web page).

Every flag here is a Settings field of the same name (its `dest`), copied over as given:
adding an option is one Flag in one of the tuples below plus the Settings field
(tests/unit/test_cli_flags.py checks that every flag has its field).
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import socket
import sys
from pathlib import Path
from typing import Any

from stemcast.cli.common import CACHE_LIMITS, DATA_DIR, DEVICE, ENGINE, MODEL
from stemcast.cli.flags import Flag, add_flags, attrs
from stemcast.cli.worker import SERVE_FLEET, check_storage
from stemcast.config import Settings
from stemcast.storage.store import StoreError

LISTEN = (
    Flag("--host", "HOST", str, "127.0.0.1", "address to listen on"),
    Flag("--port", "PORT", int, 8000, "port to listen on"),
)
WORK = (
    Flag("--batch-size", None, int, None,
         "segments per forward pass (default: 4 on CUDA, 1 on CPU; halved automatically "
         "on CUDA out-of-memory)"),
    Flag("--max-concurrent-jobs", "MAX_CONCURRENT_JOBS", int, 1,
         "separations at once, one worker process each"),
    Flag("--library", "LIBRARY", Path, (), "folder of music to scan and allow (repeatable)",
         repeat=True, dest="library_dirs"),
    Flag("--allow-path-prefix", "ALLOW_PATH_PREFIX", Path, (),
         "folder clients may name files in by filePath (repeatable)", repeat=True,
         dest="allowed_path_prefixes"),
    Flag("--max-upload-mb", "MAX_UPLOAD_MB", int, 4096,
         "upload size limit in MB (a 3-hour 24-bit WAV is about 3 GB)"),
    Flag("--max-duration-s", "MAX_DURATION_S", float, 10800.0,
         "longest track to separate, in seconds (3 hours)"),
    Flag("--fetch-timeout", "FETCH_TIMEOUT", float, 900.0,
         "seconds a whole URL download (POST /api/tracks/fetch) may take; a read that "
         "waits 30 s fails sooner"),
)
CALLBACKS = (
    Flag("--callback-retries", "CALLBACK_RETRIES", int, 3, "retries after a failed callback"),
    Flag("--callback-retry-delay", "CALLBACK_RETRY_DELAY", float, 2.0,
         "first retry delay, doubled each time"),
    Flag("--callback-timeout", "CALLBACK_TIMEOUT", float, 30.0, "seconds per callback attempt"),
    Flag("--callback-inline-max-mb", "CALLBACK_INLINE_MAX_MB", float, 64.0,
         "largest stems (before base64) a stem_delivery_mode=callback job may send in its "
         "callback body"),
)
# The flags of SECURITY.md: the token, outbound requests, browser origins, client limits.
SECURITY = (
    Flag("--token", "TOKEN", str, None,
         "require 'Authorization: Bearer TOKEN' (or ?token=) on HTTP and WebSocket"),
    Flag("--callback-secret", "CALLBACK_SECRET", str, None,
         "sign callbacks (Standard Webhooks: webhook-signature), whsec_BASE64 or text"),
    Flag("--fetch-allow-private", "FETCH_ALLOW_PRIVATE", bool, False,
         "let URL ingest and callbacks reach loopback, private and link-local addresses "
         "(only on a trusted network)"),
    Flag("--callback-allow-host", "CALLBACK_ALLOW_HOST", str, (),
         "a host callbacks may reach although it is not public, e.g. localhost for an app "
         "server on this machine (repeatable)", metavar="HOST[:PORT]", repeat=True,
         dest="callback_allow_hosts"),
    Flag("--fetch-allow-host", "FETCH_ALLOW_HOST", str, (),
         "a host URL ingest (POST /api/tracks/fetch, page URLs' every request) may reach "
         "although it is not public, e.g. 127.0.0.1:8080 for a media server on this machine "
         "(repeatable)", metavar="HOST[:PORT]", repeat=True, dest="fetch_allow_hosts"),
    Flag("--allow-origin", "ALLOW_ORIGIN", str, (),
         "a browser origin (https://app.example.com) that may use this server besides its "
         "own; '*' allows any (repeatable)", metavar="ORIGIN", repeat=True,
         dest="allow_origins"),
    Flag("--max-connections-per-address", "MAX_CONNECTIONS_PER_ADDRESS", int, 128,
         "open connections one client address may hold"),
    Flag("--header-timeout-s", "HEADER_TIMEOUT_S", float, 30.0,
         "seconds a client has to send a request's headers"),
    Flag("--body-timeout-s", "BODY_TIMEOUT_S", float, 60.0,
         "seconds of silence allowed while a request body is sent"),
)
LOGGING = (
    Flag("--log-level", "LOG_LEVEL", str, "info", "how much to log",
         choices=("debug", "info", "warning", "error")),
    Flag("--log-json", "LOG_JSON", bool, False,
         "one JSON object per log line, with job_id/request_id"),
)
LINKS = (
    Flag("--public-url", "PUBLIC_URL", str, None,
         "base URL clients reach this server at (http://host:port), for absolute download "
         "URLs in poll mode; default: the URL each job was submitted to"),
    Flag("--engine-url", "ENGINE_URL", str, None,
         "dial a DJ engine that is a WebSocket server (ws://host:port, Mismo's "
         "AUDIO_SERVER_WS_URL) and answer its getTrackInfo as the Mismo app server does; "
         "reconnects with backoff"),
)
STORAGE = (
    *CACHE_LIMITS,
    Flag("--prune-interval-s", "PRUNE_INTERVAL_S", float, 300.0,
         "how often the cache limits are applied (also at start)"),
    Flag("--db-busy-timeout-s", "DB_BUSY_TIMEOUT_S", float, 5.0,
         "how long a database write waits for another process's lock before it is retried "
         "(twice, with backoff)"),
)

# Every group of `stemcast serve`, in the order --help lists them.
FLAGS = (LISTEN, DATA_DIR, MODEL, DEVICE, ENGINE, WORK, SERVE_FLEET, CALLBACKS, SECURITY,
         LOGGING, LINKS, STORAGE)

# Optional text settings: an empty value (STEMCAST_TOKEN=) means unset.
_EMPTY_IS_UNSET = ("token", "callback_secret", "public_url", "engine_url", "queue_url",
                   "storage_url", "storage_endpoint")


def settings_from(args: argparse.Namespace) -> Settings:
    values: dict[str, Any] = {name: getattr(args, name) for name in attrs(*FLAGS)}
    for name in _EMPTY_IS_UNSET:
        values[name] = values[name] or None
    for name in ("library_dirs", "allowed_path_prefixes"):
        values[name] = [Path(p).resolve() for p in values[name]]
    return Settings(**values)


def settings_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(Settings)}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="run the server (WebSocket /ws, HTTP API, web page)")
    add_flags(parser, *FLAGS)
    parser.set_defaults(handler=run)


def listen_socket(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound now: a taken port is found before anything
    starts (uvicorn binds only after the app's start-up, which had logged "ready" and
    spawned workers that then took 30-75 s to wind down). Raises OSError with the fix."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise OSError(f"--host {host!r} is not an address of this machine ({exc.strerror}); "
                      "use 127.0.0.1, 0.0.0.0 or one of its addresses") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        where = f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise OSError(f"{where} is already in use (another stemcast, or another "
                          "program); stop it, or choose another port with --port or "
                          "STEMCAST_PORT") from None
        if exc.errno == errno.EACCES:
            raise OSError(f"no permission to listen on {where} (ports below 1024 need "
                          "privileges); choose --port 1024 or above") from None
        raise OSError(f"cannot listen on {where}: {exc.strerror}; check --host and "
                      "--port") from None
    sock.set_inheritable(True)
    return sock


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        settings.validate()
        check_storage(settings.storage_url, settings.storage_endpoint)
        sock = listen_socket(settings.host, settings.port)
    except (ValueError, OSError, StoreError) as exc:
        print(f"stemcast: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, OSError) else 2
    # The heavy imports after the bind: a taken port is said at once.
    import uvicorn

    from stemcast.app import create_app
    from stemcast.http.conn_guard import guarded_protocol
    from stemcast.logging_setup import configure_logging

    configure_logging(settings.log_level, json_lines=settings.log_json)

    config = uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                            log_level=settings.log_level, ws_max_size=2 * 1024 * 1024,
                            log_config=None,
                            http=guarded_protocol(settings.max_connections_per_address,
                                                  settings.header_timeout_s))
    uvicorn.Server(config).run(sockets=[sock])
    return 0
