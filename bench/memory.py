"""Peak resident memory of `stemcast separate` by track length: does it grow with the track?

Each run is a whole process (`stemcast separate FILE --model M`), measured by the kernel's
peak resident set size (ru_maxrss of the finished child: model, decode, separation and
writing included). Engines: dsp (weightless), a tiny random-weight Demucs and the released
htdemucs architecture with fixed random weights (the compute and memory of the real one).

    python bench/memory.py [--minutes 1 10 60] [--engines dsp tiny htdemucs analysis]
                           [--server [--callback]] [--work DIR]

--server also runs a real `stemcast serve` per engine and length (bench/memory_server.py):
a file submitted over HTTP with its analysis, then a mix export of its stems, and the
peak resident memory of the server, its worker and its two CPU pools, each by role.
--callback gives that job a callback URL (a loopback receiver, stems by path, as the Mismo
app server submits), so the callbacks with the track's band waveforms and the stems'
peaks are made and sent too.

`analysis` is not an engine: it is the CPU pool's track analysis (analysis.tasks.
analyze_file: bpm, beats, key, loudness, characteristics, waveforms) run as a process;
`drums` likewise is drum transcription (analysis.tasks.transcribe_file; the clip itself
stands in for a drum stem: the work and memory are the same).

Target (issue 20): the 60-minute peak within 1.25x of the 1-minute peak for every engine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import MODEL, full_model_repo, machine, music_clip, table
from memory_server import server_peaks

_MEASURE = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


SERVER_ROLES = ("server", "worker", "analysis pool", "delivery pool")


def long_clip(folder: Path, minutes: float) -> Path:
    """`minutes` of 16-bit stereo, written a minute at a time (the bench itself stays small):
    one deterministic minute repeated with a little level change, so no two are equal."""
    path = folder / f"clip-{minutes:g}min.wav"
    if path.exists():
        return path
    minute, rate = sf.read(music_clip(folder / "minute.wav", 60.0), dtype="float32")
    frames = round(minutes * 60 * rate)
    with sf.SoundFile(path, "w", rate, 2, "PCM_16") as out:
        written = 0
        while written < frames:
            part = minute[:frames - written] * (0.8 + 0.2 * np.cos(written / rate / 60.0))
            out.write(part)
            written += len(part)
    return path


def peak_rss_mb(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of the command run to completion."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _MEASURE, *command], check=True,
                            capture_output=True, text=True)
    return int(result.stdout.strip()) / 1024, time.perf_counter() - started


# Analysis work other than `analysis`, run as a process like it (issue 20).
ANALYSIS_WORK = {
    "drums": "import sys; from stemcast.analysis.tasks import transcribe_file; "
             "transcribe_file(sys.argv[1], sys.argv[2], None)",
}


def analysis_work_command(name: str, clip: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", ANALYSIS_WORK[name], str(clip), str(out)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0, 60.0])
    parser.add_argument("--engines", nargs="+", default=["dsp", "tiny", "htdemucs"])
    parser.add_argument("--work", type=Path,
                        default=Path(tempfile.gettempdir()) / "stemcast-bench")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--server", action="store_true",
                        help="also measure a running server's processes by role")
    parser.add_argument("--no-separate", action="store_true",
                        help="skip the `stemcast separate` rows")
    parser.add_argument("--callback", action="store_true",
                        help="with --server: the job has a callback URL (a loopback "
                             "receiver), so its callbacks with waveforms are sent too")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    stemcast = str(Path(sys.executable).with_name("stemcast"))
    models = {"dsp": ["--model", "dsp"]}
    if "tiny" in args.engines:
        repo = args.work / "tiny-repo"
        if not (repo / "tiny.yaml").exists():
            subprocess.run([stemcast, "make-test-model", str(repo)], check=True,
                           capture_output=True)
        models["tiny"] = ["--model", "tiny", "--model-repo", str(repo)]
    if "htdemucs" in args.engines:
        repo = full_model_repo(args.work / "models")
        models["htdemucs"] = ["--model", MODEL, "--model-repo", str(repo)]
    analysis = [sys.executable, "-c", "import sys; from stemcast.analysis.tasks import "
                "analyze_file; analyze_file(sys.argv[1], sys.argv[2])"]
    rows, figures, server_rows = [], [], []
    for engine in args.engines:
        first: float | None = None
        for minutes in args.minutes:
            clip = long_clip(args.work, minutes)
            out = args.work / f"out-{engine}-{minutes:g}"
            if engine == "analysis":
                command = [*analysis, str(clip), str(out / "waveforms.json")]
            elif engine in ANALYSIS_WORK:
                command = analysis_work_command(engine, clip, out)
            else:
                command = [stemcast, "separate", str(clip), "--out", str(out), "--device",
                           "cpu", *models[engine]]
            if not args.no_separate:
                peak, seconds = peak_rss_mb(command)
                first = first or peak
                figures.append({"engine": engine, "minutes": minutes, "peak_mb": round(peak),
                                "seconds": round(seconds)})
                rows.append([engine, f"{minutes:g}", f"{peak:.0f}", f"{peak / first:.2f}x",
                             f"{seconds:.0f}"])
                print(rows[-1], flush=True)
            if args.server and engine != "analysis":
                data_dir = args.work / (f"server-{engine}-{minutes:g}"
                                        + ("-callback" if args.callback else ""))
                roles, seconds = server_peaks(clip, data_dir, models[engine],
                                              callback=args.callback)
                figures.append({"engine": engine, "minutes": minutes, "server": roles,
                                "callback": args.callback, "seconds": round(seconds)})
                server_rows.append([engine, f"{minutes:g}", *(
                    f"{roles.get(role, 0):.0f}" for role in SERVER_ROLES), f"{seconds:.0f}"])
                print(server_rows[-1], flush=True)
    print(f"\n{machine()}\n")
    if rows:
        print(table(["engine", "minutes", "peak RSS MB", "vs first", "wall s"], rows))
    if server_rows:
        print(table(["engine", "minutes", *(f"{r} MB" for r in SERVER_ROLES), "wall s"],
                    server_rows))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
