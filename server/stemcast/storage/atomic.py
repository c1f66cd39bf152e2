"""Writing a file so that a reader sees the old content or the new, never half of it.

The data goes to NAME.TOKEN.partial beside the target (so the rename stays on one
filesystem; TOKEN so that two writers of the same file at once never share one), is
fsynced, then os.replace renames it over the target. On any failure the partial file is
removed; a crash leaves at most a .partial behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


def partial_path(target: Path) -> Path:
    return target.with_name(f"{target.name}.{secrets.token_hex(4)}.partial")


@contextlib.contextmanager
def atomic_target(target: Path) -> Iterator[Path]:
    """Yield the path to write; it becomes `target` when the block ends without error."""
    partial = partial_path(target)
    try:
        yield partial
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())  # the bytes are on disk before the name points at them
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_text_atomic(target: Path, text: str) -> None:
    with atomic_target(target) as partial:
        partial.write_text(text)
