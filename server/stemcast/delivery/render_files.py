"""Renditions (WAV/FLAC/MP3, other rates, summed variants) encoded from the master stem
files a block at a time: an hour-long job renders in the memory of a few seconds.

Each block goes the way the whole-array code went (outputs.combine, the same clip and
rounding to 16 bit, soxr's HQ resampler, now its streaming form; LAME fed in pieces):
the files are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from stemcast.delivery.outputs import OutputSpec, combine
from stemcast.storage.atomic import atomic_target
from stemcast_protocol.options import DEFAULT_MP3_BITRATE

BLOCK_FRAMES = 1 << 16
_SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}


def _to_float(data: np.ndarray) -> np.ndarray:
    return data.astype(np.float32) / 32768.0 if data.dtype == np.int16 else data


def _to_pcm16(data: np.ndarray) -> np.ndarray:
    return data if data.dtype == np.int16 else \
        np.rint(np.clip(data, -1, 1) * 32767).astype(np.int16)


def _master_blocks(paths: list[str]) -> tuple[int, int, Iterator[np.ndarray]]:
    """(rate, channels, blocks of the parts summed): (frames, channels), int16 for 16-bit
    masters, float32 for float ones."""
    infos = [sf.info(path) for path in paths]
    dtype = "int16" if infos[0].subtype == "PCM_16" else "float32"

    def blocks() -> Iterator[np.ndarray]:
        with ExitStack() as stack:
            handles = [stack.enter_context(sf.SoundFile(path)) for path in paths]
            while True:
                parts = [h.read(BLOCK_FRAMES, dtype=dtype, always_2d=True) for h in handles]
                if not len(parts[0]):
                    return
                yield combine(parts)

    return int(infos[0].samplerate), int(infos[0].channels), blocks()


class _Encoder:
    """One output file, written block by block into its atomic target."""

    def __init__(self, stack: ExitStack, path: Path, rate: int, channels: int,
                 spec: OutputSpec) -> None:
        partial = stack.enter_context(atomic_target(path))
        self.write: Callable[[np.ndarray], object]
        if spec.format == "mp3":
            import lameenc

            encoder = lameenc.Encoder()
            encoder.set_bit_rate(int(spec.bitrate or DEFAULT_MP3_BITRATE))
            encoder.set_in_sample_rate(rate)
            encoder.set_channels(channels)
            encoder.set_quality(2)  # 2 = high quality, the usual choice for music
            handle = stack.enter_context(open(partial, "wb"))  # noqa: SIM115 (the stack closes it)
            self.write = lambda data: handle.write(bytes(encoder.encode(
                np.ascontiguousarray(_to_pcm16(data)).tobytes())))
            stack.callback(lambda: handle.write(bytes(encoder.flush())))
            return
        subtype = _SUBTYPES[spec.bit_depth]
        container = "FLAC" if spec.format == "flac" else "WAV"
        out = stack.enter_context(sf.SoundFile(str(partial), "w", rate, channels, subtype,
                                               format=container))
        self.write = (lambda data: out.write(_to_pcm16(data))) if subtype == "PCM_16" \
            else out.write


def _render_one(parts: list[str], target: Path, spec: OutputSpec,
                peaks: Callable[[np.ndarray], None] | None) -> int:
    """One output stem into `target`; the master rate."""
    import soxr

    rate, channels, blocks = _master_blocks(parts)
    resampler = None
    if spec.sample_rate != rate:
        resampler = soxr.ResampleStream(rate, spec.sample_rate, channels, dtype="float32",
                                        quality="HQ")
    with ExitStack() as stack:
        encoder = _Encoder(stack, target, spec.sample_rate, channels, spec)
        for block in blocks:
            if peaks is not None:
                peaks(_to_float(block).T)
            if resampler is None:
                encoder.write(block)
            else:
                encoder.write(resampler.resample_chunk(_to_float(block)))
        if resampler is not None:
            encoder.write(resampler.resample_chunk(np.zeros((0, channels), np.float32),
                                                   last=True))
    return rate


def render_outputs(master: Mapping[str, str], spec: OutputSpec,
                   out_dir: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Write the requested stems into out_dir. Returns name -> absolute path, and the
    waveform peaks of the stems that are sums (the others' are in the job's waveforms).

    Blocking and CPU-heavy (resampling, mp3 encoding): run it in the CPU pool."""
    from stemcast.audio.waveform_stream import WaveformStream

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    summed_names = [name for name, parts in spec.plan.items() if len(parts) > 1]
    master_rate = sf.info(master[next(iter(spec.plan.values()))[0]]).samplerate \
        if spec.plan else 0
    waveforms = WaveformStream(summed_names, int(master_rate))
    for name, parts in spec.plan.items():
        target = folder / f"{name}.{spec.extension}"
        peaks = (lambda block, name=name: waveforms.update(name, block)) \
            if len(parts) > 1 else None
        _render_one([master[part] for part in parts], target, spec, peaks)
        paths[name] = str(target.resolve())
    return paths, (waveforms.entries() if summed_names else [])
