"""What a stems request hands the scheduler, and what it gets back.

Frozen values at the boundary between the request pipeline (requests/) and the
scheduler: the pipeline resolves everything (model, options, audio hash) once, the
scheduler only decides cache, join or queue.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from stemcast.jobs.events import JobCompleted
from stemcast.jobs.models import Job, SeparationOptions
from stemcast_protocol import Priority


@dataclass(frozen=True)
class StemRequest:
    pcm_hash: str
    input_path: str
    track_id: str | None
    duration_seconds: float | None
    priority: Priority
    model: str  # resolved once by the request pipeline (requests/pipeline.py)
    options: SeparationOptions = field(default_factory=SeparationOptions)


@dataclass(frozen=True)
class Submission:
    job_id: str
    cached: bool  # the stems existed: JobCompleted was delivered already
    joined: bool  # another client had asked for the same work: now shared


def completed_event(job: Job, *, cached: bool) -> JobCompleted:
    """A completed job as its subscribers see it; everything comes from its record."""
    return JobCompleted(
        job_id=job.id,
        stems=job.stems,
        model=job.model,
        sample_rate=job.sample_rate or 44100,
        cached=cached,
        processing_time=job.processing_time,
        subtype=job.options.subtype,
        output_dir=job.output_dir,
    )


def stems_on_disk(paths: Iterable[str]) -> bool:
    """Whether a completed job's stem files are all still there (none were deleted)."""
    items = list(paths)
    return bool(items) and all(os.path.isfile(p) for p in items)
