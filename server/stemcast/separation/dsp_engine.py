"""A weightless separation engine (`--model dsp`): classic DSP masks, no neural network.

For servers without Demucs weights. Per block of the track, on one STFT (n_fft 4096,
hop 1024) shared by both channels:

- drums: the percussive part of a harmonic/percussive split (Fitzgerald's median
  filtering, as librosa.decompose.hpss, soft masks);
- bass: the harmonic part below a smooth 120-200 Hz crossover;
- vocals: the harmonic part above that crossover, weighted by a centre mask (Avendano
  and Jot's inter-channel similarity, sharpened), a vocal-band weight (~150 Hz-7 kHz)
  and a "not sustained" factor (sung notes glide and wobble, pads and chords hold);
- other: the mix minus the three, in the time domain, so the four stems sum to the mix.

Every mask is real and shared by both channels, so each stem keeps the mix's stereo
image. The track is cut into blocks on the STFT's hop grid, each processed with a few
seconds of context on both sides of which only the centre is kept: the frames, medians
and masks that shape a block's edge are the same in both neighbouring blocks, so there
is no seam, and memory is bounded by the block size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from stemcast.separation.engine import EngineInfo, ProgressCallback, SegmentedEngine

if TYPE_CHECKING:
    from stemcast.audio.prepared import MixSource
    from stemcast.separation.streaming import Region

SAMPLE_RATE = 44100
CHANNELS = 2
SOURCES = ("drums", "bass", "other", "vocals")
N_FFT = 4096  # 10.8 Hz bins: enough to split a bass line from the kick and the vocals
HOP = N_FFT // 4
BLOCK_SECONDS = 12.0
# Each side of a block. A block-edge sample depends on STFT frames up to n_fft away,
# whose masks depend on frames up to (HARMONIC_KERNEL + SUSTAIN_FRAMES) / 2 hops away
# (~1.4 s in all): 2 s leaves these untouched by the context's own edges.
CONTEXT_SECONDS = 2.0

# HPSS: a 31-frame (0.72 s) median along time gives the sustained part, a 31-bin
# (330 Hz) median along frequency the broadband, percussive part.
HARMONIC_KERNEL = 31
PERCUSSIVE_KERNEL = 31
# Margins of 1: the two soft masks sum to 1, nothing falls between drums and the rest.
HPSS_MARGIN = 1.0
HPSS_POWER = 2.0

# Bass crossover: raised cosine on log-frequency, 1 below BASS_FULL_HZ, 0 above BASS_CUT_HZ.
BASS_FULL_HZ = 120.0
BASS_CUT_HZ = 200.0
# The vocal band's upper edge (its lower edge is the bass crossover's complement).
VOCAL_TOP_FULL_HZ = 6000.0
VOCAL_TOP_CUT_HZ = 9000.0
# Similarity 1 (identical channels) keeps everything, 0.9 keeps 0.9**6 = 0.53, a source
# panned 75/25 (similarity 0.6) 0.05. Sharper loses more of the voice where other
# partials overlap it (power 8: 0.6 dB less vocal SDR on the tests' mix), softer lets
# more of half-panned instruments in.
CENTRE_POWER = 6.0
# "Not sustained": |H|^2 / (|H|^2 + (k * median of |H| over 2 s)^2). A held note keeps
# 1 / (1 + k^2) = 0.5, a partial present under half the time ~1. On the tests' mix made
# mono (all centre) it lifts vocal SDR 9.5 -> 11.8 dB; in stereo, where the centre mask
# already rejects the panned chords, it costs 0.3 dB. 85 frames: notes shorter than
# ~1 s count as sung.
SUSTAIN_FRAMES = 85
SUSTAIN_WEIGHT = 1.0

# drums_bass_window: centred, unsustained tones of an accompaniment go to bass below this
# (a bass's upper harmonics), to drums above (their tones). 500 Hz tuned on 4 corpus songs.
FOLD_SPLIT_HZ = 500.0

EPS = 1e-10


def _log_ramp(freqs: np.ndarray, low: float, high: float) -> np.ndarray:
    """0 at or below `low`, 1 at or above `high`, a raised cosine on log-frequency between."""
    position = (np.log(np.maximum(freqs, 1.0)) - math.log(low)) / (math.log(high) - math.log(low))
    position = np.clip(position, 0.0, 1.0)
    ramp: np.ndarray = 0.5 - 0.5 * np.cos(np.pi * position)
    return ramp.astype(np.float32)


def _band_weights() -> tuple[np.ndarray, np.ndarray]:
    """(bass weight, vocal-band weight above the bass), each (bins, 1)."""
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    bass = 1.0 - _log_ramp(freqs, BASS_FULL_HZ, BASS_CUT_HZ)
    vocal_top = 1.0 - _log_ramp(freqs, VOCAL_TOP_FULL_HZ, VOCAL_TOP_CUT_HZ)
    return bass[:, None], ((1.0 - bass) * vocal_top)[:, None]


def _median_rows(values: np.ndarray, size: int) -> np.ndarray:
    """A median along the last axis: scipy.ndimage.median_filter(values, size=(1, size),
    mode="reflect"), which librosa.decompose.hpss calls, with the same result.

    scipy's 1-D median is ~7x faster than its n-D one, and HPSS is most of this engine's
    time: so the rows, each padded as "reflect" would (numpy's "symmetric"), are laid end
    to end and filtered in one 1-D call; no window reaches across two rows."""
    from scipy.ndimage import median_filter

    half = size // 2
    padded = np.pad(values, ((0, 0), (half, half)), mode="symmetric")
    filtered = median_filter(padded.ravel(), size=size, mode="reflect")
    return np.ascontiguousarray(filtered.reshape(padded.shape)[:, half:half + values.shape[1]])


def hpss_masks(magnitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(harmonic, percussive) soft masks of a (bins, frames) magnitude spectrogram.

    librosa.decompose.hpss(magnitude, mask=True, kernel_size=(HARMONIC_KERNEL,
    PERCUSSIVE_KERNEL), margin=HPSS_MARGIN, power=HPSS_POWER), computed faster, with one
    change in the bass band: a kick drum there is a low sine, as narrow in frequency as
    a bass note, so the frequency median misses it; but it is brief, so its excess over
    the time median (|S| - H) is large where a held bass note's is ~0. The percussive
    estimate there is the larger of the two (measured on the synthetic mix of the tests:
    drums 2.5 -> 7 dB SDR, bass 4.3 -> 8.3 dB)."""
    from stemcast.separation.spectral import softmask

    harmonic = _median_rows(magnitude, HARMONIC_KERNEL)
    percussive = np.ascontiguousarray(
        _median_rows(np.ascontiguousarray(magnitude.T), PERCUSSIVE_KERNEL).T)
    bass_weight, _ = _band_weights()
    low = int(np.count_nonzero(bass_weight))
    percussive[:low] = np.maximum(percussive[:low],
                                  bass_weight[:low] * (magnitude[:low] - harmonic[:low]))
    # librosa splits zeros evenly when the margin is 1 (softmask's split_zeros), as here.
    mask_harmonic = softmask(harmonic, percussive * HPSS_MARGIN, power=HPSS_POWER)
    mask_percussive = softmask(percussive, harmonic * HPSS_MARGIN, power=HPSS_POWER)
    return mask_harmonic, mask_percussive


def centre_mask(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Avendano and Jot's similarity 2|L R*| / (|L|^2 + |R|^2), sharpened.

    The real part of L R* is used instead of its modulus: equal magnitudes in opposite
    phase (wide or decorrelated stereo, reverb) are not centre."""
    cross = np.maximum((left * np.conj(right)).real, 0.0)
    power = np.abs(left) ** 2 + np.abs(right) ** 2
    similarity = np.minimum(2.0 * cross / (power + EPS), 1.0)
    mask: np.ndarray = similarity.astype(np.float32) ** CENTRE_POWER
    return mask


def unsustained_factor(harmonic: np.ndarray) -> np.ndarray:
    """Near 1 where a harmonic magnitude stands above its ~2 s median, lower where held.

    A median, not a mean: a partial that a sung note visits for a fraction of the
    window (vibrato, a melody's short notes) leaves it low, a held chord does not."""
    sustained = _median_rows(harmonic, SUSTAIN_FRAMES)
    power = harmonic**2
    factor: np.ndarray = power / (power + (SUSTAIN_WEIGHT * sustained) ** 2 + EPS)
    return factor


class Interrupt:
    """Raises streaming.SegmentInterrupted (the worker's signal to switch jobs) on request."""

    def __init__(self, should_yield: Callable[[], bool] | None) -> None:
        self.should_yield = should_yield

    def check(self) -> None:
        if self.should_yield is not None and self.should_yield():
            from stemcast.separation.streaming import SegmentInterrupted

            raise SegmentInterrupted


def stem_masks(spectrum: np.ndarray, interrupt: Interrupt | None = None) -> np.ndarray:
    """Real masks of drums, bass and vocals for a (2, bins, frames) STFT: (3, bins, frames)."""
    left, right = spectrum[0], spectrum[1]
    magnitude = np.sqrt(np.abs(left) ** 2 + np.abs(right) ** 2)
    mask_harmonic, mask_percussive = hpss_masks(magnitude)
    if interrupt is not None:
        interrupt.check()
    bass_weight, vocal_band = _band_weights()
    vocal = np.zeros_like(mask_harmonic)
    # Only the bins the vocal band reaches (120 Hz-9 kHz, 40% of them) cost anything.
    rows = np.flatnonzero(vocal_band[:, 0])
    band = slice(int(rows[0]), int(rows[-1]) + 1)
    harmonic = mask_harmonic[band]
    vocal[band] = (harmonic * vocal_band[band] * centre_mask(left[band], right[band])
                   * unsustained_factor(magnitude[band] * harmonic))
    return np.stack([mask_percussive, mask_harmonic * bass_weight, vocal])


def separate_window(audio: np.ndarray, interrupt: Interrupt | None = None) -> np.ndarray:
    """drums, bass and vocals of a (2, frames) window: float32 (3, 2, frames)."""
    from stemcast.separation.spectral import istft, stft

    frames = audio.shape[-1]
    # One full frame at least; zeros after a very short track change nothing before.
    padded = audio if frames >= N_FFT else np.pad(audio, ((0, 0), (0, N_FFT - frames)))
    spectrum = stft(padded, N_FFT, HOP)  # (2, bins, frames)
    if interrupt is not None:
        interrupt.check()
    masks = stem_masks(spectrum, interrupt)
    stems = istft(spectrum[None] * masks[:, None], N_FFT, HOP, padded.shape[-1])
    return np.ascontiguousarray(stems[..., :frames], dtype=np.float32)


def drums_bass_window(audio: np.ndarray, interrupt: Interrupt | None = None) -> np.ndarray:
    """drums and bass of a (2, frames) window that holds no vocals (the offline engine's
    accompaniment): float32 (2, 2, frames). The same HPSS and bass crossover as
    separate_window; what its vocal mask would take is shared between drums and bass."""
    from stemcast.separation.spectral import istft, stft

    frames = audio.shape[-1]
    padded = audio if frames >= N_FFT else np.pad(audio, ((0, 0), (0, N_FFT - frames)))
    spectrum = stft(padded, N_FFT, HOP)  # (2, bins, frames)
    if interrupt is not None:
        interrupt.check()
    magnitude = np.sqrt(np.abs(spectrum[0]) ** 2 + np.abs(spectrum[1]) ** 2)
    mask_harmonic, mask_percussive = hpss_masks(magnitude)
    if interrupt is not None:
        interrupt.check()
    bass_weight, vocal_band = _band_weights()
    drums, bass = mask_percussive, mask_harmonic * bass_weight
    # What separate_window's vocal mask would take (centred, unsustained tones) is, in an
    # accompaniment without voice, mostly the bass's centred upper harmonics and the
    # drums' tones: left in other it cost other 3.5 dB SDR on the corpus. Below
    # FOLD_SPLIT_HZ it goes to bass, above to drums (corpus medians: bass 0.9 -> 1.8 dB,
    # other -2.6 -> 1.0, drums 4.5 -> 3.8; see README "offline engine").
    rows = np.flatnonzero(vocal_band[:, 0])
    band = slice(int(rows[0]), int(rows[-1]) + 1)
    harmonic = mask_harmonic[band]
    centred = (harmonic * vocal_band[band]
               * centre_mask(spectrum[0, band], spectrum[1, band])
               * unsustained_factor(magnitude[band] * harmonic))
    low = (np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)[band] < FOLD_SPLIT_HZ)[:, None]
    bass = bass.copy()
    drums = drums.copy()
    bass[band] += centred * low
    drums[band] += centred * ~low
    masks = np.stack([drums, bass])
    stems = istft(spectrum[None] * masks[:, None], N_FFT, HOP, padded.shape[-1])
    return np.ascontiguousarray(stems[..., :frames], dtype=np.float32)


class DspSeparation:
    """One track's separation, advanced a block at a time; each step's audio is final."""

    def __init__(self, source: MixSource, block_frames: int, context_frames: int) -> None:
        self.source = source  # read a window at a time: memory is bounded by the block
        self.frames = source.frames
        self.block_frames = block_frames
        self.context_frames = context_frames
        self.next_block = 0

    @property
    def segments(self) -> int:
        return math.ceil(self.frames / self.block_frames)

    @property
    def done(self) -> bool:
        return self.next_block >= self.segments

    @property
    def progress(self) -> float:
        return self.next_block / self.segments

    def step(self, batch: int = 1,
             should_yield: Callable[[], bool] | None = None) -> Region | None:
        """Separate the next `batch` blocks; return their audio, final.

        should_yield is asked between the stages of a block (a block takes well under a
        second); when it says so the step raises SegmentInterrupted and leaves the
        separation as it was."""
        from stemcast.separation.streaming import Region

        if self.done:
            return None
        interrupt = Interrupt(should_yield)
        end_block = min(self.next_block + max(batch, 1), self.segments)
        parts = [self._block(index, interrupt) for index in range(self.next_block, end_block)]
        start = self.next_block * self.block_frames
        self.next_block = end_block
        stems = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
        return Region(start, stems)

    def _block(self, index: int, interrupt: Interrupt) -> np.ndarray:
        start = index * self.block_frames
        end = min(start + self.block_frames, self.frames)
        # Window edges stay on the hop grid (blocks and context are whole hops), so the
        # STFT frames of two neighbouring windows coincide where they overlap.
        window_start = max(start - self.context_frames, 0)
        window_end = min(end + self.context_frames, self.frames)
        window = separate_window(self.source.read(window_start, window_end), interrupt)
        drums, bass, vocals = window[..., start - window_start:end - window_start]
        mix = self.source.read(start, end)
        other = mix - (drums + bass + vocals)
        by_name = {"drums": drums, "bass": bass, "other": other, "vocals": vocals}
        return np.stack([by_name[name] for name in SOURCES])


class DspEngine(SegmentedEngine):
    """Weightless stems for servers without Demucs: the same interface as DemucsEngine."""

    def __init__(self, block_seconds: float = BLOCK_SECONDS) -> None:
        if not math.isfinite(block_seconds) or block_seconds <= 0:
            raise ValueError(f"block_seconds must be a positive number, got {block_seconds}")
        self.block_frames = max(round(block_seconds * SAMPLE_RATE / HOP), 1) * HOP
        self.context_frames = math.ceil(CONTEXT_SECONDS * SAMPLE_RATE / HOP) * HOP
        self.info = EngineInfo(
            name="dsp",
            sources=SOURCES,
            sample_rate=SAMPLE_RATE,
            channels=CHANNELS,
            device="cpu",
            segment_seconds=self.block_frames / SAMPLE_RATE,
            precision="fp32",
        )

    def segment_count(self, frames: int) -> int:
        """How many blocks (steps) a track of `frames` is cut into."""
        return math.ceil(frames / self.block_frames)

    def start(self, audio: np.ndarray | MixSource, *, shifts: int = 0,
              seed: str = "") -> DspSeparation:
        """A separation to advance with `step`, one block at a time (shifts and seed are
        Demucs's: this engine is deterministic and ignores them)."""
        return DspSeparation(self.check_audio(audio), self.block_frames, self.context_frames)

    def step(self, separation: DspSeparation,
             should_yield: Callable[[], bool] | None = None) -> Region | None:
        """One block (see DspSeparation.step)."""
        return separation.step(1, should_yield)

    def separate(self, audio: np.ndarray, on_progress: ProgressCallback | None = None,
                 *, shifts: int = 0, seed: str = "") -> dict[str, np.ndarray]:
        """Stems of `audio` (float32, (2, frames)), each as long as the input.

        shifts and seed are accepted for DemucsEngine's interface and ignored: this
        method is deterministic and has no random time shifts to average over."""
        return self.separate_streamed(audio, on_progress)
