"""A drum transcription as a Standard MIDI File: one note per onset on channel 10."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import mido

from stemcast.analysis.drums import LANES, Onset
from stemcast.storage.atomic import atomic_target

TICKS_PER_BEAT = 480
DEFAULT_BPM = 120.0
DRUM_CHANNEL = 9  # mido counts from 0: MIDI channel 10, General MIDI's percussion
NOTE_SECONDS = 0.1  # drum notes are triggers; a short note-off keeps DAWs tidy


def _ticks(seconds: float, tempo: int) -> int:
    return max(0, round(seconds * 1e6 / tempo * TICKS_PER_BEAT))


def write_midi(onsets: Sequence[Onset], path: Path, *, bpm: float | None) -> None:
    """A type-0 file at `bpm` (120 when None), each onset its lane's first note number.

    Written to a temporary name in the same folder, then renamed over `path`.
    """
    tempo = mido.bpm2tempo(bpm if bpm and bpm > 0 else DEFAULT_BPM)
    length = max(1, _ticks(NOTE_SECONDS, tempo))
    notes = sorted((_ticks(o.time, tempo), LANES[o.lane].notes[0], min(127, max(1, o.velocity)))
                   for o in onsets)
    events: list[tuple[int, int, mido.Message]] = []
    next_on: dict[int, int] = {}  # note -> the tick it is struck next, walking backwards
    for on, note, velocity in reversed(notes):
        # A note ends before the same drum is struck again, so no two of them overlap.
        following = next_on.get(note)
        off = on + length if following is None or following <= on else min(on + length,
                                                                             following)
        next_on[note] = on
        events.append((on, 1, mido.Message("note_on", channel=DRUM_CHANNEL, note=note,
                                           velocity=velocity)))
        events.append((off, 0, mido.Message("note_off", channel=DRUM_CHANNEL, note=note,
                                            velocity=0)))
    # At one tick a note-off goes first, so a drum struck again right away is not cut short.
    events.sort(key=lambda event: (event[0], event[1]))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name="drums", time=0))
    track.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    now = 0
    for tick, _, message in events:
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_target(path) as partial, partial.open("wb") as file:
        midi.save(file=file)
