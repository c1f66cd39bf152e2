"""The fleet's msgpack records: every message survives the trip; strangers are named."""

from __future__ import annotations

import msgpack
import pytest

from stemcast.fleet.wire import WireError, decode, decode_task, encode
from stemcast.separation.worker_messages import (
    ModelDescription,
    SeparateTask,
    TaskChunk,
    TaskDone,
    TaskFailed,
    TaskOptions,
    TaskProgress,
    WorkerReady,
)
from stemcast_protocol import Stage

MESSAGES = [
    SeparateTask("j1", "/in.wav", "/jobs/j1", TaskOptions("tiny", "FLOAT", 2), 0, 7, "key", "h"),
    TaskProgress("j1", Stage.SEPARATING, 0.25),
    TaskProgress("j1", Stage.WRITING, 0.5, device="cuda:1"),
    TaskChunk("j1", 44100, 4410),
    TaskDone("j1", {"drums": "/jobs/j1/stems/drums.wav"}, 10.0, 2.5, 44100),
    TaskFailed("j1", "SEPARATION_FAILED", "why"),
    WorkerReady("tiny", "tiny", (ModelDescription("tiny", ("drums", "bass"), 44100, 2, "cpu",
                                                  "fp32", 7.8, "demucs"),), 123, "named"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_record_survives_the_trip(message: object) -> None:
    assert decode(encode(message)) == message  # type: ignore[arg-type]


def test_records_of_another_version_are_refused_saying_so() -> None:
    with pytest.raises(WireError, match="same stemcast version"):
        decode(msgpack.packb({"type": "SomethingNew", "x": 1}))
    with pytest.raises(WireError, match="TaskChunk record with other fields"):
        decode(msgpack.packb({"type": "TaskChunk", "job_id": "j", "frames": 1}))
    with pytest.raises(WireError, match="not a stemcast fleet record"):
        decode(b"\xc1not msgpack")
    with pytest.raises(WireError, match="expected a task"):
        decode_task(encode(TaskChunk("j", 0, 1)))


def test_progress_from_a_node_without_the_device_field_still_decodes() -> None:
    """A node of the version before the field: its ETA falls back to the server's device."""
    older = msgpack.packb({"type": "TaskProgress", "job_id": "j", "stage": "decoding",
                           "fraction": 0.0})
    assert decode(older) == TaskProgress("j", Stage.DECODING, 0.0, device=None)
