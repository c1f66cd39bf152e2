"""The weightless DSP engine: exact sums, streaming, seams, and stems that mean something.

The quality check uses a synthetic mix built from known parts (kicks and noise bursts,
a bass line, a centred sung melody, chords panned hard left and right) and a plain SDR,
10 log10(|s|^2 / |s - s_hat|^2), which allows no filter on the estimate: stricter than
BSS-eval's.
"""

from __future__ import annotations

import numpy as np
import pytest

from stemcast.separation.dsp_engine import SOURCES, DspEngine, hpss_masks
from stemcast.separation.streaming import SegmentInterrupted

SR = 44100


def _tone(f0: np.ndarray, harmonics: int, rolloff: float, rng: np.random.Generator) -> np.ndarray:
    phase = 2 * np.pi * np.cumsum(f0) / SR
    offsets = rng.uniform(0, 2 * np.pi, harmonics)
    return np.asarray(sum(np.sin(k * phase + offsets[k - 1]) / k**rolloff
                          for k in range(1, harmonics + 1)))


def _notes(n: int, length: int, pitches: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """(per-sample pitch, time since the note began) for a line of equal-length notes."""
    index = np.arange(n)
    return np.asarray(pitches)[(index // length) % len(pitches)], (index % length) / SR


def _parts(seconds: float = 8.0, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    # Drums, centred: a kick (120 -> 50 Hz sine) on each beat, a noise burst between.
    drums = np.zeros(n)
    tk = np.arange(int(0.3 * SR)) / SR
    kick = 0.8 * np.sin(2 * np.pi * np.cumsum(50 + 70 * np.exp(-tk / 0.03)) / SR) \
        * np.exp(-tk / 0.12)
    tb = np.arange(int(0.2 * SR)) / SR
    for beat, start in enumerate(np.arange(0.0, seconds, 0.5)):
        at = int(start * SR)
        drums[at:at + kick.size] += kick[:n - at]
        at = int((start + 0.25) * SR)
        burst = 0.4 * rng.standard_normal(tb.size) * np.exp(-tb / (0.06 if beat % 2 else 0.02))
        drums[at:at + burst.size] += burst[:max(n - at, 0)]
    # Bass, centred: 55-110 Hz notes of a soft sawtooth (1/k^2 partials), 1 s each.
    pitch, since = _notes(n, SR, [55.0, 82.4, 73.4, 110.0, 65.4, 98.0, 61.7, 87.3])
    bass = 0.5 * _tone(pitch, 8, 2.0, rng) * np.minimum(since / 0.01, 1) * np.exp(-since / 1.5)
    # Vocals, centred: a 220-392 Hz melody with 5.5 Hz vibrato, 0.75 s notes.
    length = int(0.75 * SR)
    pitch, since = _notes(n, length, [220.0, 261.6, 293.7, 329.6, 293.7, 246.9, 392.0, 349.2])
    pitch = pitch * (1 + 0.02 * np.sin(2 * np.pi * 5.5 * t))
    envelope = np.minimum(since / 0.05, 1) * np.minimum((length / SR - since) / 0.08, 1)
    vocals = 0.3 * _tone(pitch, 6, 1.0, rng) * envelope
    # Other: two-note chords, one hard left and one hard right, 2 s each.
    chords = [([261.6, 329.6], [392.0, 523.3]), ([220.0, 277.2], [329.6, 440.0]),
              ([246.9, 311.1], [370.0, 493.9]), ([196.0, 246.9], [293.7, 392.0])]
    index = (np.arange(n) // (2 * SR)) % len(chords)
    since = (np.arange(n) % (2 * SR)) / SR
    envelope = np.minimum(since / 0.02, 1) * np.exp(-since / 3.0)
    sides = []
    for side in (0, 1):
        signal = np.zeros(n)
        for voice in (0, 1):
            pitch = np.asarray([chord[side][voice] for chord in chords])[index]
            signal += 0.12 * _tone(pitch, 4, 1.0, rng) * envelope
        sides.append(signal)
    parts = {"drums": np.stack([drums, drums]), "bass": np.stack([bass, bass]),
             "other": np.stack(sides), "vocals": np.stack([vocals, vocals])}
    return {name: part.astype(np.float32) for name, part in parts.items()}


def _mix(parts: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(sum(parts.values()), dtype=np.float32)


def _sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    reference = reference.astype(np.float64)
    error = reference - estimate.astype(np.float64)
    return float(10 * np.log10(np.sum(reference**2) / (np.sum(error**2) + 1e-12)))


@pytest.fixture(scope="module")
def parts() -> dict[str, np.ndarray]:
    return _parts()


@pytest.fixture(scope="module")
def stems(parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return DspEngine(block_seconds=3.0).separate(_mix(parts))


def test_info_matches_the_demucs_interface() -> None:
    engine = DspEngine(block_seconds=12.0)
    info = engine.info
    assert (info.name, info.sources, info.sample_rate, info.channels, info.device,
            info.precision) == ("dsp", ("drums", "bass", "other", "vocals"), 44100, 2, "cpu",
                                "fp32")
    assert info.segment_seconds == pytest.approx(12.0, abs=0.02)  # whole STFT hops
    assert engine.segment_count(1) == 1
    assert engine.segment_count(engine.block_frames) == 1
    assert engine.segment_count(engine.block_frames + 1) == 2
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="block_seconds"):
            DspEngine(block_seconds=bad)


def test_stems_sum_exactly_to_the_mix(parts: dict[str, np.ndarray],
                                      stems: dict[str, np.ndarray]) -> None:
    mix = _mix(parts)
    assert list(stems) == list(SOURCES)
    for stem in stems.values():
        assert stem.shape == mix.shape and stem.dtype == np.float32
        assert np.isfinite(stem).all()
    assert np.abs(sum(stems.values()) - mix).max() < 1e-5


def test_separation_beats_a_quarter_of_the_mix(parts: dict[str, np.ndarray],
                                               stems: dict[str, np.ndarray]) -> None:
    mix = _mix(parts)
    scores = {name: (_sdr(parts[name], stems[name]), _sdr(parts[name], mix / 4))
              for name in SOURCES}
    print("\nSDR dB (dsp / a quarter of the mix):",
          ", ".join(f"{name} {mine:.2f} / {trivial:.2f}" for name, (mine, trivial)
                    in scores.items()))
    # Measured (seeds 0-3): drums 6.1-7.1, bass 7.5-8.3, vocals 10.4-10.9, other 3.2-3.8;
    # a quarter of the mix: 1.1-1.3, 1.7-1.9, 1.5-1.6, -2.0 to -1.9.
    margins = {"drums": 4.0, "bass": 4.5, "vocals": 7.0, "other": 3.0}
    for name, margin in margins.items():
        mine, trivial = scores[name]
        assert mine > trivial + margin, (name, mine, trivial)


def test_streaming_equals_separate_and_covers_the_track() -> None:
    engine = DspEngine(block_seconds=2.0)
    audio = _mix(_parts(5.3, seed=1))
    separation = engine.start(audio)
    assert separation.segments == engine.segment_count(audio.shape[1]) == 3
    assert separation.frames == audio.shape[1]
    regions, progress = [], [separation.progress]
    while not separation.done:
        region = engine.step(separation, lambda: False)
        assert region is not None
        regions.append(region)
        progress.append(separation.progress)
    assert engine.step(separation) is None
    assert len(regions) == engine.segment_count(audio.shape[1])
    assert progress == sorted(progress) and progress[0] == 0.0 and progress[-1] == 1.0
    position = 0
    for region in regions:
        assert region.start == position
        assert region.stems.shape[:2] == (4, 2) and region.stems.dtype == np.float32
        position += region.frames
    assert position == audio.shape[1]
    streamed = np.concatenate([region.stems for region in regions], axis=-1)
    reported: list[float] = []
    separated = engine.separate(audio, reported.append, shifts=2, seed="ignored")
    assert np.array_equal(streamed, np.stack([separated[name] for name in SOURCES]))
    assert reported == progress[1:]


def test_block_edges_leave_no_seam() -> None:
    """Short blocks give what one block over the whole track gives: context hides edges."""
    audio = _mix(_parts(5.0, seed=2))
    short = DspEngine(block_seconds=1.0).separate(audio)
    whole = DspEngine(block_seconds=60.0).separate(audio)
    for name in SOURCES:
        assert np.abs(short[name] - whole[name]).max() < 1e-5, name


def test_a_step_gives_way_and_resumes_unchanged() -> None:
    engine = DspEngine(block_seconds=2.0)
    audio = _mix(_parts(3.0, seed=3))
    separation = engine.start(audio)
    with pytest.raises(SegmentInterrupted):
        engine.step(separation, lambda: True)
    assert separation.progress == 0.0
    first = engine.step(separation)
    assert first is not None and first.start == 0
    reference = engine.separate(audio)
    assert np.array_equal(first.stems[0], reference["drums"][:, :first.frames])


def test_identical_channels_and_silence_work(parts: dict[str, np.ndarray]) -> None:
    engine = DspEngine(block_seconds=4.0)
    mono = {name: np.repeat(part.mean(0, keepdims=True), 2, axis=0)
            for name, part in parts.items()}
    mix = _mix(mono)
    stems = engine.separate(mix)
    assert np.abs(sum(stems.values()) - mix).max() < 1e-5
    for name in SOURCES:
        assert np.isfinite(stems[name]).all()
        assert np.array_equal(stems[name][0], stems[name][1])  # shared masks
    scores = {name: _sdr(mono[name], stems[name]) for name in SOURCES}
    print("\nSDR dB, identical channels:",
          ", ".join(f"{name} {score:.2f}" for name, score in scores.items()))
    # With no stereo cue the vocals rely on the band and the not-sustained factor.
    assert scores["vocals"] > _sdr(mono["vocals"], mix / 4) + 6.0
    silent = engine.separate(np.zeros((2, SR), dtype=np.float32))
    assert all(not stem.any() for stem in silent.values())


@pytest.mark.parametrize("frames", [1, 100, 5000])
def test_very_short_tracks(frames: int) -> None:
    audio = np.random.default_rng(frames).standard_normal((2, frames)).astype(np.float32)
    stems = DspEngine().separate(audio)
    for stem in stems.values():
        assert stem.shape == (2, frames) and np.isfinite(stem).all()
    assert np.abs(sum(stems.values()) - audio).max() < 1e-5


def test_hpss_masks_are_librosas_above_the_bass_band() -> None:
    import librosa

    magnitude = np.random.default_rng(0).random((400, 120)).astype(np.float32)
    harmonic, percussive = hpss_masks(magnitude)
    theirs = librosa.decompose.hpss(magnitude, mask=True, kernel_size=31, margin=1.0)
    low = 19  # bins below the crossover's top, 200 Hz (10.8 Hz bins), get the kick rule
    np.testing.assert_allclose(harmonic[low:], theirs[0][low:], atol=1e-6)
    np.testing.assert_allclose(percussive[low:], theirs[1][low:], atol=1e-6)


@pytest.mark.parametrize(("audio", "message"), [
    (np.zeros((1, 100), np.float32), r"must be \(2, frames\)"),
    (np.zeros((3, 100), np.float32), r"must be \(2, frames\)"),
    (np.zeros(100, np.float32), r"must be \(2, frames\)"),
    (np.zeros((2, 0), np.float32), "empty audio"),
    (np.full((2, 100), np.nan, np.float32), "NaN or infinite"),
    (np.array([[0.0, np.inf], [0.0, 0.0]], np.float32), "NaN or infinite"),
])
def test_bad_input_is_refused_clearly(audio: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DspEngine().start(audio)
