"""Why a model or device cannot be used, and what to do about it."""

from __future__ import annotations

from typing import ClassVar


class _UnavailableError(RuntimeError):
    """`name` cannot be used: `reason` says why, `fix` tells the operator what to do."""

    what: ClassVar[str] = ""

    def __init__(self, name: str, reason: str, fix: str) -> None:
        self.name = name
        self.reason = reason
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.what} '{self.name}' is not available: {self.reason}. Fix: {self.fix}"

    def __reduce__(self) -> tuple[type[_UnavailableError], tuple[str, str, str]]:
        # Picklable with its fields, so it can cross a process boundary intact.
        return type(self), (self.name, self.reason, self.fix)


class ModelUnavailableError(_UnavailableError):
    """The model's weights cannot be found or loaded."""

    what = "Model"

    @property
    def model(self) -> str:
        return self.name


class DeviceUnavailableError(_UnavailableError):
    """The requested torch device does not exist on this machine (e.g. cuda without CUDA)."""

    what = "Device"

    @property
    def device(self) -> str:
        return self.name
