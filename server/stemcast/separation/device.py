"""Which torch device separation runs on."""

from __future__ import annotations

import re

import torch

from stemcast.separation.errors import DeviceUnavailableError

ALLOWED = "auto, cpu, cuda or cuda:N"


def resolve_device(requested: str) -> torch.device:
    """auto: CUDA when present, else CPU. An explicit cuda without CUDA is an error."""
    wanted = requested.strip().lower()
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if wanted == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", wanted)
    if match is None:
        raise ValueError(f"unknown device {requested!r}; use {ALLOWED}")
    if not torch.cuda.is_available():
        built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU only"
        raise DeviceUnavailableError(
            requested,
            f"CUDA is not available on this machine (torch {torch.__version__}, {built})",
            "start with --device auto (uses a GPU when there is one) or --device cpu, "
            "or install a CUDA build of torch",
        )
    index = int(match.group(1) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceUnavailableError(
            requested, f"this machine has {count} CUDA device(s), numbered from 0",
            f"use --device cuda:0 .. cuda:{count - 1}, or --device auto",
        )
    return torch.device("cuda", index)
