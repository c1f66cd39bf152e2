"""Measured quality on a rendered ground-truth corpus (tests/support/corpus.py).

Songs are written as MIDI at known tempos and keys and rendered with FluidSynth, one stem
at a time, so the tempo, key and every drum hit are known exactly. These tests print their
tables (run with -s to see them) and assert the thresholds the analysis holds today.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mido
import numpy as np
import pytest

from stemcast.analysis.drums import LANES, Onset, onsets_document, transcribe
from stemcast.analysis.midi import write_midi
from tests.support.corpus import (
    NEEDS,
    PEAK_LIMIT,
    SAMPLE_RATE,
    STEMS,
    RenderedSong,
    Score,
    fluidsynth_available,
    key_verdict,
    load_stereo,
    match_onsets,
    render_corpus,
    tempo_verdict,
)
from tests.support.tools import missing_tool


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[RenderedSong]:
    if not fluidsynth_available():
        missing_tool(NEEDS)
    return render_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def transcriptions(corpus: list[RenderedSong]) -> list[list[Onset]]:
    return [transcribe(load_stereo(song.stems["drums"]), SAMPLE_RATE) for song in corpus]


@pytest.fixture(scope="session")
def analyses(corpus: list[RenderedSong]) -> list[Any]:
    from stemcast.analysis.features import analyze

    return [analyze(load_stereo(song.mix), SAMPLE_RATE) for song in corpus]


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))
                     + " |" for line in lines)


def test_stems_sum_to_the_mix_and_hits_are_where_the_audio_is(
        corpus: list[RenderedSong]) -> None:
    for song in corpus:
        mix = load_stereo(song.mix)
        stems = {name: load_stereo(song.stems[name]) for name in STEMS}
        frames = round(song.spec.seconds * SAMPLE_RATE)
        assert mix.shape == (2, frames)
        assert all(stem.shape == mix.shape for stem in stems.values())
        np.testing.assert_allclose(sum(stems.values()), mix, atol=1e-6)
        assert 0.3 < np.max(np.abs(mix)) <= PEAK_LIMIT + 1e-6, "no clipping, not silent"
        assert all(np.sqrt(np.mean(stem ** 2)) > 0.01 for stem in stems.values())
        assert set(song.midi) == set(STEMS) and all(p.is_file() for p in song.midi.values())
        assert {hit.lane for hit in song.drum_hits} == set(range(len(LANES))), song.spec.name
        # Render latency compensated: isolated hits start within a few ms of their note-on.
        level = np.abs(stems["drums"]).max(axis=0)
        offsets = []
        times = sorted({hit.time for hit in song.drum_hits})
        for previous, time in zip([-1.0, *times[:-1]], times, strict=True):
            at = round(time * SAMPLE_RATE)
            if time - previous < 0.15 or at < 0.03 * SAMPLE_RATE:
                continue
            before = level[at - round(0.03 * SAMPLE_RATE):at - round(0.02 * SAMPLE_RATE)].max()
            window = level[at - round(0.02 * SAMPLE_RATE):at + round(0.02 * SAMPLE_RATE)]
            above = np.flatnonzero(window > 3 * before + 1e-4)
            if above.size and above[0] > 0:
                offsets.append(above[0] / SAMPLE_RATE - 0.02)
        assert len(offsets) >= 10
        assert abs(float(np.median(offsets))) < 0.003, (song.spec.name, np.median(offsets))


def test_render_is_cached_and_reproducible(corpus: list[RenderedSong]) -> None:
    folder = corpus[0].mix.parent.parent
    stamp = corpus[0].mix.stat().st_mtime_ns
    again = render_corpus(folder, [corpus[0].spec])
    assert again[0] == corpus[0]
    assert corpus[0].mix.stat().st_mtime_ns == stamp, "a cached song is not rendered again"


def test_bpm_of_each_mix(corpus: list[RenderedSong], analyses: list[Any]) -> None:
    rows, verdicts = [], []
    for song, features in zip(corpus, analyses, strict=True):
        found = features.bpm
        verdict = tempo_verdict(song.spec.bpm, found)
        verdicts.append(verdict)
        rows.append([song.spec.name, f"{song.spec.bpm:g}",
                     "-" if found is None else f"{found:.2f}", verdict])
    print("\n" + _table(["song", "bpm", "found", "verdict (±1 bpm)"], rows))
    assert all(v in ("exact", "double", "half") for v in verdicts), verdicts
    assert verdicts.count("exact") >= len(corpus) - 1, verdicts


def test_key_of_each_mix(corpus: list[RenderedSong], analyses: list[Any]) -> None:
    rows, verdicts = [], []
    for song, features in zip(corpus, analyses, strict=True):
        verdict = key_verdict(song.spec.key, song.spec.mode, features.key, features.mode)
        verdicts.append(verdict)
        rows.append([song.spec.name, song.spec.key_name, str(features.key_name), verdict])
    print("\n" + _table(["song", "key", "found", "verdict"], rows))
    assert verdicts.count("exact") >= len(corpus) - 2, verdicts
    assert all(v in ("exact", "relative", "fifth") for v in verdicts), verdicts


def test_drum_onsets_on_the_ground_truth_stems(corpus: list[RenderedSong],
                                               transcriptions: list[list[Onset]]) -> None:
    lanes = {lane.index: Score(0, 0, 0) for lane in LANES}
    overall = Score(0, 0, 0)
    for song, onsets in zip(corpus, transcriptions, strict=True):
        for lane in lanes:
            lanes[lane] += match_onsets([o.time for o in onsets if o.lane == lane],
                                        [h.time for h in song.drum_hits if h.lane == lane])
        # Lane-agnostic: was something struck here at all.
        overall += match_onsets(sorted({o.time for o in onsets}),
                                sorted({h.time for h in song.drum_hits}))
        assert all(0.0 <= o.confidence <= 1.0 and 1 <= o.velocity <= 127 for o in onsets)
    rows = [[LANES[lane].name, str(s.reference), str(s.estimated), f"{s.precision:.2f}",
             f"{s.recall:.2f}", f"{s.f:.2f}"] for lane, s in lanes.items()]
    rows.append(["any lane", str(overall.reference), str(overall.estimated),
                 f"{overall.precision:.2f}", f"{overall.recall:.2f}", f"{overall.f:.2f}"])
    print("\n" + _table(["lane", "hits", "found", "P", "R", "F (±25 ms)"], rows))
    assert overall.f >= 0.95
    assert lanes[0].f >= 0.95 and lanes[1].f >= 0.95, "kick and snare"
    assert lanes[2].f >= 0.85, "hi-hat (hats under a crash's wash are missed or taken for ride)"
    assert min(s.f for s in lanes.values()) >= 0.8


def test_transcribe_resamples_and_handles_silence(corpus: list[RenderedSong]) -> None:
    import soxr

    song = corpus[0]
    drums = load_stereo(song.stems["drums"])
    at_48k = soxr.resample(drums.T, SAMPLE_RATE, 48000).T.astype(np.float32)
    kicks = [h.time for h in song.drum_hits if h.lane == 0]
    found = [o.time for o in transcribe(at_48k, 48000) if o.lane == 0]
    assert match_onsets(found, kicks).f >= 0.95
    assert transcribe(np.zeros((2, SAMPLE_RATE), np.float32), SAMPLE_RATE) == []
    assert transcribe(np.zeros((2, 100), np.float32), SAMPLE_RATE) == []


def test_write_midi_round_trip(tmp_path: Path) -> None:
    onsets = [Onset(0.0, 0, "kick", 0.9, 100), Onset(0.0, 2, "hihat", 0.8, 64),
              Onset(0.5, 1, "snare", 0.95, 120), Onset(0.51, 1, "snare", 0.5, 30),
              Onset(1.25, 3, "high_tom", 0.7, 90), Onset(1.5, 5, "floor_tom", 0.85, 80),
              Onset(1.5, 4, "mid_tom", 0.6, 70), Onset(2.0, 6, "crash", 0.9, 127),
              Onset(2.3333, 7, "ride", 0.8, 77)]
    for bpm, tempo in ((128.0, mido.bpm2tempo(128.0)), (None, 500_000)):
        path = tmp_path / f"drums-{bpm}.mid"
        write_midi(onsets, path, bpm=bpm)
        assert list(tmp_path.glob("*.partial")) == []
        midi = mido.MidiFile(str(path))
        assert midi.type in (0, 1)
        tempos = [m.tempo for track in midi.tracks for m in track if m.type == "set_tempo"]
        assert tempos == [tempo]
        tick = tempo / 1e6 / midi.ticks_per_beat
        notes, now = [], 0.0
        for message in mido.merge_tracks(midi.tracks):
            now += message.time * tick
            if message.type == "note_on" and message.velocity > 0:
                assert message.channel == 9  # MIDI channel 10
                notes.append((now, message.note, message.velocity))
        expected = sorted((o.time, LANES[o.lane].notes[0], o.velocity) for o in onsets)
        assert len(notes) == len(expected)
        for (time, note, velocity), (want_time, want_note, want_velocity) in zip(
                sorted(notes), expected, strict=True):
            assert abs(time - want_time) <= tick
            assert (note, velocity) == (want_note, want_velocity)


def test_onsets_document_shape() -> None:
    onsets = [Onset(1.5, 5, "floor_tom", 0.85, 96), Onset(0.25, 0, "kick", 0.912, 110)]
    document = onsets_document(onsets, bpm=120.0, duration_seconds=2.0)
    assert document["version"] == 1 and document["onset_count"] == 2
    assert document["bpm"] == 120.0 and document["duration_seconds"] == 2.0
    assert [lane["type"] for lane in document["lanes"]] == [lane.name for lane in LANES]
    assert document["lanes"][5] == {"lane": 5, "type": "floor_tom", "notes": [41, 43]}
    assert document["onsets"] == [
        {"time": 0.25, "lane": 0, "type": "kick", "confidence": 0.91, "velocity": 110},
        {"time": 1.5, "lane": 5, "type": "floor_tom", "confidence": 0.85, "velocity": 96},
    ]
