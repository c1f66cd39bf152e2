"""A real `stemcast serve` process on a free loopback port, for integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    data_dir: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    # The tests' audio files and callback receivers live on loopback, which the outbound
    # guard refuses by default; tests/security/ turns this off to test the guard itself.
    allow_private_targets: bool = True
    process: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    # 180 s: on two cores shared with other test runs a server has taken over 60 s to load
    # the tiny model; a deadline all the same, so a server that never gets ready fails.
    def start(self, wait_model: bool = True, timeout: float = 180.0) -> ServerProcess:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **self.env}
        self.log_path = self.log_path or self.data_dir.parent / f"server-{self.port}.log"
        log = self.log_path.open("ab")
        command = [sys.executable, "-m", "stemcast.cli", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--data-dir", str(self.data_dir), *self.args,
                   *(["--fetch-allow-private"] if self.allow_private_targets else [])]
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self.wait_ready(wait_model=wait_model, timeout=timeout)
        except BaseException:
            self.kill()  # a server that never got ready must not outlive the test
            raise
        return self

    def health(self) -> dict[str, Any]:
        token = self.args[self.args.index("--token") + 1] if "--token" in self.args else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.get(f"{self.http_url}/health", headers=headers, timeout=5)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def wait_ready(self, wait_model: bool, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                health = self.health()
                if not wait_model or health["model"]["state"] != "loading":
                    return
            except httpx.HTTPError as exc:
                last_error = exc
            time.sleep(0.2)
        raise TimeoutError(f"server not ready after {timeout} s ({last_error}):\n{self.log()}")

    def log(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-6000:]
        return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def kill(self) -> None:
        """Like a power cut: no shutdown code runs (its workers die with their pipes)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def start_tiny_server(data_dir: Path, model_repo: Path, *args: str) -> ServerProcess:
    """A server on the tests' tiny Demucs model (tests/conftest.py's tiny_model_repo)."""
    return ServerProcess(data_dir, args=["--model", "tiny", "--model-repo", str(model_repo),
                                         *args]).start()
