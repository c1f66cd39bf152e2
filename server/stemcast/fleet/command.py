"""The fleet's command-line parts: `serve --queue/--fleet-workers` and `stemcast worker`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

from stemcast.config import QUEUE_SCHEMES


def add_fleet_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                        serve: argparse.ArgumentParser,
                        model_args: Callable[[argparse.ArgumentParser], None]) -> None:
    """`model_args`: the model flags `serve` has (cli.py's), so a worker takes the same."""
    queue_help = ("Redis URL of the fleet's queue (redis://host:6379/0) [STEMCAST_QUEUE]")
    serve.add_argument("--queue", dest="queue_url", default=os.environ.get("STEMCAST_QUEUE"),
                       help="separate on `stemcast worker` processes through this Redis "
                            "instead of local worker processes; the data folder must be "
                            "shared with them (README: Deployment) [STEMCAST_QUEUE]")
    serve.add_argument("--fleet-workers", type=int,
                       default=int(os.environ.get("STEMCAST_FLEET_WORKERS", "0")),
                       help="with --queue: jobs handed to the fleet at once; 0 = one per "
                            "worker that heartbeats [STEMCAST_FLEET_WORKERS]")
    worker = sub.add_parser("worker", help="a separation worker of the fleet (serve --queue)")
    worker.add_argument("--queue", required=os.environ.get("STEMCAST_QUEUE") is None,
                        default=os.environ.get("STEMCAST_QUEUE"), help=queue_help)
    model_args(worker)
    worker.add_argument("--batch-size", type=int, default=None,
                        help="segments per forward pass (default: 4 on CUDA, 1 on CPU)")
    worker.add_argument("--name", default=None,
                        help="this worker's name in the fleet (default: HOST-PID)")
    worker.add_argument("--heartbeat-ttl-s", type=float,
                        default=float(os.environ.get("STEMCAST_HEARTBEAT_TTL_S", "10")),
                        help="a worker silent this long is dead: another takes its job "
                             "[STEMCAST_HEARTBEAT_TTL_S]")
    worker.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])


def run_worker(args: argparse.Namespace) -> int:
    from stemcast.fleet.node import Node, default_name
    from stemcast.fleet.redis_queue import RedisQueue
    from stemcast.logging_setup import configure_logging
    from stemcast.separation.worker_messages import WorkerConfig

    if args.queue.split("://")[0] not in QUEUE_SCHEMES:
        print(f"stemcast: --queue must be a Redis URL (redis://host:6379/0); got "
              f"{args.queue!r}", file=sys.stderr)
        return 2
    if args.heartbeat_ttl_s < 0.3:
        print("stemcast: --heartbeat-ttl-s must be at least 0.3", file=sys.stderr)
        return 2
    configure_logging(args.log_level, json_lines=False)
    name = args.name or default_name()
    shared = os.environ.get("STEMCAST_NUMBA_CACHE_DIR")
    # numba's cache is not safe for two writers: one folder per worker unless pre-filled.
    numba = shared or str(Path.home() / ".cache" / "stemcast" / f"numba-worker-{name}")
    config = WorkerConfig(model=args.model, model_repo=args.model_repo, device=args.device,
                          fetch_timeout=args.model_fetch_timeout, precision=args.precision,
                          batch_size=args.batch_size, numba_cache=numba)
    node = Node(RedisQueue(args.queue), config, name, heartbeat_ttl_s=args.heartbeat_ttl_s)
    return asyncio.run(node.run())

