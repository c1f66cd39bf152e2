"""Peak resident memory of `stemcast separate` by track length (issue 20).

    python bench/memory.py                       # dsp, 1 and 10 minutes
    python bench/memory.py --minutes 1 10 60 --model dsp
    python bench/memory.py --python /other/venv/bin/python   # another checkout's stemcast

Each run is one `stemcast separate` process on deterministic test audio (bench/common.py's
music_clip); its peak resident set is the kernel's (wait4's ru_maxrss, from a fresh
launcher process), so nothing samples and nothing is missed. Prints a Markdown table with
the machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, music_clip


# Forks and execs the command from a fresh interpreter, then prints the child's peak (KiB).
# Not from this process: a child exec'd from it (Python's vfork) starts its peak at this
# process's own, the test audio generated here included.
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_mib(command: list[str], cwd: Path) -> tuple[float, float]:
    """(peak resident MiB, wall seconds) of one process run to completion."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *command], cwd=cwd, text=True,
                          capture_output=True, check=False,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    code, peak_kib = (int(word) for word in done.stdout.split()[-2:])
    if code != 0:
        sys.exit(f"{' '.join(command)} failed ({code}):\n{done.stderr}")
    return peak_kib / 1024, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0],
                        help="track lengths to separate (default: 1 10)")
    parser.add_argument("--model", default="dsp", help="engine/model to run (default: dsp)")
    parser.add_argument("--python", default=sys.executable,
                        help="the Python whose stemcast runs (default: this one)")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the clips and stems (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stemcast-memory-") as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        rows = []
        for minutes in args.minutes:
            clip = music_clip(work / f"clip-{minutes:g}min.wav", minutes * 60)
            command = [args.python, "-m", "stemcast.cli", "separate", "-n", args.model,
                       "-o", str(work / "out"), str(clip)]
            peak, wall = peak_mib(command, work)
            rows.append(f"| {args.model} | {minutes:g} min | {peak:.0f} MiB | {wall:.0f} s |")
            print(rows[-1], file=sys.stderr)
    print(f"`stemcast separate` peak resident memory ({machine()})\n")
    print("| model | track | peak resident | wall time |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
