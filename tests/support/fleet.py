"""A real `redis-server` and `stemcast worker` processes on loopback, for the fleet tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.server import free_port
from tests.support.tools import missing_tool


def redis_server_binary() -> str:
    """Debian's redis-server (.ci/run installs it); skipped, or failed under CI, if absent."""
    found = shutil.which("redis-server")
    if found is None:
        missing_tool("redis-server is not installed (apt-get install redis-server)",
                     module_level=True)
    assert found is not None
    return found


@dataclass
class RedisProcess:
    """redis-server with AOF on and fsync on every write: a kill -9 loses nothing."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> RedisProcess:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.folder), "--appendonly", "yes", "--appendfsync", "always",
             "--save", "", "--protected-mode", "yes"],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log()}")
            time.sleep(0.05)
        raise TimeoutError(f"redis-server not answering after {timeout} s: {self.log()}")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def log(self) -> str:
        path = self.folder / "redis.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@dataclass
class WorkerProcess:
    """One `stemcast worker` of the fleet."""

    queue_url: str
    args: list[str]
    log_path: Path
    name: str
    process: subprocess.Popen[bytes] | None = None
    # Its own process group (os.killpg reaches it and its separation process, as Ctrl-C
    # or systemd's stop would), apart from the test run's.
    new_session: bool = False

    def start(self) -> WorkerProcess:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stemcast.cli", "worker", "--queue", self.queue_url,
             "--name", self.name, *self.args], env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=self.new_session)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() \
            else ""

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode
