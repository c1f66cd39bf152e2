"""A mix export rendered from the stems' files a block at a time into a file (the CPU
pool's work for POST /api/stems/{jobId}/mix).

Each block: the stems' files read at the same frames (a variant's stem is the sum of its
master stems, as before), gained and summed (mix.py's sum_stems), the loop region read
`repeats` times, encoded straight into the output (BlockEncoder: the same 16-bit samples
and MP3 bytes as the whole-array encode_mix). Memory holds a block per stem, however
long the track.

Tempo and key changes use librosa's phase vocoder and pitch shift, which take the whole
signal (the STFT and the phase accumulated frame by frame span it): that one path holds
the (looped) mix and its spectrograms, so its length is bounded (MAX_STRETCH_SECONDS) and
a longer stretch is refused with the fix (a loop region). Equal block-wise output would
need a phase vocoder of our own carrying librosa's state across blocks: not done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from stemcast.delivery.encode import BlockEncoder
from stemcast.delivery.mix import MixError, MixSettings, change_tempo_and_key, sum_stems

BLOCK_FRAMES = 1 << 16
# Tempo/key changes hold the whole (looped) mix and its complex spectrograms (1025 bins x
# 86 frames a second x channels, before and after stretching): several GB for 20 minutes
# of stereo at 44.1 kHz, the longest track --max-duration-s allowed before it went up to
# hours, so no export that worked before is refused now.
MAX_STRETCH_SECONDS = 20 * 60


def _spans(frames: int, rate: int, settings: MixSettings) -> list[tuple[int, int]]:
    """The stretches of the track the export plays, in order (mix.cut_loop's frames)."""
    loop = settings.loop
    if loop is None:
        return [(0, frames)]
    start, end = round(loop.start * rate), min(round(loop.end * rate), frames)
    return [(start, max(end, start))] * loop.repeats


def _mix_blocks(files: dict[str, list[Any]], spans: list[tuple[int, int]],
                settings: MixSettings) -> Iterator[np.ndarray]:
    """(channels, frames) float32 blocks of the gained sum, over `spans`."""
    for start, end in spans:
        for at in range(start, end, BLOCK_FRAMES):
            count = min(BLOCK_FRAMES, end - at)
            stems: dict[str, np.ndarray] = {}
            for name, parts in files.items():
                total: np.ndarray | None = None
                for part in parts:
                    part.seek(at)
                    data = part.read(count, dtype="float32", always_2d=True).T
                    total = data if total is None else total + data
                assert total is not None
                stems[name] = total
            yield sum_stems(stems, settings)


def render_mix_file(paths: dict[str, tuple[str, ...]], settings: MixSettings,
                    target: str) -> None:
    """The mix of the stems at `paths` (output stem -> its master stems' files), written
    to `target` in settings.format. Raises MixError for a stretch too long to hold."""
    import soundfile as sf

    Path(target).parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        files: dict[str, list[Any]] = {
            name: [stack.enter_context(sf.SoundFile(part)) for part in parts]
            for name, parts in paths.items()}
        first = next(iter(files.values()))[0]
        rate, channels, frames = first.samplerate, first.channels, first.frames
        spans = _spans(frames, rate, settings)
        blocks = _mix_blocks(files, spans, settings)
        if settings.changes_time:
            length = sum(end - start for start, end in spans)
            if length > MAX_STRETCH_SECONDS * rate:
                raise MixError(
                    f"tempo and key changes work on at most {MAX_STRETCH_SECONDS // 60} "
                    f"minutes of audio, this mix is {length / rate / 60:.0f}; pick a loop "
                    "region, or export at tempo 1 and key 0")
            whole = np.concatenate(list(blocks), axis=1) if length else \
                np.zeros((channels, 0), np.float32)
            blocks = iter([change_tempo_and_key(whole, rate, settings.tempo,
                                                settings.semitones)])
        with ExitStack() as output:
            encoder = BlockEncoder(output, Path(target), rate, channels,
                                   format=settings.format, bit_depth=16, bitrate=320)
            for block in blocks:
                encoder.write(block.T)
