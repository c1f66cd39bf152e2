"""STFT, inverse STFT and soft masks for the DSP methods, without librosa's numba code.

librosa.stft/istft and librosa.util.softmask give the same numbers, but importing and
first calling them compiles numba code: measured here with an empty numba cache, 27 s
to import librosa.util, 5 s for the first stft, 12 s for the first istft. The offline
engine and the DSP engine must be ready in seconds on a fresh install, so these are
torch's transforms set up as librosa's defaults (centred frames, zero padding, periodic
Hann window) and librosa's softmask formula in numpy.
"""

from __future__ import annotations

import numpy as np
import torch


def stft(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """librosa.stft(audio, n_fft=n_fft, hop_length=hop): (..., 1 + n_fft // 2, frames)."""
    signal = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    leading = signal.shape[:-1]
    spectrum = torch.stft(signal.reshape(-1, signal.shape[-1]), n_fft, hop,
                          window=torch.hann_window(n_fft), center=True, pad_mode="constant",
                          return_complex=True)
    result: np.ndarray = spectrum.reshape(*leading, *spectrum.shape[-2:]).numpy()
    return result


def istft(spectrum: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """librosa.istft(spectrum, n_fft=n_fft, hop_length=hop, length=length)."""
    values = torch.from_numpy(np.ascontiguousarray(spectrum, dtype=np.complex64))
    leading = values.shape[:-2]
    audio = torch.istft(values.reshape(-1, *values.shape[-2:]), n_fft, hop,
                        window=torch.hann_window(n_fft), center=True, length=length)
    result: np.ndarray = audio.reshape(*leading, length).numpy()
    return result


def softmask(x: np.ndarray, x_ref: np.ndarray, power: float) -> np.ndarray:
    """librosa.util.softmask(x, x_ref, power=power, split_zeros=True) for a finite power:
    x^p / (x^p + x_ref^p), 0.5 where both are (near) zero."""
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float32)
    z = np.maximum(x, x_ref).astype(dtype)
    bad = z < np.finfo(dtype).tiny
    z[bad] = 1
    mask = (x / z) ** power
    ref_mask = (x_ref / z) ** power
    good = ~bad
    mask[good] /= mask[good] + ref_mask[good]
    mask[bad] = 0.5
    return mask
