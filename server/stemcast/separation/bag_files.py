"""Demucs bag files (NAME.yaml listing model signatures) and the texts that explain them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from stemcast.error_text import describe
from stemcast.separation.errors import ModelUnavailableError

BAG_LAYOUT = "SIG-CHECKSUM.th files plus NAME.yaml listing 'models: [SIG, ...]'"
DAMAGED_FIX = (
    "replace the damaged or mismatched file with a good copy; the 8 hex digits after the "
    "last '-' in a .th name must be the start of that file's sha256 (`sha256sum FILE`)"
)
# demucs.utils.fatal() prints to stderr and calls sys.exit; in practice only for diffq.
FATAL_HINT = (
    "demucs gave up and printed why on stderr; a quantised model (mdx_q, mdx_extra_q) "
    "needs `pip install diffq`"
)



def read_bag(name: str, path: Path) -> dict[str, Any]:
    """A bag definition, checked enough that demucs will not fail on it obscurely."""
    try:
        bag = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ModelUnavailableError(
            name, f"the bag file '{path}' cannot be read ({describe(exc)})",
            f"fix or replace it; it must hold {BAG_LAYOUT}") from exc
    models = bag.get("models") if isinstance(bag, dict) else None
    if not (isinstance(models, list) and models and all(isinstance(m, str) for m in models)):
        raise ModelUnavailableError(
            name, f"the bag file '{path}' has no list of model signatures",
            "write it as `models: ['SIG', ...]` (quoted: a signature of digits would "
            "otherwise read as a number)")
    return bag
