"""Shared parts of the fault drills: process trees, a lock holder, waiting with deadlines."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from stemcast_protocol import StemcastClient
from tests.support.server import ServerProcess

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str,
             interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state letter) of a live process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[0]


def descendants(root: int) -> dict[int, str]:
    """Every live descendant of `root`: pid -> its command line."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[1] != "Z":
                parents[int(entry)] = stat[0]
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    continue
                found[pid] = cmdline.decode(errors="replace").strip()
                frontier.append(pid)
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper (a zombie holds no memory or GPU)."""
    stat = _stat(pid)
    return stat is not None and stat[1] != "Z"


class LockHolder:
    """Another process holding SQLite's write lock on the server's database until told to
    let go (or until `max_seconds`, so a failed test never leaves it behind)."""

    _SCRIPT = (
        "import sqlite3, sys, select\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n"
        "conn.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        "select.select([sys.stdin], [], [], float(sys.argv[2]))\n"
        "conn.execute('COMMIT')\n"
        "print('released', flush=True)\n"
    )

    def __init__(self, db_path: Path, max_seconds: float = 90.0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", self._SCRIPT, str(db_path), str(max_seconds)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line == "locked", f"the lock holder said {line!r}"

    def release(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("go\n")
            self.process.stdin.flush()
            self.process.wait(30)

    def __enter__(self) -> LockHolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


async def until_all_done(client: StemcastClient, request_ids: set[str],
                         timeout: float) -> dict[str, list[dict[str, Any]]]:
    """Each request's messages up to its stemsReady/stemsFailed (all read from one socket,
    so none is dropped while another request is awaited)."""
    messages: dict[str, list[dict[str, Any]]] = {rid: [] for rid in request_ids}
    pending = set(request_ids)
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no final message within {timeout} s for {pending}: "
                                 f"{ {rid: messages[rid][-3:] for rid in pending} }")
        message = await client.receive(timeout=left)
        rid = message.get("requestId")
        if rid in messages:
            messages[rid].append(message)
            if message["type"] in ("stemsReady", "stemsFailed"):
                pending.discard(rid)
    return messages


def queue(server: ServerProcess) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = httpx.get(f"{server.http_url}/queue", timeout=30).json()["jobs"]
    return jobs
