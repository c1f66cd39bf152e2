"""Fixtures shared by integration modules that need nothing but a plain server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess, start_tiny_server


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory: pytest.TempPathFactory,
                tiny_model_repo: Path) -> Iterator[ServerProcess]:
    """One server on the tiny Demucs model per test module, stopped after it."""
    proc = start_tiny_server(tmp_path_factory.mktemp("tiny-server") / "data", tiny_model_repo)
    yield proc
    proc.stop()
