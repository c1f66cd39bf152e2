"""Why a model or device cannot be used, and what to do about it."""

from __future__ import annotations


class ModelUnavailableError(RuntimeError):
    def __init__(self, model: str, reason: str, fix: str) -> None:
        self.model = model
        self.reason = reason
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"Model '{self.model}' is not available: {self.reason}. Fix: {self.fix}"


class DeviceUnavailableError(RuntimeError):
    pass
