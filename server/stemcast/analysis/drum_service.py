"""Drum transcription of a finished separation (seed 002): onsets on 8 lanes and MIDI.

Made on request (option `drums`) from the job's drum stem, once per job, into
`JOB/drums/` (a FolderCache entry: onsets.json, drums.mid, manifest.json), in the CPU
pool. The same audio and model give the same drum stem, so every later request for the
track is answered from those files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemcast.cpu_pool import CpuPool
from stemcast.jobs.events import JobCompleted
from stemcast.storage.folder_cache import FolderCache, Manifest
from stemcast.storage.job_folder import JobFolder
from stemcast_protocol.options import OptionError


@dataclass(frozen=True)
class DrumSummary:
    """One transcription's files and counts; kept as JSON in the folder's manifest."""

    onsets: str  # absolute path of onsets.json
    midi: str  # absolute path of drums.mid
    onset_count: int
    lanes: dict[str, int]  # onsets per lane type

    def to_dict(self) -> dict[str, Any]:
        return {"onsets": self.onsets, "midi": self.midi, "onsetCount": self.onset_count,
                "lanes": dict(self.lanes)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrumSummary:
        return cls(onsets=str(data["onsets"]), midi=str(data["midi"]),
                   onset_count=int(data["onsetCount"]),
                   lanes={str(k): int(v) for k, v in dict(data["lanes"]).items()})


def drums_folder(output_dir: str) -> Path:
    return JobFolder.of(output_dir).drums_dir


class DrumTranscriber:
    def __init__(self, pool: CpuPool) -> None:
        self.pool = pool
        self._cache = FolderCache()
        self.transcribed = 0

    async def transcribe(self, completed: JobCompleted, bpm: float | None) -> DrumSummary:
        """The transcription of the job's drum stem (made once, then read back)."""
        from stemcast.analysis.tasks import transcribe_file

        drums = completed.stems.get("drums")
        if drums is None:
            raise OptionError("drums", f"needs a drum stem; model {completed.model} makes "
                                       f"{', '.join(completed.stems)}")
        folder = drums_folder(completed.output_dir)

        async def make() -> Manifest:
            made = DrumSummary.from_dict(
                await self.pool.run(transcribe_file, drums, str(folder), bpm))
            self.transcribed += 1
            return {"files": {"onsets": made.onsets, "midi": made.midi},
                    "summary": made.to_dict()}

        manifest = await self._cache.get(folder, make)
        return DrumSummary.from_dict(manifest["summary"])
