"""`stemcast separate`: one file to stems on the command line, with a progress bar."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from stemcast.audio.prepared import MIX_FILE, FileSource, prepare_mix
from stemcast.storage.atomic import atomic_target

if TYPE_CHECKING:
    from stemcast.separation.engine import SeparationEngine


def separate_file(input_path: Path, out_dir: Path, *, model: str, model_repo: Path | None,
                  device: str, fetch_timeout: float, precision: str = "auto",
                  shifts: int = 0) -> int:
    from stemcast.audio import AudioError, probe
    from stemcast.separation.engines import load_engines
    from stemcast.separation.worker_messages import WorkerConfig

    try:
        probe(input_path)  # a file that is not audio fails before any model loads
    except AudioError as exc:
        print(f"stemcast separate: {exc}", file=sys.stderr)
        return 1
    engines = load_engines(WorkerConfig(model=model, model_repo=model_repo, device=device,
                                        fetch_timeout=fetch_timeout, precision=precision),
                           offer_dsp=False, background_download=False)
    if engines.default is None:
        print(f"stemcast separate: {engines.default_error}", file=sys.stderr)
        return 1
    print(f"model: {engines.choice}", file=sys.stderr)
    engine = engines.engines[engines.default]
    info = engine.info
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".stemcast-") as scratch:
        try:
            # Decoded and resampled block by block into a file the engine reads by region:
            # memory does not grow with the track.
            prepared = prepare_mix(input_path, Path(scratch) / MIX_FILE, info.sample_rate,
                                   info.channels)
        except AudioError as exc:
            print(f"stemcast separate: {exc}", file=sys.stderr)
            return 1
        started = time.monotonic()
        label = f"{input_path.name} [{info.name} on {info.device}, {info.precision}]"
        with tqdm(total=100, unit="%", desc=label,
                  bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}% [{elapsed}<{remaining}]") \
                as bar:
            def on_progress(fraction: float) -> None:
                bar.n = round(fraction * 100, 1)
                bar.refresh()

            paths = _write_stems(engine, prepared.source, out_dir, on_progress, shifts,
                                 input_path.name)
    for path in paths:
        print(path.resolve())
    elapsed = time.monotonic() - started
    duration = prepared.duration_seconds
    print(f"separated {duration:.1f} s of audio in {elapsed:.1f} s "
          f"({duration / max(elapsed, 1e-9):.2f}x realtime)", file=sys.stderr)
    return 0


def _write_stems(engine: SeparationEngine, source: FileSource, out_dir: Path,
                 on_progress: Callable[[float], None], shifts: int, seed: str) -> list[Path]:
    """Each region straight into its stems' WAV files (16-bit, as write_wav_atomic)."""
    import soundfile as sf

    from stemcast.audio import float_to_pcm16
    from stemcast.separation.engine import SegmentedEngine

    info = engine.info
    paths = [out_dir / f"{name}.wav" for name in info.sources]
    with ExitStack() as stack:
        wavs = []
        for path in paths:
            partial = stack.enter_context(atomic_target(path))
            handle = stack.enter_context(open(partial, "wb"))
            wavs.append(stack.enter_context(sf.SoundFile(
                handle, "w", info.sample_rate, info.channels, "PCM_16", format="WAV")))
        if shifts > 0 or not isinstance(engine, SegmentedEngine):
            # Demucs's shifts average whole-track passes: this path holds the track.
            stems = engine.separate(source.read(0, source.frames), on_progress=on_progress,
                                    shifts=shifts, seed=seed)
            for wav, name in zip(wavs, info.sources, strict=True):
                wav.write(float_to_pcm16(stems[name]))
        else:
            for progress, region in engine.regions(source):
                for wav, stem in zip(wavs, region.stems, strict=True):
                    wav.write(float_to_pcm16(stem))
                on_progress(progress)
    return paths
