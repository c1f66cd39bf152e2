"""Tasks and worker events as msgpack records (what goes into the Redis streams).

The same dataclasses the local pool pickles over its pipes (separation/worker_messages.py),
written as `{"type": NAME, ...fields}` so a worker of another version fails loudly on a
record it does not know instead of unpickling code.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgpack

from stemcast.separation.worker_messages import (
    ModelDescription,
    SeparateTask,
    TaskChunk,
    TaskDone,
    TaskFailed,
    TaskOptions,
    TaskProgress,
    WorkerReady,
    WorkerToServer,
)
from stemcast_protocol import Stage

_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    SeparateTask, TaskProgress, TaskChunk, TaskDone, TaskFailed, WorkerReady)}


class WireError(ValueError):
    """A record that is not one of ours (another version, or not stemcast's)."""


def encode(message: SeparateTask | WorkerToServer) -> bytes:
    record = {"type": type(message).__name__, **dataclasses.asdict(message)}
    packed: bytes = msgpack.packb(record, use_bin_type=True)
    return packed


def decode(data: bytes) -> Any:
    try:
        record = msgpack.unpackb(data, raw=False)
        cls = _TYPES[record.pop("type")]
    except (ValueError, KeyError, TypeError, msgpack.UnpackException) as exc:
        raise WireError(f"not a stemcast fleet record ({exc!r}); are all the servers and "
                        "workers the same stemcast version?") from exc
    if cls is SeparateTask:
        record["options"] = TaskOptions(**record["options"])
    elif cls is TaskProgress:
        record["stage"] = Stage(record["stage"])
    elif cls is WorkerReady:
        record["models"] = tuple(ModelDescription(**{**m, "sources": tuple(m["sources"])})
                                 for m in record["models"])
    try:
        return cls(**record)
    except TypeError as exc:
        raise WireError(f"a {cls.__name__} record with other fields ({exc}); are all the "
                        "servers and workers the same stemcast version?") from exc


def decode_task(data: bytes) -> SeparateTask:
    task = decode(data)
    if not isinstance(task, SeparateTask):
        raise WireError(f"expected a task, got {type(task).__name__}")
    return task
