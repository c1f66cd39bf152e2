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

import numpy as np
import soundfile as sf

from stemcast.delivery.encode import BlockEncoder
from stemcast.delivery.outputs import OutputSpec, combine
from stemcast.separation.stem_finish import write_waveform_files
from stemcast.storage.job_folder import JobFolder

BLOCK_FRAMES = 1 << 16


def _to_float(data: np.ndarray) -> np.ndarray:
    return data.astype(np.float32) / 32768.0 if data.dtype == np.int16 else data


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
        encoder = BlockEncoder(stack, target, spec.sample_rate, channels,
                               format=spec.format, bit_depth=spec.bit_depth,
                               bitrate=spec.bitrate)
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
                   out_dir: str) -> dict[str, str]:
    """Write the requested stems into out_dir. Returns name -> absolute path. The waveform
    peaks of the stems that are sums (the others' are in the job's waveforms) go to
    out_dir/waveforms-LEVEL.json, like the job's own: an hour's, as lists returned
    through the pool, were ~45 MB per summed stem in the server process.

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
    if summed_names:
        write_waveform_files(JobFolder(folder), waveforms)
    return paths
