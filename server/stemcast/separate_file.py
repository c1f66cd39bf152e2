"""`stemcast separate`: one file to stems on the command line, with a progress bar."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tqdm import tqdm


def separate_file(input_path: Path, out_dir: Path, *, model: str, model_repo: Path | None,
                  device: str, fetch_timeout: float, precision: str = "auto",
                  shifts: int = 0) -> int:
    from stemcast.audio import AudioError, decode, resample, to_channels, write_wav_atomic
    from stemcast.separation.engines import load_engines
    from stemcast.separation.worker_messages import WorkerConfig

    try:
        audio = decode(input_path)
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
    prepared = to_channels(resample(audio, info.sample_rate), info.channels)
    started = time.monotonic()
    label = f"{input_path.name} [{info.name} on {info.device}, {info.precision}]"
    with tqdm(total=100, unit="%", desc=label,
              bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}% [{elapsed}<{remaining}]") as bar:
        def on_progress(fraction: float) -> None:
            bar.n = round(fraction * 100, 1)
            bar.refresh()

        sources = engine.separate(prepared.samples, on_progress=on_progress, shifts=shifts,
                                  seed=input_path.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, samples in sources.items():
        path = out_dir / f"{name}.wav"
        write_wav_atomic(path, samples, info.sample_rate)
        print(path.resolve())
    elapsed = time.monotonic() - started
    print(f"separated {audio.duration_seconds:.1f} s of audio in {elapsed:.1f} s "
          f"({audio.duration_seconds / max(elapsed, 1e-9):.2f}x realtime)", file=sys.stderr)
    return 0
