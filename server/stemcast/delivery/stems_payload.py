"""The `data` of a stems callback (and of GET /jobs/{id}/stems), per delivery mode."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from stemcast.analysis.app_waveforms import stem_amplitude_waveforms
from stemcast.apijobs.models import DeliveryMode
from stemcast.delivery.renditions import Delivered

# Zoom levels carried in callbacks: the overview and the medium one (~0.5 MB for a
# 3-minute track); every level is served by GET /api/stems/{jobId}/waveforms.
CALLBACK_ZOOM_LEVELS = (1, 2)


def stems_data(*, mode: DeliveryMode, api_job_id: str, delivered: Delivered, model: str,
               processing_time: float | None) -> dict[str, Any]:
    """As stored: paths for path/callback mode (audio is inlined only when sent)."""
    output = delivered.spec.describe()
    data: dict[str, Any] = {
        "delivery_mode": mode.value,
        "stems": dict(delivered.stems),
        "processing_time": processing_time,
        "model": model,
        "format": output["format"],
        "sample_rate": output["sampleRate"],
        "bit_depth": output["bitDepth"],
        "bitrate": output["bitrate"],
        "variant": output["variant"],
        # Seed 000's app server stores one entry per zoom level with <stem>_amplitude;
        # stemcast's min/max peaks per stem (GET /api/stems/{jobId}/waveforms) are `peaks`.
        "waveforms": stem_amplitude_waveforms(delivered.waveforms),
        "peaks": delivered.waveforms,  # delivered at CALLBACK_ZOOM_LEVELS
    }
    if mode == DeliveryMode.CALLBACK:
        data["encoding"] = "base64"
    elif mode == DeliveryMode.POLL:
        # Download URLs, relative to the server until sent (absolute_urls): GET them with
        # the same token.
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


def absolute_urls(data: dict[str, Any], base: str | None) -> dict[str, Any]:
    """Poll mode's relative download URLs made absolute with `base` (e.g.
    "http://host:8000"); other data, or no base, is returned as it is."""
    if not base or data.get("delivery_mode") != DeliveryMode.POLL.value:
        return data
    root = base.rstrip("/")

    def absolute(url: Any) -> Any:
        return f"{root}{url}" if isinstance(url, str) and url.startswith("/") else url

    result = dict(data)
    result["stems"] = {name: absolute(url) for name, url in data.get("stems", {}).items()}
    if "zip" in data:
        result["zip"] = absolute(data["zip"])
    return result
