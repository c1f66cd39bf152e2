"""`stemcast` command line: serve, add, tracks, cache, separate, make-test-model."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from stemcast import __version__
from stemcast.config import DEFAULT_MODEL, Settings, default_data_dir
from stemcast.fleet.command import add_fleet_arguments, run_worker


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"STEMCAST_{name}", default)


def _env_str(name: str, default: str) -> str:
    return os.environ.get(f"STEMCAST_{name}", default)


def _env_paths(name: str) -> list[Path]:
    value = _env(name)
    return [Path(p) for p in value.split(os.pathsep) if p] if value else []


def _add_common_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=_env("MODEL", DEFAULT_MODEL),
                        help="auto (default: htdemucs when its weights are on disk, else "
                             "the offline engine at once, htdemucs downloading in the "
                             "background), offline (4 stems, no download: Spleeter vocals + "
                             "DSP), spleeter-2stems, dsp, or a Demucs model: htdemucs, "
                             "htdemucs_ft, htdemucs_6s, mdx_extra, ... A model named here never "
                             "falls back to another [STEMCAST_MODEL]")
    parser.add_argument("--model-repo", type=Path, default=_env("MODEL_REPO"),
                        help="local folder of weights in demucs's layout (SIG-CHECKSUM.th files "
                             "and NAME.yaml); without it the HuggingFace cache is used "
                             "[STEMCAST_MODEL_REPO]")
    parser.add_argument("--model-fetch-timeout", type=float,
                        default=float(_env_str("MODEL_FETCH_TIMEOUT", "20")),
                        help="seconds to try downloading missing weights; 0 = never "
                             "(HF_HUB_OFFLINE=1 also turns downloads off) "
                             "[STEMCAST_MODEL_FETCH_TIMEOUT]")
    parser.add_argument("--device", default=_env("DEVICE", "auto"),
                        help="auto (CUDA when present), cpu, cuda or cuda:N [STEMCAST_DEVICE]")
    parser.add_argument("--precision", default=_env_str("PRECISION", "auto"),
                        choices=["auto", "fp32", "bf16", "fp16"],
                        help="what the model runs in; auto = bf16 where the hardware runs it "
                             "natively (CUDA, CPUs with AVX512-BF16 or AMX), else fp32 "
                             "[STEMCAST_PRECISION]")
    parser.add_argument("--shifts", type=int, default=int(_env_str("SHIFTS", "0")),
                        help="average over N random time shifts as demucs does (N times "
                             "slower, slightly better); 0 = off [STEMCAST_SHIFTS]")


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path,
                        default=Path(_env("DATA_DIR") or default_data_dir()),
                        help="jobs, uploads and the database [STEMCAST_DATA_DIR]; "
                             f"default {default_data_dir()}")


def _optional_float(name: str) -> float | None:
    value = _env(name)
    return float(value) if value else None


def _add_cache_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--retention-hours", type=float, default=_optional_float("RETENTION_HOURS"),
                        help="remove stems not used for this many hours (default: keep) "
                             "[STEMCAST_RETENTION_HOURS]")
    parser.add_argument("--cache-max-gb", type=float, default=_optional_float("CACHE_MAX_GB"),
                        help="keep the stem cache under this size, least recently used first "
                             "(default: no limit) [STEMCAST_CACHE_MAX_GB]")
    parser.add_argument("--min-keep-minutes", type=float,
                        default=float(_env_str("MIN_KEEP_MINUTES", "10")),
                        help="never remove stems served or announced this recently "
                             "[STEMCAST_MIN_KEEP_MINUTES]")


def _env_flag(name: str) -> bool:
    return _env_str(name, "0").lower() in ("1", "true", "yes")


def _env_list(name: str) -> list[str]:
    value = _env(name)
    return [item.strip() for item in value.split(",") if item.strip()] if value else []


def _add_security_args(serve: argparse.ArgumentParser) -> None:
    """The flags of SECURITY.md: outbound requests, browser origins, per-client limits."""
    serve.add_argument("--fetch-allow-private", action="store_true",
                       default=_env_flag("FETCH_ALLOW_PRIVATE"),
                       help="let URL ingest and callbacks reach loopback, private and "
                            "link-local addresses (only on a trusted network) "
                            "[STEMCAST_FETCH_ALLOW_PRIVATE=1]")
    serve.add_argument("--callback-allow-host", action="append",
                       default=_env_list("CALLBACK_ALLOW_HOST"), metavar="HOST[:PORT]",
                       help="a host callbacks may reach although it is not public, e.g. "
                            "localhost for an app server on this machine (repeatable) "
                            "[STEMCAST_CALLBACK_ALLOW_HOST, comma-separated]")
    serve.add_argument("--allow-origin", action="append", default=_env_list("ALLOW_ORIGIN"),
                       metavar="ORIGIN",
                       help="a browser origin (https://app.example.com) that may use this "
                            "server besides its own; '*' allows any (repeatable) "
                            "[STEMCAST_ALLOW_ORIGIN, comma-separated]")
    serve.add_argument("--max-connections-per-address", type=int,
                       default=int(_env_str("MAX_CONNECTIONS_PER_ADDRESS", "128")),
                       help="open connections one client address may hold "
                            "[STEMCAST_MAX_CONNECTIONS_PER_ADDRESS]")
    serve.add_argument("--header-timeout-s", type=float,
                       default=float(_env_str("HEADER_TIMEOUT_S", "30")),
                       help="seconds a client has to send a request's headers "
                            "[STEMCAST_HEADER_TIMEOUT_S]")
    serve.add_argument("--body-timeout-s", type=float,
                       default=float(_env_str("BODY_TIMEOUT_S", "60")),
                       help="seconds of silence allowed while a request body is sent "
                            "[STEMCAST_BODY_TIMEOUT_S]")
    serve.add_argument("--callback-inline-max-mb", type=float,
                       default=float(_env_str("CALLBACK_INLINE_MAX_MB", "64")),
                       help="largest stems (before base64) a stem_delivery_mode=callback job "
                            "may send in its callback body [STEMCAST_CALLBACK_INLINE_MAX_MB]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stemcast", description="Realtime stem separation.")
    parser.add_argument("--version", action="version", version=f"stemcast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (WebSocket /ws, HTTP API, web page)")
    serve.add_argument("--host", default=_env("HOST", "127.0.0.1"), help="[STEMCAST_HOST]")
    serve.add_argument("--port", type=int, default=int(_env_str("PORT", "8000")),
                       help="[STEMCAST_PORT]")
    _add_data_dir(serve)
    _add_common_model_args(serve)
    serve.add_argument("--batch-size", type=int, default=None,
                       help="segments per forward pass (default: 4 on CUDA, 1 on CPU; "
                            "halved automatically on CUDA out-of-memory)")
    serve.add_argument("--max-concurrent-jobs", type=int,
                       default=int(_env_str("MAX_CONCURRENT_JOBS", "1")),
                       help="separations at once, one worker process each "
                            "[STEMCAST_MAX_CONCURRENT_JOBS]")
    serve.add_argument("--library", type=Path, action="append", default=_env_paths("LIBRARY"),
                       help="folder of music to scan and allow (repeatable) [STEMCAST_LIBRARY, "
                            "os.pathsep-separated]")
    serve.add_argument("--allow-path-prefix", type=Path, action="append",
                       default=_env_paths("ALLOW_PATH_PREFIX"),
                       help="folder clients may name files in by filePath (repeatable) "
                            "[STEMCAST_ALLOW_PATH_PREFIX]")
    serve.add_argument("--max-upload-mb", type=int,
                       default=int(_env_str("MAX_UPLOAD_MB", "500")),
                       help="upload size limit [STEMCAST_MAX_UPLOAD_MB]")
    serve.add_argument("--max-duration-s", type=float,
                       default=float(_env_str("MAX_DURATION_S", "1200")),
                       help="longest track to separate, in seconds [STEMCAST_MAX_DURATION_S]")
    serve.add_argument("--callback-retries", type=int,
                       default=int(_env_str("CALLBACK_RETRIES", "3")),
                       help="retries after a failed callback [STEMCAST_CALLBACK_RETRIES]")
    serve.add_argument("--callback-retry-delay", type=float,
                       default=float(_env_str("CALLBACK_RETRY_DELAY", "2")),
                       help="first retry delay, doubled each time "
                            "[STEMCAST_CALLBACK_RETRY_DELAY]")
    serve.add_argument("--callback-timeout", type=float,
                       default=float(_env_str("CALLBACK_TIMEOUT", "30")),
                       help="seconds per callback attempt [STEMCAST_CALLBACK_TIMEOUT]")
    serve.add_argument("--token", default=_env("TOKEN"),
                       help="require 'Authorization: Bearer TOKEN' (or ?token=) on HTTP and "
                            "WebSocket [STEMCAST_TOKEN]")
    _add_security_args(serve)
    serve.add_argument("--log-level", default=_env("LOG_LEVEL", "info"),
                       choices=["debug", "info", "warning", "error"])
    serve.add_argument("--log-json", action="store_true",
                       default=_env_str("LOG_JSON", "0").lower() in ("1", "true", "yes"),
                       help="one JSON object per log line, with job_id/request_id "
                            "[STEMCAST_LOG_JSON=1]")
    serve.add_argument("--public-url", default=_env("PUBLIC_URL"),
                       help="base URL clients reach this server at (http://host:port), for "
                            "absolute download URLs in poll mode; default: the URL each job "
                            "was submitted to [STEMCAST_PUBLIC_URL]")
    serve.add_argument("--engine-url", default=_env("ENGINE_URL"),
                       help="dial a DJ engine that is a WebSocket server (ws://host:port, "
                            "Mismo's AUDIO_SERVER_WS_URL) and answer its getTrackInfo as the "
                            "Mismo app server does; reconnects with backoff "
                            "[STEMCAST_ENGINE_URL]")
    _add_cache_limits(serve)
    serve.add_argument("--prune-interval-s", type=float,
                       default=float(_env_str("PRUNE_INTERVAL_S", "300")),
                       help="how often the cache limits are applied (also at start) "
                            "[STEMCAST_PRUNE_INTERVAL_S]")
    serve.add_argument("--db-busy-timeout-s", type=float,
                       default=float(_env_str("DB_BUSY_TIMEOUT_S", "5")),
                       help="how long a database write waits for another process's lock "
                            "before it is retried (twice, with backoff) "
                            "[STEMCAST_DB_BUSY_TIMEOUT_S]")

    add = sub.add_parser("add", help="register audio files as tracks; prints their trackIds")
    add.add_argument("paths", nargs="+", type=Path)
    add.add_argument("--id", dest="track_id", default=None,
                     help="register the (one) file under this trackId, e.g. your app "
                          "server's UUID for it, so that getTrackInfo by that id finds it")
    _add_data_dir(add)

    tracks = sub.add_parser("tracks", help="list the tracks the server knows")
    _add_data_dir(tracks)
    tracks.add_argument("--json", action="store_true", help="one JSON object per line")

    cache = sub.add_parser("cache", help="the stem cache: ls, prune (by the limits), clear")
    cache.add_argument("action", choices=["ls", "prune", "clear"])
    _add_data_dir(cache)
    _add_cache_limits(cache)
    cache.add_argument("--json", action="store_true", help="ls: one JSON object per line")
    cache.add_argument("--force", action="store_true",
                       help="clear: also stems used within --min-keep-minutes (stop the "
                            "server first)")

    separate = sub.add_parser("separate", help="separate one file into stems, no server needed")
    separate.add_argument("input", type=Path)
    separate.add_argument("--out", type=Path, required=True, help="folder for the stem files")
    _add_common_model_args(separate)

    make = sub.add_parser("make-test-model",
                          help="write a random-weight Demucs model in the local-repo layout "
                               "(for tests, benchmarks and smoke tests; it separates nothing well)")
    make.add_argument("repo", type=Path)
    make.add_argument("--name", default="tiny")
    make.add_argument("--size", choices=["tiny", "full"], default="tiny")
    make.add_argument("--six-stems", action="store_true")
    make.add_argument("--seed", type=int, default=0)
    add_fleet_arguments(sub, serve, _add_common_model_args)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "serve": _serve,
        "add": _add,
        "tracks": _tracks,
        "cache": _cache,
        "separate": _separate,
        "make-test-model": _make_test_model,
        "worker": run_worker,
    }
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return 130


# `stemcast serve` flags that are Settings fields of the same name, taken as given.
_SETTINGS_FROM_FLAGS = (
    "host", "port", "data_dir", "model", "model_repo", "model_fetch_timeout", "device",
    "precision", "shifts", "batch_size", "max_concurrent_jobs", "max_upload_mb",
    "max_duration_s", "callback_retries", "callback_retry_delay", "callback_timeout",
    "log_level", "log_json", "retention_hours", "cache_max_gb", "min_keep_minutes",
    "prune_interval_s", "db_busy_timeout_s", "fetch_allow_private",
    "max_connections_per_address", "header_timeout_s", "body_timeout_s", "callback_inline_max_mb",
    "queue_url", "fleet_workers",
)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from stemcast.app import create_app

    settings = Settings(
        **{name: getattr(args, name) for name in _SETTINGS_FROM_FLAGS},
        library_dirs=[p.resolve() for p in args.library],
        allowed_path_prefixes=[p.resolve() for p in args.allow_path_prefix],
        token=args.token or None,
        callback_allow_hosts=args.callback_allow_host,
        allow_origins=args.allow_origin,
        public_url=args.public_url or None,
        engine_url=args.engine_url or None,
    )
    try:
        settings.validate()
    except ValueError as exc:
        print(f"stemcast: {exc}", file=sys.stderr)
        return 2
    from stemcast.logging_setup import configure_logging

    configure_logging(args.log_level, json_lines=settings.log_json)
    from stemcast.http.conn_guard import guarded_protocol

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level=args.log_level, ws_max_size=2 * 1024 * 1024,
                log_config=None,
                http=guarded_protocol(settings.max_connections_per_address,
                                      settings.header_timeout_s))
    return 0


def _add(args: argparse.Namespace) -> int:
    from stemcast.audio import AudioError
    from stemcast.db.database import open_database
    from stemcast.library.library import TrackIdError, TrackLibrary
    from stemcast.library.tracks import TrackSource, TrackStore

    if args.track_id is not None and len(args.paths) != 1:
        print("stemcast add: --id names one track; give exactly one file with it",
              file=sys.stderr)
        return 2

    async def run() -> int:
        db = await open_database(args.data_dir / "stemcast.sqlite3")
        failures = 0
        try:
            library = TrackLibrary(TrackStore(db), [])
            for path in args.paths:
                try:
                    if args.track_id is not None:
                        track = await library.add_file_with_id(path, TrackSource.CLI,
                                                               args.track_id)
                    else:
                        track = await library.add_file(path, TrackSource.CLI)
                    print(f"{track.id}\t{track.duration_seconds:8.2f}s\t{track.path}")
                except (AudioError, TrackIdError) as exc:
                    failures += 1
                    print(f"stemcast add: {exc}", file=sys.stderr)
        finally:
            await db.close()
        return 1 if failures else 0

    return asyncio.run(run())


def _tracks(args: argparse.Namespace) -> int:
    from stemcast.db.database import open_database
    from stemcast.library.tracks import TrackStore

    async def run() -> int:
        db = await open_database(args.data_dir / "stemcast.sqlite3")
        try:
            for track in await TrackStore(db).list(limit=100000):
                if args.json:
                    print(json.dumps(track.to_api()))
                else:
                    print(f"{track.id}\t{track.duration_seconds:8.2f}s\t{track.path}")
        finally:
            await db.close()
        return 0

    return asyncio.run(run())


def _cache(args: argparse.Namespace) -> int:
    from stemcast.cache import pruner
    from stemcast.db.database import open_database
    from stemcast.jobs.store import JobStore

    limits = pruner.Limits(args.retention_hours, args.cache_max_gb, args.min_keep_minutes)

    async def run() -> int:
        db = await open_database(args.data_dir / "stemcast.sqlite3")
        try:
            store = JobStore(db)
            if args.action == "ls":
                entries = await pruner.cache_entries(store)
                for entry in entries:
                    if args.json:
                        print(json.dumps({"jobId": entry.job_id, "dir": entry.output_dir,
                                          "lastUsed": entry.last_used,
                                          "sizeBytes": entry.size_bytes}))
                    else:
                        print(f"{entry.job_id}\t{entry.size_bytes / 1e6:10.2f} MB\t"
                              f"{_iso(entry.last_used)}\t{entry.output_dir}")
                if not args.json:
                    total = sum(e.size_bytes for e in entries)
                    print(f"{len(entries)} job(s), {total / 1e6:.2f} MB", file=sys.stderr)
                return 0
            if args.action == "prune":
                if limits.retention_hours is None and limits.cache_max_gb is None:
                    print("stemcast cache prune: give --retention-hours and/or --cache-max-gb",
                          file=sys.stderr)
                    return 2
                removals = await pruner.prune(store, limits)
            else:
                removals = await pruner.clear(store, limits, force=args.force)
            for removal in removals:
                print(f"removed\t{removal.entry.job_id}\t{removal.reason}\t"
                      f"{removal.entry.size_bytes}")
            freed = sum(r.entry.size_bytes for r in removals)
            print(f"{len(removals)} job(s) removed, {freed / 1e6:.2f} MB freed", file=sys.stderr)
            return 0
        finally:
            await db.close()

    return asyncio.run(run())


def _iso(timestamp: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _separate(args: argparse.Namespace) -> int:
    from stemcast.separate_file import separate_file

    return separate_file(args.input, args.out, model=args.model, model_repo=args.model_repo,
                         device=args.device, fetch_timeout=args.model_fetch_timeout,
                         precision=args.precision, shifts=args.shifts)


def _make_test_model(args: argparse.Namespace) -> int:
    from stemcast.separation import random_model

    argv = [str(args.repo), "--name", args.name, "--size", args.size, "--seed", str(args.seed)]
    if args.six_stems:
        argv.append("--six-stems")
    return random_model.main(argv)


if __name__ == "__main__":
    sys.exit(main())
