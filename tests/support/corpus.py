"""A ground-truth music corpus: MIDI songs at known tempos and keys, rendered with FluidSynth.

Each song is four MIDI parts (drums, bass, chords as "other", a lead melody as "vocals"),
rendered one part at a time so the stems are exact ground truth; the mix is their sum.
Drums, bass and other are FluidSynth renders; the lead is sung by espeak-ng, one syllable a
note (tests/support/singing.py), so "vocals" is a voice, not a GM instrument patch.
Nothing here is committed as audio: `render_corpus` writes WAVs into a folder and reuses
them while the spec (and this generator's version) stays the same.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from tests.support.singing import SungNote, espeak_available, espeak_version, sing, voice_for

SAMPLE_RATE = 44100
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
STEMS = ("drums", "bass", "other", "vocals")
# Bump when the composition or the rendering changes, so cached songs are rendered again.
CORPUS_VERSION = 6  # 6: the lead sung by espeak-ng, not a GM voice patch
TICKS_PER_BEAT = 480
GAIN = 0.6
PEAK_LIMIT = 0.89  # -1 dBFS: the mix is scaled down (stems with it) if it would go above
FADE_SECONDS = 0.02  # the cut at the end of every stem, so it does not click
# Mix levels (RMS, dBFS) before the peak limit: GM presets differ by 10 dB and more in
# loudness, so each stem gets one gain, as an engineer's fader would give it.
# The voice (silent between phrases, so its RMS undersells it) sits on top, as in a pop mix.
STEM_LEVELS = {"drums": -24.0, "bass": -25.0, "other": -28.0, "vocals": -24.0}

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
KEY_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Seed 002's lanes, written out here rather than imported, so the ground truth does not
# depend on the code it is used to check.
DRUM_LANES: dict[int, int] = {
    36: 0, 38: 1, 40: 1, 42: 2, 44: 2, 46: 2, 48: 3, 50: 3, 45: 4, 47: 4, 41: 5, 43: 5,
    49: 6, 52: 6, 55: 6, 57: 6, 51: 7, 53: 7, 59: 7,
}
KICK, SNARE, CLOSED_HAT, OPEN_HAT = 36, 38, 42, 46
HIGH_TOM, MID_TOM, FLOOR_TOM, CRASH, RIDE = 50, 47, 43, 49, 51


@dataclass(frozen=True)
class SongSpec:
    name: str
    bpm: float
    key: int  # 0-11, C = 0
    mode: int  # 1 major, 0 minor
    seconds: float
    seed: int

    @property
    def key_name(self) -> str:
        return f"{KEY_NAMES[self.key]} {'major' if self.mode == 1 else 'minor'}"


@dataclass(frozen=True)
class DrumHit:
    time: float  # seconds, the note-on time; the audio is aligned to it
    lane: int
    note: int


@dataclass(frozen=True)
class RenderedSong:
    spec: SongSpec
    mix: Path
    stems: dict[str, Path]
    drum_hits: tuple[DrumHit, ...]
    midi: dict[str, Path]


@dataclass(frozen=True)
class _Note:
    beat: float
    beats: float  # duration
    pitch: int
    velocity: int


@dataclass(frozen=True)
class _Part:
    program: int | None  # None: the drum channel's default kit
    channel: int  # mido's 0-based channel; 9 is MIDI channel 10
    pan: int  # CC10, 64 is centre
    volume: int  # CC7
    notes: tuple[_Note, ...]


DEFAULT_SONGS: tuple[SongSpec, ...] = (
    SongSpec("pop-f-major", 92.0, 5, 1, 18.0, 1),
    SongSpec("house-a-minor", 128.0, 9, 0, 15.0, 2),
    SongSpec("rock-d-major", 140.0, 2, 1, 14.0, 3),
    SongSpec("dnb-e-minor", 174.0, 4, 0, 14.0, 4),
    SongSpec("funk-g-minor", 110.0, 7, 0, 16.0, 5),
    SongSpec("ballad-eb-major", 80.0, 3, 1, 18.0, 6),
)


NEEDS = ("needs FluidSynth, the FluidR3 GM soundfont and espeak-ng to render the corpus "
         "(Debian: apt-get install fluidsynth fluid-soundfont-gm espeak-ng)")


def fluidsynth_available() -> bool:
    """Everything a render needs: FluidSynth, its GM soundfont and espeak-ng (the lead)."""
    return (shutil.which("fluidsynth") is not None and SOUNDFONT.is_file()
            and espeak_available())


# --- composition -------------------------------------------------------------------------

def _bars(spec: SongSpec) -> int:
    # Leave about a second at the end for the last notes to ring out.
    return max(2, math.floor((spec.seconds - 1.0) * spec.bpm / 240.0))


def _velocity(rng: np.random.Generator, centre: float, spread: float = 6.0) -> int:
    return int(np.clip(round(rng.normal(centre, spread)), 1, 127))


def _degree(progression: list[int], bar: int, bars: int) -> int:
    """The chord of `bar`: the progression over and over, ending on the tonic."""
    return 0 if bar == bars - 1 else progression[bar % len(progression)]


def _chord(spec: SongSpec, degree: int) -> tuple[int, int, int]:
    """Pitch classes of the diatonic triad on `degree`; V in minor takes the leading tone."""
    scale = MAJOR if spec.mode == 1 else MINOR
    pcs = [(spec.key + scale[(degree + step) % 7]) % 12 for step in (0, 2, 4)]
    if spec.mode == 0 and degree == 4:
        pcs[1] = (pcs[1] + 1) % 12  # harmonic minor: the major dominant
    return pcs[0], pcs[1], pcs[2]


def _progression(spec: SongSpec, rng: np.random.Generator) -> list[int]:
    # Common progressions that start on the tonic; minor ones reach it through the major
    # dominant (harmonic minor), as most minor-key songs do.
    major = ([0, 4, 5, 3], [0, 3, 4, 0], [0, 5, 3, 4], [0, 3, 0, 4])
    minor = ([0, 3, 4, 0], [0, 5, 3, 4], [0, 6, 5, 4], [0, 3, 0, 4])
    choices = major if spec.mode == 1 else minor
    return list(choices[int(rng.integers(len(choices)))])


def _style(bpm: float) -> str:
    if bpm < 100:
        return "ballad"
    if bpm < 120:
        return "funk"
    if bpm < 136:
        return "house"
    return "rock" if bpm < 160 else "dnb"


def _drums(spec: SongSpec, rng: np.random.Generator) -> list[_Note]:
    """A groove of kick, snare and hats; tom fills, a crash per section, ride in section 2."""
    style = _style(spec.bpm)
    bars = _bars(spec)
    section = 4 if bars >= 8 else 2
    kick_beats = {
        "ballad": [0.0, 2.0, 2.5],
        "funk": [0.0, 0.75, 2.5],
        "house": [0.0, 1.0, 2.0, 3.0],
        "rock": [0.0, 1.5, 2.0],
        "dnb": [0.0, 1.5],
    }[style]
    hat_step = 0.25 if style == "ballad" else 0.5
    notes: list[_Note] = []

    def hit(beat: float, pitch: int, velocity: int) -> None:
        notes.append(_Note(beat, 0.0, pitch, velocity))

    for bar in range(bars):
        start = bar * 4.0
        index = bar // section
        fill_bar = bar % section == section - 1
        # The fill takes the last two beats of a section; no hats under it.
        groove_end = 2.0 if fill_bar else 4.0
        if bar % section == 0:
            hit(start, CRASH, _velocity(rng, 112))
        for beat in kick_beats:
            if beat < groove_end:
                hit(start + beat, KICK, _velocity(rng, 108))
        for beat in (1.0, 3.0):
            if beat < groove_end:
                hit(start + beat, SNARE, _velocity(rng, 106))
        ride = index == 1
        step = 1.0 if ride and style == "house" else hat_step
        for k in range(round(groove_end / step)):
            beat = k * step
            if bar % section == 0 and beat == 0.0:
                continue  # the crash stands for the first hat
            on_beat = beat % 1 == 0
            if ride:
                hit(start + beat, RIDE, _velocity(rng, 84 if on_beat else 72))
            elif style == "house":
                # House hats sit between the kicks, open on the last off-beat every other bar.
                if not on_beat:
                    pitch = OPEN_HAT if beat == 3.5 and bar % 2 else CLOSED_HAT
                    hit(start + beat, pitch, _velocity(rng, 84))
            else:
                hit(start + beat, CLOSED_HAT, _velocity(rng, 86 if on_beat else 64))
        if fill_bar:
            fill_step = 0.25 if spec.bpm < 120 else 0.5
            count = round(2.0 / fill_step)
            toms = [HIGH_TOM, MID_TOM, FLOOR_TOM]
            for k in range(count):
                tom = toms[min(2, k * 3 // count)]
                hit(start + 2.0 + k * fill_step, tom, _velocity(rng, 104))
    # End on a crash and a kick if there is room for it to ring.
    end = bars * 4.0
    if end * 60.0 / spec.bpm < spec.seconds - 0.5:
        hit(end, CRASH, _velocity(rng, 115))
        hit(end, KICK, _velocity(rng, 110))
    notes.sort(key=lambda n: (n.beat, n.pitch))
    # A drum's note lasts until the same drum strikes again (at most 1.5 s): GM kits mostly
    # ignore note-off, but FluidR3's cymbals shorten on it.
    spb = 60.0 / spec.bpm
    out = []
    for i, note in enumerate(notes):
        later = [n.beat for n in notes[i + 1:] if n.pitch == note.pitch]
        gap = (later[0] - note.beat) if later else 1.5 / spb
        out.append(_Note(note.beat, min(gap * 0.95, 1.5 / spb), note.pitch, note.velocity))
    return out


def _bass(spec: SongSpec, rng: np.random.Generator, progression: list[int]) -> list[_Note]:
    # (beat, beats, which chord tone: 0 root, 2 fifth, 3 octave)
    patterns = {
        "eighths": [(k * 0.5, 0.5, 0) for k in range(8)],
        "root-fifth": [(0.0, 1.5, 0), (1.5, 0.5, 0), (2.0, 1.5, 2), (3.5, 0.5, 0)],
        "octave": [(0.0, 1.0, 0), (1.0, 0.5, 3), (1.5, 0.5, 0), (2.0, 1.0, 0), (3.0, 0.5, 3),
                   (3.5, 0.5, 0)],
        "sparse": [(0.0, 1.5, 0), (2.5, 1.5, 0)],
    }
    names = ["sparse", "root-fifth"] if spec.bpm >= 160 else list(patterns)
    pattern = patterns[names[int(rng.integers(len(names)))]]
    notes = []
    bars = _bars(spec)
    for bar in range(bars):
        pcs = _chord(spec, _degree(progression, bar, bars))
        root = 28 + (pcs[0] - 4) % 12  # E1..D#2, the lowest octave of a 4-string bass
        fifth = root + (pcs[2] - pcs[0]) % 12
        for beat, beats, tone in pattern:
            pitch = {0: root, 2: fifth, 3: root + 12}[tone]
            notes.append(_Note(bar * 4.0 + beat, beats * 0.9, pitch,
                               _velocity(rng, 96 if beat % 1 == 0 else 84)))
    return notes


def _voicing(pcs: tuple[int, ...], previous: list[int] | None) -> list[int]:
    """The triad voicing in 52..76 that moves least from the previous chord."""
    candidates = []
    for low in range(52, 68):
        if low % 12 not in pcs:
            continue
        voicing = [low]
        for _ in range(2):
            voicing.append(next(p for p in range(voicing[-1] + 1, voicing[-1] + 13)
                                if p % 12 in pcs and p % 12 not in {v % 12 for v in voicing}))
        candidates.append(voicing)
    if previous is None:
        return min(candidates, key=lambda v: (v[0] % 12 != pcs[0], abs(v[0] - 60)))
    return min(candidates, key=lambda v: sum(abs(a - b) for a, b in zip(v, previous,
                                                                         strict=True)))


def _chords(spec: SongSpec, rng: np.random.Generator, progression: list[int]) -> list[_Note]:
    rhythms = {
        "whole": [(0.0, 4.0)],
        "halves": [(0.0, 2.0), (2.0, 2.0)],
        "quarters": [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0), (3.0, 1.0)],
        "push": [(0.0, 1.5), (1.5, 1.0), (2.5, 1.5)],
    }
    names = ["whole", "halves", "push"] if spec.bpm >= 136 else list(rhythms)
    rhythm = rhythms[names[int(rng.integers(len(names)))]]
    notes: list[_Note] = []
    previous: list[int] | None = None
    bars = _bars(spec)
    for bar in range(bars):
        voicing = _voicing(_chord(spec, _degree(progression, bar, bars)), previous)
        previous = voicing
        for beat, beats in rhythm:
            velocity = _velocity(rng, 74 if beat == 0 else 66)
            notes.extend(_Note(bar * 4.0 + beat, beats * 0.95, p, velocity) for p in voicing)
    return notes


def _nearest(pitches: list[int], pitch: int) -> int:
    """The pitch closest to `pitch` (the lower of two as close)."""
    return min(pitches, key=lambda p: (abs(p - pitch), p))


def _melody(spec: SongSpec, rng: np.random.Generator, progression: list[int]) -> list[_Note]:
    """Chord tones on the strong beats, steps through the scale between; a rest every 2 bars."""
    rhythms = [
        [(0.0, 1.0), (1.0, 1.0), (2.0, 1.5), (3.5, 0.5)],
        [(0.0, 1.5), (1.5, 0.5), (2.0, 2.0)],
        [(0.0, 0.5), (0.5, 0.5), (1.0, 1.0), (2.0, 1.0), (3.0, 1.0)],
        [(0.0, 2.0), (2.0, 1.0), (3.0, 1.0)],
    ]
    phrase_end = [(0.0, 1.0), (1.0, 1.0), (2.0, 1.5)]
    bars = _bars(spec)
    notes: list[_Note] = []
    pitch = 72 + spec.key - (12 if spec.key >= 7 else 0)  # start on the tonic, in 67..78
    for bar in range(bars):
        degree = _degree(progression, bar, bars)
        pcs = _chord(spec, degree)
        scale = [(spec.key + step) % 12 for step in (MAJOR if spec.mode == 1 else MINOR)]
        if spec.mode == 0 and degree == 4:
            scale[6] = (scale[6] + 1) % 12  # the leading tone under the major dominant
        pitches = [p for p in range(62, 80) if p % 12 in scale]
        last_bar = bar == bars - 1
        rhythm = phrase_end if bar % 2 == 1 or last_bar else rhythms[int(rng.integers(4))]
        for k, (beat, beats) in enumerate(rhythm):
            if beat % 2 == 0:
                # Strong beats: a chord tone, the root most often, near the last note.
                tone = pcs[int(rng.choice(3, p=[0.5, 0.25, 0.25]))]
                if last_bar and k == len(rhythm) - 1:
                    tone = spec.key
                pitch = _nearest([p for p in pitches if p % 12 == tone], pitch)
            else:
                here = pitches.index(_nearest(pitches, pitch))
                move = int(rng.choice([-2, -1, -1, 1, 1, 2]))
                pitch = pitches[int(np.clip(here + move, 0, len(pitches) - 1))]
            notes.append(_Note(bar * 4.0 + beat, beats * 0.92, pitch,
                               _velocity(rng, 92 if beat % 2 == 0 else 82)))
    return notes


def compose(spec: SongSpec) -> dict[str, _Part]:
    """The four parts of a song; the same spec (seed included) gives the same notes."""
    rng = np.random.default_rng(spec.seed)
    progression = _progression(spec, rng)
    other_program = [0, 4, 25][int(rng.integers(3))]
    voice_program = [53, 54, 85][int(rng.integers(3))]
    # "Other" sits off centre as keys or a guitar do in a real mix; bass and voice centred.
    other_pan = 64 + (30 if rng.integers(2) else -30)
    return {
        "drums": _Part(None, 9, 64, 110, tuple(_drums(spec, rng))),
        "bass": _Part(33 + int(rng.integers(2)), 0, 64, 105, tuple(_bass(spec, rng, progression))),
        "other": _Part(other_program, 1, other_pan, 80, tuple(_chords(spec, rng, progression))),
        "vocals": _Part(voice_program, 2, 64, 112, tuple(_melody(spec, rng, progression))),
    }


# --- MIDI and rendering ----------------------------------------------------------------

def _tempo(spec: SongSpec) -> int:
    return round(60_000_000 / spec.bpm)


def _seconds(spec: SongSpec, beat: float) -> float:
    # Through the tempo as stored in the file (whole microseconds), as FluidSynth plays it.
    ticks = round(beat * TICKS_PER_BEAT)
    return ticks * _tempo(spec) / 1e6 / TICKS_PER_BEAT


def write_part_midi(spec: SongSpec, part: _Part, path: Path) -> Path:
    events: list[tuple[int, int, mido.Message]] = []
    for note in part.notes:
        on = round(note.beat * TICKS_PER_BEAT)
        off = max(on + 1, round((note.beat + note.beats) * TICKS_PER_BEAT))
        # At one tick, note-offs go before note-ons so a repeated note is not cut short.
        events.append((on, 1, mido.Message("note_on", channel=part.channel, note=note.pitch,
                                           velocity=note.velocity)))
        events.append((off, 0, mido.Message("note_off", channel=part.channel, note=note.pitch,
                                            velocity=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=_tempo(spec), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    if part.program is not None:
        track.append(mido.Message("program_change", channel=part.channel,
                                  program=part.program, time=0))
    track.append(mido.Message("control_change", channel=part.channel, control=7,
                              value=part.volume, time=0))
    track.append(mido.Message("control_change", channel=part.channel, control=10,
                              value=part.pan, time=0))
    now = 0
    for tick, _, message in events:
        track.append(message.copy(time=tick - now))
        now = tick
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(track)
    midi.save(str(path))
    return path


def _fluidsynth(midi: Path, wav: Path) -> np.ndarray:
    subprocess.run(["fluidsynth", "-ni", "-g", str(GAIN), "-r", str(SAMPLE_RATE), "-O", "float",
                    "-F", str(wav), str(SOUNDFONT), str(midi)],
                   check=True, capture_output=True, timeout=120)
    data, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        raise RuntimeError(f"fluidsynth wrote {rate} Hz, not {SAMPLE_RATE}")
    return np.ascontiguousarray(data.T)


def measure_latency(work: Path) -> int:
    """Samples from a note-on to its sound in FluidSynth's output, from isolated hi-hat clicks.

    FluidSynth starts notes at 64-sample block boundaries after a fixed delay; clicks at
    eight offsets within a block give the mean delay (what is left is within ±0.8 ms).
    """
    starts = [SAMPLE_RATE * (k + 1) + 8 * k for k in range(8)]
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=500_000, time=0))
    now = 0
    for start in starts:  # 22050 ticks a beat at 120 bpm: one tick is one sample
        track.append(mido.Message("note_on", channel=9, note=CLOSED_HAT, velocity=120,
                                  time=start - now))
        track.append(mido.Message("note_off", channel=9, note=CLOSED_HAT, velocity=0,
                                  time=2205))
        now = start + 2205
    midi = mido.MidiFile(type=0, ticks_per_beat=SAMPLE_RATE // 2)
    midi.tracks.append(track)
    midi.save(str(work / "click.mid"))
    level = np.abs(_fluidsynth(work / "click.mid", work / "click.wav")).max(axis=0)
    delays = []
    for start in starts:
        window = level[start:start + SAMPLE_RATE // 2]
        delays.append(int(np.argmax(window > 0.01 * window.max())))
    return round(float(np.mean(delays)))


def _spec_hash(spec: SongSpec) -> str:
    blob = json.dumps({"spec": asdict(spec), "version": CORPUS_VERSION, "gain": GAIN,
                       "levels": STEM_LEVELS,
                       "soundfont_bytes": SOUNDFONT.stat().st_size,
                       "espeak": espeak_version()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _song_paths(folder: Path, spec: SongSpec) -> tuple[Path, dict[str, Path], dict[str, Path]]:
    song_dir = folder / spec.name
    return (song_dir / "mix.wav", {s: song_dir / f"{s}.wav" for s in STEMS},
            {s: song_dir / f"{s}.mid" for s in STEMS})


def _cached(folder: Path, spec: SongSpec) -> RenderedSong | None:
    meta = folder / spec.name / "song.json"
    mix, stems, midi = _song_paths(folder, spec)
    try:
        data = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    files = [mix, *stems.values(), *midi.values()]
    if data.get("hash") != _spec_hash(spec) or not all(p.is_file() for p in files):
        return None
    hits = tuple(DrumHit(float(t), int(lane), int(note)) for t, lane, note in data["drum_hits"])
    return RenderedSong(spec, mix, stems, hits, midi)


def _render_song(folder: Path, spec: SongSpec, latency: int) -> RenderedSong:
    mix_path, stem_paths, midi_paths = _song_paths(folder, spec)
    song_dir = mix_path.parent
    song_dir.mkdir(parents=True, exist_ok=True)
    parts = compose(spec)
    frames = round(spec.seconds * SAMPLE_RATE)
    fade = np.linspace(1.0, 0.0, round(FADE_SECONDS * SAMPLE_RATE), dtype=np.float32)
    with tempfile.TemporaryDirectory(dir=song_dir) as tmp:
        for stem in STEMS:
            write_part_midi(spec, parts[stem], midi_paths[stem])
        instruments = [s for s in STEMS if s != "vocals"]
        with ThreadPoolExecutor(max_workers=2) as pool:
            raw = dict(zip(instruments, pool.map(
                lambda s: _fluidsynth(midi_paths[s], Path(tmp) / f"{s}.wav"), instruments),
                strict=True))
    voice, transpose = voice_for(spec.seed)
    sung = [SungNote(_seconds(spec, n.beat), _seconds(spec, n.beat + n.beats) -
                     _seconds(spec, n.beat), n.pitch, n.velocity) for n in parts["vocals"].notes]
    stems: dict[str, np.ndarray] = {}
    for stem in STEMS:
        if stem == "vocals":
            audio = sing(sung, voice, transpose, frames, SAMPLE_RATE)
        else:
            # Drop the render latency so MIDI note-on times are audio times.
            audio = raw[stem][:, latency:latency + frames]
            audio = np.pad(audio, ((0, 0), (0, frames - audio.shape[1])))
        audio[:, -fade.size:] *= fade
        rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
        stems[stem] = audio * np.float32(10 ** (STEM_LEVELS[stem] / 20) / max(rms, 1e-9))
    mix = np.sum([stems[s] for s in STEMS], axis=0, dtype=np.float32)
    peak = float(np.max(np.abs(mix)))
    if peak > PEAK_LIMIT:
        scale = np.float32(PEAK_LIMIT / peak)
        stems = {s: a * scale for s, a in stems.items()}
        mix = np.sum([stems[s] for s in STEMS], axis=0, dtype=np.float32)
    for stem in STEMS:
        sf.write(str(stem_paths[stem]), stems[stem].T, SAMPLE_RATE, subtype="FLOAT")
    sf.write(str(mix_path), mix.T, SAMPLE_RATE, subtype="FLOAT")
    hits = tuple(DrumHit(_seconds(spec, n.beat), DRUM_LANES[n.pitch], n.pitch)
                 for n in parts["drums"].notes)
    meta = {"hash": _spec_hash(spec), "spec": asdict(spec), "latency_samples": latency,
            "drum_hits": [[h.time, h.lane, h.note] for h in hits]}
    # Written last: a song is only taken as cached once all of its files are there.
    partial = song_dir / "song.json.partial"
    partial.write_text(json.dumps(meta, indent=1))
    os.replace(partial, song_dir / "song.json")
    return RenderedSong(spec, mix_path, stem_paths, hits, midi_paths)


def render_corpus(folder: Path, songs: Sequence[SongSpec] = DEFAULT_SONGS) -> list[RenderedSong]:
    """Render (or reuse) every song in `folder`/NAME/; needs fluidsynth_available()."""
    if not fluidsynth_available():
        raise RuntimeError(NEEDS)
    folder.mkdir(parents=True, exist_ok=True)
    latency: int | None = None
    out = []
    for spec in songs:
        song = _cached(folder, spec)
        if song is None:
            if latency is None:
                with tempfile.TemporaryDirectory(dir=folder) as tmp:
                    latency = measure_latency(Path(tmp))
            song = _render_song(folder, spec, latency)
        out.append(song)
    return out


def load_stereo(path: Path) -> np.ndarray:
    """A corpus WAV as float32 (channels, frames)."""
    data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(data.T)


# --- scoring against the ground truth ----------------------------------------------------

ONSET_TOLERANCE = 0.025  # seconds, seed 002's


@dataclass(frozen=True)
class Score:
    matched: int
    estimated: int
    reference: int

    @property
    def precision(self) -> float:
        return self.matched / self.estimated if self.estimated else float(self.reference == 0)

    @property
    def recall(self) -> float:
        return self.matched / self.reference if self.reference else float(self.estimated == 0)

    @property
    def f(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: Score) -> Score:
        return Score(self.matched + other.matched, self.estimated + other.estimated,
                     self.reference + other.reference)


def match_onsets(estimated: Sequence[float], reference: Sequence[float],
                 tolerance: float = ONSET_TOLERANCE) -> Score:
    """One-to-one matches within ±tolerance, in time order (a maximum matching on a line)."""
    est, ref = sorted(estimated), sorted(reference)
    matched = i = j = 0
    while i < len(est) and j < len(ref):
        if abs(est[i] - ref[j]) <= tolerance:
            matched += 1
            i += 1
            j += 1
        elif est[i] < ref[j]:
            i += 1
        else:
            j += 1
    return Score(matched, len(est), len(ref))


def tempo_verdict(expected: float, found: float | None, tolerance: float = 1.0) -> str:
    """exact (±tolerance bpm), double or half (the same tolerance, scaled), other, none."""
    if found is None:
        return "none"
    if abs(found - expected) <= tolerance:
        return "exact"
    if abs(found - 2 * expected) <= 2 * tolerance:
        return "double"
    if abs(found - expected / 2) <= tolerance / 2:
        return "half"
    return "other"


def key_verdict(key: int, mode: int, found_key: int | None, found_mode: int | None) -> str:
    """MIREX's categories: exact; fifth (same mode, tonic a fifth up or down); relative (the
    same key signature, the other mode); parallel (same tonic, other mode); other; none."""
    if found_key is None or found_mode is None:
        return "none"
    if (found_key, found_mode) == (key, mode):
        return "exact"
    if found_mode == mode and (found_key - key) % 12 in (5, 7):
        return "fifth"
    # A major key's relative minor lies three semitones below its tonic.
    if found_mode != mode and (found_key - key) % 12 == (9 if mode == 1 else 3):
        return "relative"
    if found_key == key:
        return "parallel"
    return "other"
