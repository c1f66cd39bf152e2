"""A running server's memory by process role, for bench/memory.py.

Starts a real `stemcast serve`, submits a file over HTTP (POST /jobs with the track's
analysis asked for), waits for the job, then exports a mix of its stems (POST
/api/stems/{jobId}/mix), while a thread reads every process of the server's tree: its
role from the process name (the server itself; stem-worker; stem-analysis and
stem-delivery, the two CPU pools; see stemcast.lifeline.name_process) and the kernel's
peak resident set (VmHWM in /proc/PID/status), so nothing between two samples is missed.
Linux only (it reads /proc: no psutil needed).
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.callback_receiver import CallbackReceiver
from tests.support.server import ServerProcess

ROLES = {"stem-worker": "worker", "stem-analysis": "analysis pool",
         "stem-delivery": "delivery pool"}


def _status(pid: int) -> dict[str, str]:
    """/proc/PID/status as a dict (empty once the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)
    except OSError:
        return {}


def _tree(root: int) -> list[tuple[int, dict[str, str]]]:
    """(pid, status) of `root` and every process below it."""
    statuses = {int(entry.name): _status(int(entry.name))
                for entry in Path("/proc").iterdir() if entry.name.isdigit()}
    children: dict[int, list[int]] = {}
    for pid, status in statuses.items():
        if "PPid" in status:
            children.setdefault(int(status["PPid"]), []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if statuses.get(pid):
            found.append((pid, statuses[pid]))
        todo.extend(children.get(pid, []))
    return found


class RoleSampler:
    """The highest VmHWM seen per process, reported per role (the largest process of a
    role: a restarted pool process is a second process of the same role)."""

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root = root
        self.interval = interval
        self.by_pid: dict[int, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RoleSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid, status in _tree(self.root):
                role = "server" if pid == self.root else ROLES.get(status.get("Name", ""),
                                                                   "other")
                peak = int(status.get("VmHWM", "0 kB").split()[0])
                if peak:
                    self.by_pid[pid] = (role, max(peak, self.by_pid.get(pid, ("", 0))[1]))
            self._stop.wait(self.interval)

    def peaks_mb(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for role, peak in self.by_pid.values():
            out[role] = max(out.get(role, 0.0), peak / 1024)
        return out


def _wait_job(client: httpx.Client, job_id: str, timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: dict[str, object] = client.get(f"/jobs/{job_id}").json()
        if status.get("status") in ("completed", "failed"):
            return status
        time.sleep(1.0)
    raise TimeoutError(f"job {job_id} not done after {timeout:.0f} s")


def server_peaks(clip: Path, data_dir: Path, model_args: list[str],
                 timeout: float = 6 * 3600,
                 callback: bool = False) -> tuple[dict[str, float], float]:
    """({role: peak RSS MB}, seconds) for one file separated, analysed and mixed.

    callback: the job names a callback URL (a loopback receiver, as the Mismo app server
    submits jobs, stems by path), so its basic_features (band waveforms) and stems (peaks)
    callbacks are made and sent too; the figures include their sending."""
    # A fresh data folder: a cached separation would measure nothing.
    shutil.rmtree(data_dir, ignore_errors=True)
    server = ServerProcess(data_dir, args=[*model_args, "--device", "cpu",
                                           "--allow-path-prefix", str(clip.parent),
                                           "--max-duration-s", "10800"])
    server.start(timeout=600)
    started = time.perf_counter()
    try:
        assert server.process is not None
        with RoleSampler(server.process.pid) as sampler, CallbackReceiver() as receiver, \
                httpx.Client(base_url=server.http_url, timeout=600) as client:
            submission: dict[str, object] = {"file_path": str(clip),
                                             "options": {"basic_features": True}}
            if callback:
                submission |= {"callback_url": receiver.url, "stem_delivery_mode": "path"}
            reply = client.post("/jobs", json=submission)
            reply.raise_for_status()
            job = reply.json()
            status = _wait_job(client, job["job_id"], timeout)
            if status.get("status") != "completed":
                raise RuntimeError(f"job failed: {status}\n{server.log()}")
            if callback:
                receiver.wait_for("job_completed", timeout=600)
                stems = receiver.wait_for("stems").body["data"]
                if not stems["peaks"] or not receiver.wait_for("basic_features") \
                        .body["data"]["waveforms"]:
                    raise RuntimeError("a callback came without its waveforms")
            stems = client.get(f"/api/tracks/{job['track_id']}/stems").json()
            with client.stream("POST", f"/api/stems/{stems['jobId']}/mix",
                               json={"gains": {"vocals": -6}}) as mix:
                mix.raise_for_status()
                for _ in mix.iter_bytes(1 << 20):
                    pass
            time.sleep(2 * sampler.interval)
        return sampler.peaks_mb(), time.perf_counter() - started
    finally:
        server.stop()
