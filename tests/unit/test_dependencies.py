"""Every third-party module server/ and protocol/ import is a declared dependency.

An import that arrives only through another package's requirements (lameenc through
demucs, yaml through demucs, scipy through librosa) breaks the day that package drops it.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"stemcast", "stemcast_protocol", "stemcast_web"}


def imported_top_levels() -> dict[str, str]:
    """Top-level module -> the first file importing it (absolute imports only)."""
    found: dict[str, str] = {}
    for folder in ("server", "protocol"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def declared() -> set[str]:
    """The dependencies, and the optional extras of the server (ytdlp: its import is
    guarded and a missing extra is said in words); not the test extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra, extra_specs in project.get("optional-dependencies", {}).items():
        if extra != "test":
            specs += extra_specs
    return {Requirement(spec).name.lower().replace("_", "-") for spec in specs}


def test_every_third_party_import_is_declared() -> None:
    distributions = packages_distributions()
    missing = []
    for module, where in sorted(imported_top_levels().items()):
        if module in FIRST_PARTY or module in sys.stdlib_module_names:
            continue
        owners = {d.lower().replace("_", "-") for d in distributions.get(module, [])}
        if not owners:
            missing.append(f"{module} ({where}): no installed distribution provides it")
        elif not owners & declared():
            missing.append(f"{module} ({where}): from {', '.join(sorted(owners))}, "
                           "not in pyproject's dependencies")
    assert not missing, "declare these in pyproject.toml:\n" + "\n".join(missing)


@pytest.mark.parametrize("name", ["lameenc", "pyyaml", "huggingface-hub", "scipy"])
def test_the_ones_that_came_in_through_others_are_declared(name: str) -> None:
    assert name in declared()
