"""Which torch device separation runs on."""

from __future__ import annotations

import re

import torch

from stemcast.separation.errors import DeviceUnavailableError


def resolve_device(requested: str) -> torch.device:
    """auto: CUDA when present, else CPU. An explicit cuda without CUDA is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cpu":
        return torch.device("cpu")
    if re.fullmatch(r"cuda(:\d+)?", requested):
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                f"--device {requested} was asked for, but CUDA is not available on this machine "
                f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}). "
                "Use --device auto or --device cpu, or install a CUDA build of torch."
            )
        index = int(requested.split(":")[1]) if ":" in requested else 0
        if index >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"--device {requested}: this machine has {torch.cuda.device_count()} GPU(s)"
            )
        return torch.device(requested)
    raise ValueError(f"unknown device {requested!r}; use auto, cpu, cuda or cuda:N")
