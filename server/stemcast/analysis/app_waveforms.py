"""Waveforms in the shape seed 000's app server (Mismo) stores them.

The app keeps one entry per zoom level (0-2), each with `samples_per_pixel`, `num_pixels`
and arrays per pixel:
- for the mix (basic_features): `low_freq_amplitude`, `low_freq_intensity`,
  `mid_freq_amplitude`, `mid_freq_intensity`, `high_freq_amplitude`,
  `high_freq_intensity`; it drops an entry that lacks any of them;
- for the stems (the stems callback): `<stem>_amplitude` per stem (`vocals_amplitude`, ...).

Amplitude is the peak |sample| of the pixel's window, intensity its RMS (both 0..1 of full
scale, mono mixdown). Bands: 4th-order Butterworth filters, low < 250 Hz, mid 250-4000
Hz, high > 4000 Hz. App zoom level N is stemcast's level N + 1 (5, 25 and 150 pixels a
second; analysis.waveform.ZOOM_LEVELS), windows placed the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from scipy.signal import butter, sosfilt

from stemcast.audio.waveform import ZOOM_LEVELS

LOW_HZ, HIGH_HZ = 250.0, 4000.0
FILTER_ORDER = 4
DECIMALS = 3
APP_LEVELS = {level - 1: rate for level, rate in ZOOM_LEVELS.items()}  # 0: 5/s, 1: 25, 2: 150


def _window_starts(frames: int, sample_rate: int, per_second: int) -> np.ndarray:
    count = -(-frames * per_second // sample_rate)
    return np.arange(count, dtype=np.int64) * sample_rate // per_second


def _samples_per_pixel(sample_rate: int, per_second: int) -> float | int:
    exact = sample_rate / per_second
    return int(exact) if exact.is_integer() else round(exact, 3)


def rounded_array(values: np.ndarray) -> np.ndarray:
    """The values as written: rounding is per value, so a block at a time gives the same.
    """
    # float64 before rounding (0.1 is written 0.1); + 0.0 turns -0.0 into 0.0.
    return np.round(values.astype(np.float64), DECIMALS) + 0.0


def _rounded(values: np.ndarray) -> list[float]:
    rounded: list[float] = rounded_array(values).tolist()
    return rounded


def peak_and_rms(signal: np.ndarray, starts: np.ndarray) -> tuple[list[float], list[float]]:
    """Rounded peak |sample| and RMS of each window; window i runs from starts[i] to the
    next start (the last to the signal's end)."""
    peak, rms = window_peak_rms(signal, starts)
    return _rounded(peak), _rounded(rms)


def window_peak_rms(signal: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """peak_and_rms before rounding, as arrays (a long track's columns stay compact)."""
    if starts.size == 0:
        return np.zeros(0, signal.dtype), np.zeros(0)
    peak = np.maximum.reduceat(np.abs(signal), starts)
    lengths = np.diff(np.append(starts, signal.size))
    rms = np.sqrt(np.add.reduceat(signal.astype(np.float64) ** 2, starts) / lengths)
    return peak, rms


def band_filters(sample_rate: int) -> dict[str, np.ndarray]:
    """The low, mid and high Butterworth filters (second-order sections)."""
    nyquist = sample_rate / 2
    high_edge = min(HIGH_HZ, nyquist * 0.95)
    return {"low": butter(FILTER_ORDER, LOW_HZ, "lowpass", fs=sample_rate, output="sos"),
            "mid": butter(FILTER_ORDER, (LOW_HZ, high_edge), "bandpass", fs=sample_rate,
                          output="sos"),
            "high": butter(FILTER_ORDER, high_edge, "highpass", fs=sample_rate, output="sos")}


def _bands(mono: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
    return {name: sosfilt(sos, mono) for name, sos in band_filters(sample_rate).items()}


def band_entry(level: int, sample_rate: int, pixels: int,
               columns: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """One app zoom level's entry; columns: band -> (amplitudes, intensities)."""
    per_second = APP_LEVELS[level]
    entry: dict[str, Any] = {
        "zoom_level": level, "sample_rate": sample_rate,
        "samples_per_pixel": _samples_per_pixel(sample_rate, per_second),
        "pixels_per_second": per_second, "num_pixels": pixels,
    }
    for name in ("low", "mid", "high"):
        amplitude, intensity = columns.get(name, ([], []))
        entry[f"{name}_freq_amplitude"] = amplitude
        entry[f"{name}_freq_intensity"] = intensity
    return entry


def mix_band_waveforms(samples: np.ndarray, sample_rate: int,
                       levels: Iterable[int] = APP_LEVELS) -> list[dict[str, Any]]:
    """The mix's entries for the basic_features callback, one per app zoom level."""
    audio = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    mono = np.nan_to_num(audio.mean(axis=0)).astype(np.float64)
    bands = _bands(mono, sample_rate) if mono.size else {}
    entries = []
    for level in sorted(set(levels)):
        starts = _window_starts(mono.size, sample_rate, APP_LEVELS[level])
        columns = {name: peak_and_rms(band, starts) for name, band in bands.items()}
        entries.append(band_entry(level, sample_rate, int(starts.size), columns))
    return entries


def stem_amplitude_waveforms(peaks: Iterable[Mapping[str, Any]],
                             arrays: bool = False) -> list[dict[str, Any]]:
    """The stems callback's entries from stemcast's min/max peaks (analysis.waveform):
    one per zoom level, `<stem>_amplitude` = max(|min|, |max|) of each window.
    The mix's peaks become `mix_amplitude`. `arrays`: the amplitudes as rounded numpy
    arrays (for storage.json_stream; the same text) rather than lists."""
    by_level: dict[int, dict[str, Any]] = {}
    for peak in peaks:
        level = int(peak["zoom_level"]) - 1
        per_second = int(peak["pairs_per_second"])
        rate = int(peak["sample_rate"])
        pairs = np.asarray(peak["data"], dtype=np.float64).reshape(-1, 2)
        entry = by_level.setdefault(level, {
            "zoom_level": level, "sample_rate": rate,
            "samples_per_pixel": _samples_per_pixel(rate, per_second),
            "pixels_per_second": per_second, "num_pixels": int(pairs.shape[0]),
        })
        amplitude = np.abs(pairs).max(axis=1) if pairs.size else np.zeros(0)
        entry[f"{peak['stem_type']}_amplitude"] = rounded_array(amplitude) if arrays \
            else _rounded(amplitude)
    return [by_level[level] for level in sorted(by_level)]
