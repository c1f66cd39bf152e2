"""A finished job's stems made into WAV files, and the waveform peaks, a block at a time.

The raw stem files (exactly the WAV's data bytes) are copied into WAV files and read for
the peaks in blocks, and the mix's peaks come from the prepared mix file: nothing holds a
whole stem, so finishing an hour-long track takes as little memory as a minute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from stemcast.audio.prepared import MixSource
from stemcast.audio.raw_pcm import PcmLayout
from stemcast.audio.waveform_stream import WaveformStream
from stemcast.storage.atomic import atomic_target
from stemcast.storage.job_folder import JobFolder
from stemcast.storage.waveform_files import write_level_files

BLOCK_FRAMES = 1 << 16


def raw_blocks(raw: Path, layout: PcmLayout, channels: int) -> Iterator[np.ndarray]:
    """(frames, channels) blocks of a raw stem file, in its own dtype."""
    with open(raw, "rb") as handle:
        while True:
            data = np.fromfile(handle, dtype=layout.dtype, count=BLOCK_FRAMES * channels)
            if data.size == 0:
                return
            yield data.reshape(-1, channels)


def _as_float(block: np.ndarray) -> np.ndarray:
    """(channels, frames) float32 for the peaks (int16 / 32768, as the whole-array code)."""
    if block.dtype == np.int16:
        return block.T.astype(np.float32) / 32768.0
    return np.ascontiguousarray(block.T, dtype=np.float32)


def finish_stems(output_dir: Path, sources: Sequence[str], layout: PcmLayout, channels: int,
                 sample_rate: int, mix: MixSource | None,
                 on_stem: Callable[[int], None] | None = None) -> dict[str, str]:
    """WAV files from the raw files (renamed into place), then the waveforms; the final
    paths by stem name. on_stem(index) after each stem."""
    folder = JobFolder.of(output_dir)
    names = (["mix"] if mix is not None else []) + list(sources)
    waveforms = WaveformStream(names, sample_rate)
    if mix is not None:
        for start in range(0, mix.frames, BLOCK_FRAMES):
            waveforms.update("mix", mix.read(start, start + BLOCK_FRAMES))
    paths: dict[str, str] = {}
    for index, name in enumerate(sources):
        raw = folder.raw_stem(name, layout.raw_suffix)
        final = folder.stem(name)
        with atomic_target(final) as partial, open(partial, "wb") as handle, \
                sf.SoundFile(handle, "w", sample_rate, channels, layout.wav_subtype,
                             format="WAV") as wav:
            for block in raw_blocks(raw, layout, channels):
                wav.write(block)
                waveforms.update(name, _as_float(block))
        raw.unlink()
        paths[name] = str(final.resolve())
        if on_stem is not None:
            on_stem(index)
    write_waveform_files(folder, waveforms)
    return paths


def write_waveform_files(folder: JobFolder, waveforms: WaveformStream) -> None:
    """FOLDER/waveforms-LEVEL.json, one file per zoom level (storage/waveform_files.py).

    As arrays, written a chunk at a time (the same numbers' text as json.dumps of the
    lists): an hour's peaks of the mix and 4 stems as Python lists and one JSON string took the
    worker from ~570 to ~810 MB (bench/memory.py --server, dsp, 60 minutes)."""
    write_level_files(folder, waveforms.entries(as_arrays=True))
