"""Tests that need a system tool: skipped where it is missing, a failure under CI.

`.ci/run` installs chromium, fluidsynth and the GM soundfont and sets STEMCAST_CI=1: there a
missing tool means the install failed, and a green run without those tests would claim what
it did not check. Elsewhere (a developer's machine) the tests are skipped, saying why, and
pytest's `-rs` summary lists every skip.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

CI_VARIABLE = "STEMCAST_CI"


def under_ci() -> bool:
    return os.environ.get(CI_VARIABLE, "") not in ("", "0")


def missing_tool(reason: str, *, module_level: bool = False) -> NoReturn:
    """Skip, or fail under CI, because a tool that `.ci/run` installs is not here."""
    if under_ci():
        pytest.fail(f"{reason} ({CI_VARIABLE} is set: .ci/run was meant to install it)",
                    pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)
