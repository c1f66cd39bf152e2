"""Child processes die with the server: never a worker separating (and holding GPU memory)
for a server that is gone.

Every process the server starts (separation workers, CPU-pool processes) calls
`bind_to_parent` first. On Linux the kernel then kills it the moment its parent dies,
kill -9 included (PR_SET_PDEATHSIG); everywhere, a thread also watches the parent id,
which changes when the parent dies and the child is re-parented.

PR_SET_PDEATHSIG fires when the *thread* that started the child ends, not the process:
the parent asks for it only when it starts children from its main thread (the event
loop's), which lives as long as the server. multiprocessing's resource tracker needs
nothing: it exits when the last process holding its pipe (the server and these
children) is gone.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from typing import Final

PR_SET_PDEATHSIG: Final = 1  # <linux/prctl.h>
WATCH_INTERVAL_S: Final = 0.5


def started_from_main_thread() -> bool:
    """Whether children started now may use the parent-death signal (see above)."""
    return threading.current_thread() is threading.main_thread()


def bind_to_parent(parent_pid: int, use_death_signal: bool) -> None:
    if use_death_signal and sys.platform.startswith("linux"):
        _set_death_signal()
    if os.getppid() != parent_pid:
        os._exit(0)  # the server died before this process got here
    threading.Thread(target=_watch, args=(parent_pid,), daemon=True,
                     name="parent-watch").start()


def _set_death_signal() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # no prctl here: the watch thread alone does it


def _watch(parent_pid: int) -> None:
    while True:
        time.sleep(WATCH_INTERVAL_S)
        if os.getppid() != parent_pid:
            os._exit(0)


def name_process(name: str) -> None:
    """The name ps, top and psutil show for this process (Linux's comm, 15 characters):
    a server's workers and CPU-pool processes told apart by role (bench/memory.py
    samples each role's memory by it). Elsewhere a no-op."""
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(name[:15])
    except OSError:
        pass
