"""Why a model or device cannot be used, and what to do about it."""

from __future__ import annotations


class ModelUnavailableError(RuntimeError):
    """The model's weights cannot be found or loaded; `fix` tells the operator what to do."""

    def __init__(self, model: str, reason: str, fix: str) -> None:
        self.model = model
        self.reason = reason
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"Model '{self.model}' is not available: {self.reason}. Fix: {self.fix}"

    def __reduce__(self) -> tuple[type[ModelUnavailableError], tuple[str, str, str]]:
        # Picklable with its fields, so it can cross a process boundary intact.
        return type(self), (self.model, self.reason, self.fix)


class DeviceUnavailableError(RuntimeError):
    """The requested torch device does not exist on this machine (e.g. cuda without CUDA)."""

    def __init__(self, device: str, reason: str, fix: str) -> None:
        self.device = device
        self.reason = reason
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"Device '{self.device}' is not available: {self.reason}. Fix: {self.fix}"

    def __reduce__(self) -> tuple[type[DeviceUnavailableError], tuple[str, str, str]]:
        return type(self), (self.device, self.reason, self.fix)
