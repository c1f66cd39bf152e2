"""The Docker image builds and its server becomes ready (needs a Docker engine).

Skipped, with the reason, where no engine answers (this project's machines have none; CI
with Docker runs it). The image is built from the working tree, started with the port
published, and /health/ready is polled until it answers 200.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

READY_DEADLINE_S = 300.0


def _engine_problem() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "no docker command on this machine"
    probe = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"],
                           capture_output=True, text=True, timeout=60, check=False)
    if probe.returncode != 0:
        return f"no Docker engine answers ({probe.stderr.strip()[:200]})"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_image_builds_and_serves_ready() -> None:
    problem = _engine_problem()
    if problem is not None:
        pytest.skip(f"Docker image test: {problem}")
    tag = f"stemcast-test:{uuid.uuid4().hex[:8]}"
    name = f"stemcast-test-{uuid.uuid4().hex[:8]}"
    build = subprocess.run(["docker", "build", "-t", tag, str(ROOT)], capture_output=True,
                           text=True, timeout=3600, check=False)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    port = _free_port()
    try:
        subprocess.run(["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000",
                        "-e", "STEMCAST_MODEL=dsp", tag], check=True, capture_output=True,
                       timeout=120)
        deadline = time.monotonic() + READY_DEADLINE_S
        status = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready",
                                            timeout=5) as response:
                    status = response.status
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(2)
        logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True,
                              timeout=60, check=False)
        assert status == 200, logs.stdout[-4000:] + logs.stderr[-4000:]
        licences = subprocess.run(["docker", "exec", name, "ls",
                                   "/usr/share/licenses/stemcast/lameenc"],
                                  capture_output=True, text=True, timeout=60, check=False)
        assert licences.returncode == 0 and licences.stdout.strip(), licences.stderr
        # The s3 extra is in the image (--storage s3://...), its licences with it.
        s3 = subprocess.run(["docker", "exec", name, "sh", "-c",
                             "python -c 'import boto3' && "
                             "ls /usr/share/licenses/stemcast/botocore"],
                            capture_output=True, text=True, timeout=60, check=False)
        assert s3.returncode == 0 and "NOTICE" in s3.stdout, s3.stderr
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=120,
                       check=False)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=300,
                       check=False)
