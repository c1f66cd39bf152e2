"""`stemcast worker`: one separation worker of a fleet, fed from Redis (`serve --queue`).

It loads its model once, heartbeats, takes jobs from the queue's streams and writes stems
to the shared data folder; SIGTERM drains the job in hand first (README: Deployment).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from stemcast.cli.common import DEVICE, MODEL
from stemcast.cli.flags import Flag, add_flags
from stemcast.config import QUEUE_SCHEMES

if TYPE_CHECKING:  # boto3 and the store load only when a command uses one
    from stemcast.storage.store import Store

QUEUE_HELP = "Redis URL of the fleet's queue (redis://host:6379/0)"

# Where the fleet's stems go, for `serve` and `worker` alike (README: Deployment).
STORAGE = (
    Flag("--storage", "STORAGE", str, None,
         "with --queue: put stems in an S3-compatible store (s3://BUCKET/PREFIX) or a "
         "folder store (file:///path) instead of a data folder shared with the workers; "
         "credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (README: Deployment)",
         dest="storage_url"),
    Flag("--storage-endpoint", "STORAGE_ENDPOINT", str, None,
         "the S3 endpoint of a store that is not AWS (http://minio:9000); also "
         "AWS_ENDPOINT_URL"),
)

# `serve`'s side of the fleet: its Settings fields queue_url, fleet_workers and workers.
SERVE_FLEET = (
    Flag("--queue", "QUEUE", str, None,
         "separate on `stemcast worker` processes through this Redis instead of local "
         "worker processes; the data folder must be shared with them (README: Deployment)",
         dest="queue_url"),
    Flag("--fleet-workers", "FLEET_WORKERS", int, 0,
         "with --queue: jobs handed to the fleet at once; 0 = one per worker that "
         "heartbeats"),
    *STORAGE,
    Flag("--workers", "WORKERS", int, 0,
         "with --queue: separation workers this server runs itself, taking jobs from the "
         "same Redis queue as the `stemcast worker`s; 0 = none, all on the fleet"),
)

WORKER = (
    Flag("--queue", "QUEUE", str, None, QUEUE_HELP),
    Flag("--model-fetch-timeout", "MODEL_FETCH_TIMEOUT", float, 20.0,
         "seconds to try downloading missing weights; 0 = never"),
    Flag("--precision", "PRECISION", str, "auto", "what the model runs in",
         choices=("auto", "fp32", "bf16", "fp16")),
    Flag("--batch-size", None, int, None,
         "segments per forward pass (default: 4 on CUDA, 1 on CPU)"),
    Flag("--name", None, str, None, "this worker's name in the fleet (default: HOST-PID)"),
    Flag("--heartbeat-ttl-s", "HEARTBEAT_TTL_S", float, 10.0,
         "a worker silent this long is dead: another takes its job"),
    Flag("--log-level", "LOG_LEVEL", str, "info", "how much to log",
         choices=("debug", "info", "warning", "error")),
    *STORAGE,
    Flag("--scratch-dir", "SCRATCH_DIR", Path, None,
         "with --storage: local folder for a job's input and stems while it runs "
         "(default: a temporary folder)"),
)


def open_checked_store(url: str, endpoint: str | None) -> Store:
    """The store, checked now: raises ValueError/StoreError (the fix in the message) for
    one that cannot work, so a wrong bucket or key is said at start-up, not on the first
    job."""
    from stemcast.storage.store import open_store

    store = open_store(url, endpoint)
    store.check()
    return store


def check_storage(url: str | None, endpoint: str | None) -> None:
    """open_checked_store for a process that opens its own store later (serve)."""
    if url:
        open_checked_store(url, endpoint)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("worker", help="a separation worker of the fleet (serve --queue)")
    add_flags(parser, WORKER, MODEL, DEVICE)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not args.queue:
        print(f"stemcast: worker needs --queue ({QUEUE_HELP}) or STEMCAST_QUEUE",
              file=sys.stderr)
        return 2
    if args.queue.split("://")[0] not in QUEUE_SCHEMES:
        print(f"stemcast: --queue must be a Redis URL (redis://host:6379/0); got "
              f"{args.queue!r}", file=sys.stderr)
        return 2
    if args.heartbeat_ttl_s < 0.3:
        print("stemcast: --heartbeat-ttl-s must be at least 0.3", file=sys.stderr)
        return 2
    from stemcast.fleet.node import Node, default_name
    from stemcast.fleet.redis_queue import RedisQueue
    from stemcast.logging_setup import LogSettings
    from stemcast.separation.worker_messages import WorkerConfig
    from stemcast.storage.store import StoreError

    log_settings = LogSettings(args.log_level, json_lines=False)
    log_settings.apply()
    name = args.name or default_name()
    shared = os.environ.get("STEMCAST_NUMBA_CACHE_DIR")
    # numba's cache is not safe for two writers: one folder per worker unless pre-filled.
    numba = shared or str(Path.home() / ".cache" / "stemcast" / f"numba-worker-{name}")
    config = WorkerConfig(model=args.model, model_repo=args.model_repo, device=args.device,
                          fetch_timeout=args.model_fetch_timeout, precision=args.precision,
                          batch_size=args.batch_size, numba_cache=numba, log=log_settings)
    files = None
    if args.storage_url:
        from stemcast.fleet.worker_files import WorkerFiles

        try:
            store = open_checked_store(args.storage_url, args.storage_endpoint)
        except (ValueError, StoreError) as exc:
            print(f"stemcast: {exc}", file=sys.stderr)
            return 2
        scratch = args.scratch_dir or Path(tempfile.mkdtemp(prefix=f"stemcast-{name}-"))
        files = WorkerFiles(store, scratch)
    node = Node(RedisQueue(args.queue), config, name, heartbeat_ttl_s=args.heartbeat_ttl_s,
                files=files)
    return asyncio.run(node.run())
