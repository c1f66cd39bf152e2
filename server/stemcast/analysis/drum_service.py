"""Drum transcription of a finished separation (seed 002): onsets on 8 lanes and MIDI.

Made on request (option `drums`) from the job's drum stem, once per job, into
`JOB/drums/` (a FolderCache entry: onsets.json, drums.mid, manifest.json), in the CPU
pool. The same audio and model give the same drum stem, so every later request for the
track is answered from those files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stemcast.cpu_pool import CpuPool
from stemcast.delivery.folder_cache import FolderCache, Manifest
from stemcast.jobs.events import JobCompleted
from stemcast_protocol.options import OptionError

DRUMS_DIR = "drums"


def drums_folder(output_dir: str) -> Path:
    return Path(output_dir) / DRUMS_DIR


class DrumTranscriber:
    def __init__(self, pool: CpuPool) -> None:
        self.pool = pool
        self._cache = FolderCache()
        self.transcribed = 0

    async def transcribe(self, completed: JobCompleted, bpm: float | None) -> dict[str, Any]:
        """{"onsets": path, "midi": path, "onsetCount": n, "lanes": {type: n}}."""
        from stemcast.analysis.tasks import transcribe_file

        drums = completed.stems.get("drums")
        if drums is None:
            raise OptionError("drums", f"needs a drum stem; model {completed.model} makes "
                                       f"{', '.join(completed.stems)}")
        folder = drums_folder(completed.output_dir)

        async def make() -> Manifest:
            summary = await self.pool.run(transcribe_file, drums, str(folder), bpm)
            self.transcribed += 1
            return {"files": {"onsets": summary["onsets"], "midi": summary["midi"]},
                    "summary": summary}

        manifest = await self._cache.get(folder, make)
        summary: dict[str, Any] = manifest["summary"]
        return summary
