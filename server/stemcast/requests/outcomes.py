"""What a stems request asks for, and the typed ends it can come to."""

from __future__ import annotations

from dataclasses import dataclass

from stemcast.delivery.renditions import Delivered
from stemcast.jobs.events import JobCompleted
from stemcast.library.tracks import Track
from stemcast_protocol import OutputRequest, Priority


@dataclass(frozen=True)
class StemsAsk:
    """One client's request for a track's stems, as either front door read it."""

    track: Track
    model: str | None  # None: the server's default model
    output: OutputRequest
    priority: Priority


@dataclass(frozen=True)
class StemsReady:
    """The stems, rendered as the request asked (format, rate, variant, subset)."""

    completed: JobCompleted
    delivered: Delivered

    @property
    def job_id(self) -> str:
        return self.completed.job_id


@dataclass(frozen=True)
class DrumsReady:
    """The drum transcription of the job's drum stem (seed 002's 8 lanes)."""

    job_id: str
    track_id: str
    onsets: str  # absolute path of the onsets JSON
    midi: str  # absolute path of the MIDI file
    onset_count: int
    lanes: dict[str, int]

    @property
    def onsets_url(self) -> str:
        return f"/api/tracks/{self.track_id}/onsets.json"

    @property
    def midi_url(self) -> str:
        return f"/api/tracks/{self.track_id}/drums.mid"


@dataclass(frozen=True)
class RequestFailed:
    """Why a request (or its drum transcription) ended without a result."""

    code: str  # an ErrorCode value (PROTOCOL.md section 5)
    message: str  # names the problem and, where there is one, the fix
    job_id: str | None = None
