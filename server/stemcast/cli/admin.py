"""`stemcast add`, `tracks` and `cache`: the server's data, without the server."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from stemcast.cli.common import CACHE_LIMITS, DATA_DIR
from stemcast.cli.flags import Flag, add_flags

# `cache prune|clear` and the fleet's object store (README: Deployment); the same
# variables as `serve --storage`.
CACHE_STORE = (
    Flag("--storage", "STORAGE", str, None,
         "prune/clear: also delete the removed jobs' objects in this store (s3://BUCKET/"
         "PREFIX or file:///path), the one `serve --storage` wrote to", dest="storage_url"),
    Flag("--storage-endpoint", "STORAGE_ENDPOINT", str, None,
         "the S3 endpoint of a store that is not AWS (http://minio:9000); also "
         "AWS_ENDPOINT_URL"),
    Flag("--local-only", None, bool, False,
         "prune/clear: delete the local files only, leaving the jobs' objects in the "
         "store that this data folder's server used (--storage)"),
)


def register(sub: argparse._SubParsersAction) -> None:
    add = sub.add_parser("add", help="register audio files as tracks; prints their trackIds")
    add.add_argument("paths", nargs="+", type=Path)
    add.add_argument("--id", dest="track_id", default=None,
                     help="register the (one) file under this trackId, e.g. your app "
                          "server's UUID for it, so that getTrackInfo by that id finds it")
    add_flags(add, DATA_DIR)
    add.set_defaults(handler=run_add)

    tracks = sub.add_parser("tracks", help="list the tracks the server knows")
    add_flags(tracks, DATA_DIR)
    tracks.add_argument("--json", action="store_true", help="one JSON object per line")
    tracks.set_defaults(handler=run_tracks)

    cache = sub.add_parser("cache", help="the stem cache: ls, prune (by the limits), clear")
    cache.add_argument("action", choices=["ls", "prune", "clear"])
    add_flags(cache, DATA_DIR, CACHE_LIMITS, CACHE_STORE)
    cache.add_argument("--json", action="store_true", help="ls: one JSON object per line")
    cache.add_argument("--force", action="store_true",
                       help="clear: also stems used within --min-keep-minutes (stop the "
                            "server first)")
    cache.set_defaults(handler=run_cache)


def run_add(args: argparse.Namespace) -> int:
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


def run_tracks(args: argparse.Namespace) -> int:
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


def run_cache(args: argparse.Namespace) -> int:
    from stemcast.cache import pruner
    from stemcast.db.database import open_database
    from stemcast.jobs.store import JobStore

    limits = pruner.Limits(args.retention_hours, args.cache_max_gb, args.min_keep_minutes)
    if args.action != "ls":
        refused = _use_cache_store(args)
        if refused is not None:
            return refused

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


def _use_cache_store(args: argparse.Namespace) -> int | None:
    """Make prune/clear delete the removed jobs' objects in the store too, as the server's
    own pruning does; the exit status when it cannot (a store that does not work, or one
    the data folder's server used that the command was not told about)."""
    from stemcast.cli.worker import open_checked_store
    from stemcast.storage.job_objects import use_store
    from stemcast.storage.store import StoreError
    from stemcast.storage.store_record import recorded_store

    command = f"stemcast cache {args.action}"
    record = recorded_store(args.data_dir)
    if args.storage_url and args.local_only:
        print(f"{command}: --local-only leaves the store alone; give it or --storage, "
              "not both", file=sys.stderr)
        return 2
    if args.storage_url:
        try:
            store = open_checked_store(args.storage_url, args.storage_endpoint)
        except (ValueError, StoreError) as exc:
            print(f"{command}: {exc}", file=sys.stderr)
            return 2
        if record is not None and record.url.rstrip("/") != args.storage_url.rstrip("/"):
            print(f"{command}: note: this data folder's server last used {record.url}; "
                  f"deleting the objects in {args.storage_url}", file=sys.stderr)
        use_store(store)
        return None
    use_store(None)  # local files only
    if record is not None and not args.local_only:
        print(f"{command}: this data folder's server put stems in {record.url}; without "
              "--storage their objects would stay in the store for good. Add "
              f"{record.flags()} (with the credentials `stemcast serve` had) to delete them "
              "too, or --local-only to delete the local files only", file=sys.stderr)
        return 2
    return None


def _iso(timestamp: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
