"""What track analysis needs from a file, gathered in one block-wise pass over its PCM.

Held whole before: the decoded track (an hour of stereo: 1.3 GB of float32) and copies of
it. Now the pass writes a mono 22.05 kHz mixdown to a temporary file (analysis.mono_file:
what beats, key, the audible span and the characteristics are measured on, a block at a
time) and keeps
the results of the measures that need the original channels and rate, each fed a block
at a time with the same arithmetic as its whole-array form:

- the sample peak;
- BS.1770 integrated loudness: pyloudnorm's K-weighting filters with their state carried
  across blocks (scipy's lfilter with zi), its 400 ms gating blocks summed from the same
  samples, then its gating on the block powers;
- the mix's waveform peaks (audio.waveform_stream) and the app's band waveforms
  (app_waveforms: Butterworth bands with sosfilt state carried, windows reduced once whole
  and rounded as they are, their columns kept in temporary files, not memory).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyloudnorm
import soxr
from scipy.signal import lfilter, sosfilt

from stemcast.analysis import app_waveforms
from stemcast.analysis.features import LOUDNESS_BLOCK_SECONDS, LOUDNESS_MAX_CHANNELS
from stemcast.analysis.grid import RATE
from stemcast.analysis.mono_file import MonoFile
from stemcast.audio.blocks import BlockStream, read_blocks
from stemcast.audio.waveform_stream import WaveformStream
from stemcast.storage.disk_column import DiskColumn

_GAINS = [1.0, 1.0, 1.0, 1.41, 1.41]  # BS.1770 channel weights (pyloudnorm's G)
_STEP = 0.25  # pyloudnorm's default overlap 0.75


class LoudnessStream:
    """pyloudnorm.Meter(rate).integrated_loudness(data), data fed (frames, channels)."""

    def __init__(self, sample_rate: int, channels: int) -> None:
        self.rate = sample_rate
        self.channels = channels
        self.stages = [(f.b, f.a, f.passband_gain)
                       for f in pyloudnorm.Meter(sample_rate)._filters.values()]
        self.states = [[np.zeros(max(len(a), len(b)) - 1) for _ in range(channels)]
                       for b, a, _ in self.stages]
        self.pending = np.zeros((0, channels))  # filtered samples from `offset` on
        self.offset = 0
        self.blocks: list[np.ndarray] = []  # z[:, j], per gating block
        self.frames = 0

    def _bounds(self, j: int) -> tuple[int, int]:
        block = LOUDNESS_BLOCK_SECONDS
        return int(block * (j * _STEP) * self.rate), int(block * (j * _STEP + 1) * self.rate)

    def update(self, data: np.ndarray) -> None:
        filtered = np.array(data, dtype=np.float64, copy=True)
        for stage, (b, a, gain) in enumerate(self.stages):
            for ch in range(self.channels):
                out, self.states[stage][ch] = lfilter(b, a, filtered[:, ch],
                                                      zi=self.states[stage][ch])
                filtered[:, ch] = gain * out
        self.pending = np.concatenate([self.pending, filtered])
        self.frames += len(data)
        self._gate_blocks(lambda upper: upper <= self.frames)

    def _gate_blocks(self, ready: Any, limit: int | None = None) -> None:
        scale = 1.0 / (LOUDNESS_BLOCK_SECONDS * self.rate)
        while limit is None or len(self.blocks) < limit:
            lower, upper = self._bounds(len(self.blocks))
            if not ready(upper):
                break
            window = self.pending[lower - self.offset:upper - self.offset]
            self.blocks.append(np.array([scale * np.sum(np.square(window[:, i]))
                                         for i in range(self.channels)]))
        lower, _ = self._bounds(len(self.blocks))
        drop = min(lower, self.frames) - self.offset
        if drop > 0:
            self.pending = self.pending[drop:]
            self.offset += drop

    def finish(self) -> float | None:
        """The loudness in LUFS, None as features._loudness gives it (short, silent)."""
        if self.frames <= LOUDNESS_BLOCK_SECONDS * self.rate:
            return None
        seconds = self.frames / self.rate
        count = int(np.round((seconds - LOUDNESS_BLOCK_SECONDS)
                             / (LOUDNESS_BLOCK_SECONDS * _STEP))) + 1
        self._gate_blocks(lambda upper: True, count)
        z = np.array(self.blocks[:count]).T  # (channels, blocks)
        gains = _GAINS[:self.channels]
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            power = np.sum([gains[i] * z[i] for i in range(self.channels)], axis=0)
            levels = -0.691 + 10.0 * np.log10(power)
            gated = levels >= -70.0
            relative = -0.691 + 10.0 * np.log10(np.sum(
                [gains[i] * np.mean(z[i][gated]) for i in range(self.channels)])) - 10.0
            kept = (levels > relative) & (levels > -70.0)
            averages = np.nan_to_num(np.array([np.mean(z[i][kept])
                                               for i in range(self.channels)]))
            lufs = -0.691 + 10.0 * np.log10(np.sum([gains[i] * averages[i]
                                                    for i in range(self.channels)]))
        return float(lufs) if np.isfinite(lufs) else None


class BandStream:
    """app_waveforms.mix_band_waveforms, fed (channels, frames) blocks."""

    def __init__(self, sample_rate: int, folder: str | os.PathLike[str] | None = None) -> None:
        self.rate = sample_rate
        self.filters = app_waveforms.band_filters(sample_rate)
        self.states = {name: np.zeros((sos.shape[0], 2)) for name, sos in self.filters.items()}
        self.levels = sorted(app_waveforms.APP_LEVELS)
        self.frames = 0
        # Per level: filtered samples of the windows not yet whole, and from which frame.
        self.pending = {level: {name: np.zeros(0) for name in self.filters}
                        for level in self.levels}
        self.window = dict.fromkeys(self.levels, 0)  # the first window not yet reduced
        # Per level and band: the rounded (peak, rms) of the windows reduced, on disk: held
        # until the document is written, they grew memory by ~30 MB an hour of track.
        self.done: dict[int, dict[str, tuple[DiskColumn, DiskColumn]]] = {
            level: {name: (DiskColumn(folder), DiskColumn(folder)) for name in self.filters}
            for level in self.levels}

    def update(self, samples: np.ndarray) -> None:
        mono = np.nan_to_num(samples.mean(axis=0)).astype(np.float64)
        bands = {}
        for name, sos in self.filters.items():
            bands[name], self.states[name] = sosfilt(sos, mono, zi=self.states[name])
        self.frames += mono.size
        for level in self.levels:
            per_second = app_waveforms.APP_LEVELS[level]
            # Window i ends at floor((i + 1) * rate / pps): whole when that is <= frames.
            self._reduce(level, bands, ((self.frames + 1) * per_second - 1) // self.rate)

    def _reduce(self, level: int, bands: dict[str, np.ndarray], until: int,
                end: int | None = None) -> None:
        per_second = app_waveforms.APP_LEVELS[level]
        first_window = self.window[level]
        first = first_window * self.rate // per_second
        if end is None:
            end = until * self.rate // per_second
        for name in self.filters:
            pending = np.concatenate([self.pending[level][name], bands.get(name, np.zeros(0))])
            if until > first_window:
                starts = np.arange(first_window, until, dtype=np.int64) * self.rate \
                    // per_second - first
                peak, rms = app_waveforms.window_peak_rms(pending[:end - first], starts)
                self.done[level][name][0].append(app_waveforms.rounded_array(peak))
                self.done[level][name][1].append(app_waveforms.rounded_array(rms))
                pending = pending[end - first:]
            self.pending[level][name] = pending
        self.window[level] = max(until, first_window)

    def entries(self, as_arrays: bool = False) -> list[dict[str, Any]]:
        """The entries, called once; as_arrays: each column a DiskColumn (written by
        storage.json_stream a chunk at a time), else lists."""
        entries = []
        for level in self.levels:
            per_second = app_waveforms.APP_LEVELS[level]
            self._reduce(level, {}, -(-self.frames * per_second // self.rate), self.frames)
            columns = {name: pair if as_arrays else
                       (pair[0].to_array().tolist(), pair[1].to_array().tolist())
                       for name, pair in self.done[level].items()}
            entries.append(app_waveforms.band_entry(level, self.rate, self.window[level],
                                                    columns))
        return entries

    def close(self) -> None:
        for pairs in self.done.values():
            for peak, rms in pairs.values():
                peak.close()
                rms.close()


@dataclass(frozen=True)
class AnalysisInput:
    mono: MonoFile  # float32 mono mixdown at grid.RATE (features._mono of the track)
    sample_rate: int
    frames: int  # at the file's rate
    peak: float
    loudness_lufs: float | None
    # The mix's peaks and band waveforms, kept as compact arrays (the bands in temporary
    # files), and given as arrays (waveform.waveform_entries', app_waveforms.
    # mix_band_waveforms' documents with each list a float64 array, or a DiskColumn):
    # storage.json_stream writes them a chunk at a time, since as
    # Python floats and one JSON string an hour's 4 million values took ~200 MB.
    peaks: WaveformStream
    band_stream: BandStream

    def waveforms(self) -> list[dict[str, Any]]:
        return self.peaks.entries(as_arrays=True)

    def bands(self) -> list[dict[str, Any]]:
        """Valid until close()."""
        return self.band_stream.entries(as_arrays=True)

    def close(self) -> None:
        self.mono.close()
        self.band_stream.close()


def read_analysis_input(path: str | os.PathLike[str],
                        folder: str | os.PathLike[str] | None = None) -> AnalysisInput:
    """The file's measures and its mono mixdown, written to a temporary file in `folder`
    (the caller closes it: AnalysisInput.close())."""

    def consume(stream: BlockStream) -> AnalysisInput:
        rate, channels = stream.sample_rate, stream.channels
        loudness = LoudnessStream(rate, channels if channels <= LOUDNESS_MAX_CHANNELS else 1)
        peaks = WaveformStream(["mix"], rate)
        bands = BandStream(rate, folder)
        resampler = (soxr.ResampleStream(rate, RATE, 1, dtype="float32", quality="HQ")
                     if rate != RATE else None)
        mono, peak = MonoFile(folder), 0.0
        for block in stream.blocks():
            peak = max(peak, float(np.max(np.abs(block))))
            loudness.update(block.T if channels <= LOUDNESS_MAX_CHANNELS
                            else block.mean(axis=0)[:, None])
            peaks.update("mix", block)
            bands.update(block)
            mixdown = block.mean(axis=0) if channels > 1 else block[0]
            mono.append(resampler.resample_chunk(mixdown) if resampler else mixdown)
        if resampler is not None:
            mono.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        return AnalysisInput(mono, rate, stream.frames, peak, loudness.finish(),
                             peaks, bands)

    return read_blocks(path, consume)


def read_mono(path: str | os.PathLike[str], rate: int,
              folder: str | os.PathLike[str] | None = None) -> tuple[MonoFile, float]:
    """A file's mono mixdown (the channels' float32 mean) at `rate`, written block by
    block to a temporary file in `folder` (soxr's streaming resampler gives the one-shot
    resampler's samples), and its decoded duration. The caller closes the MonoFile."""

    def consume(stream: BlockStream) -> tuple[MonoFile, float]:
        resampler = (soxr.ResampleStream(stream.sample_rate, rate, 1, dtype="float32",
                                         quality="HQ") if stream.sample_rate != rate else None)
        mono = MonoFile(folder)
        for block in stream.blocks():
            mixdown = block.mean(axis=0) if block.shape[0] > 1 else block[0]
            mono.append(resampler.resample_chunk(mixdown) if resampler is not None
                        else mixdown)
        if resampler is not None:
            mono.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        return mono, stream.duration_seconds

    return read_blocks(path, consume)
