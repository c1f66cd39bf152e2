"""The `data` of a stems callback (and of GET /jobs/{id}/stems), per delivery mode."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from stemcast.apijobs.models import DeliveryMode
from stemcast.delivery.renditions import Delivered

# Zoom levels carried in callbacks: the overview and the medium one (~0.5 MB for a
# 3-minute track); every level is served by GET /api/stems/{jobId}/waveforms.
CALLBACK_ZOOM_LEVELS = (1, 2)


def stems_data(*, mode: DeliveryMode, api_job_id: str, delivered: Delivered, model: str,
               processing_time: float | None) -> dict[str, Any]:
    """As stored: paths for path/callback mode (audio is inlined only when sent)."""
    spec = delivered.spec
    data: dict[str, Any] = {
        "delivery_mode": mode.value,
        "stems": dict(delivered.stems),
        "processing_time": processing_time,
        "model": model,
        "format": spec.format,
        "sample_rate": spec.sample_rate,
        "bit_depth": spec.stated_bit_depth,
        "bitrate": spec.bitrate,
        "variant": spec.variant,
        "waveforms": delivered.waveforms,  # delivered at CALLBACK_ZOOM_LEVELS
    }
    if mode == DeliveryMode.CALLBACK:
        data["encoding"] = "base64"
    elif mode == DeliveryMode.POLL:
        # Download URLs, relative to the server: GET them with the same token.
        data["stems"] = {name: f"/jobs/{api_job_id}/stems/{name}" for name in delivered.stems}
        data["zip"] = f"/jobs/{api_job_id}/stems.zip"
    return data


def inline_audio(data: dict[str, Any]) -> dict[str, Any]:
    """For callback mode: replace each stem path by the file's bytes in base64 (seed 004).

    Blocking (reads every stem): call it in a thread.
    """
    if data.get("encoding") != "base64":
        return data
    inlined = dict(data)
    inlined["stems"] = {name: base64.b64encode(Path(path).read_bytes()).decode("ascii")
                        for name, path in data["stems"].items()}
    return inlined
