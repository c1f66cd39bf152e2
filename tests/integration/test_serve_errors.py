"""Start-up mistakes end at once with one clear line: a taken port, a bad STEMCAST_* value."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def stemcast(*args: str, env: dict[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stemcast.cli", *args], capture_output=True,
                          text=True, timeout=timeout, check=False,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def test_a_taken_port_stops_serve_before_ready(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # The deadline only bounds a hang; the old behaviour hung 30-75 s after "ready".
        result = stemcast("serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir",
                          str(tmp_path), "--model", "dsp", timeout=60)
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "--port" in result.stderr and "STEMCAST_PORT" in result.stderr
    assert "stemcast ready" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("variable", "value", "command"), [
    ("STEMCAST_PORT", "abc", "tracks"),
    ("STEMCAST_PORT", "abc", "serve"),
    ("STEMCAST_MAX_CONCURRENT_JOBS", "two", "serve"),
    ("STEMCAST_LOG_JSON", "maybe", "serve"),
    ("STEMCAST_PRECISION", "fp8", "separate"),
    ("STEMCAST_RETENTION_HOURS", "a week", "cache"),
])
def test_a_bad_environment_value_is_one_line_and_exit_2(
        variable: str, value: str, command: str, tmp_path: Path) -> None:
    result = stemcast(command, "--help", env={variable: value,
                                              "STEMCAST_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2, result.stdout
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"stemcast: {variable}={value!r} ")
    assert "unset it" in result.stderr


def test_tracks_with_a_bad_port_variable(tmp_path: Path) -> None:
    """The issue's own example: the variable is read by every command, even one that does
    not use it, so it is checked everywhere."""
    result = stemcast("tracks", env={"STEMCAST_PORT": "abc",
                                     "STEMCAST_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr == ("stemcast: STEMCAST_PORT='abc' is not a whole number; set it to "
                             "a whole number such as 8000, or unset it\n")
