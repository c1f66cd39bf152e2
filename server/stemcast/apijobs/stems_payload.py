"""The `data` of a stems callback (and of GET /jobs/{id}/stems), per delivery mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stemcast.apijobs.callback_body import base64_file, json_file
from stemcast.apijobs.callback_waveforms import CallbackWaveforms
from stemcast.apijobs.models import DeliveryMode
from stemcast.delivery.renditions import Delivered
from stemcast_protocol import OutputRequest

# Zoom levels carried in callbacks: the overview and the medium one (~0.5 MB for a
# 3-minute track); every level is served by GET /api/stems/{jobId}/waveforms.
CALLBACK_ZOOM_LEVELS = (1, 2)


def stems_data(*, mode: DeliveryMode, api_job_id: str, delivered: Delivered, model: str,
               processing_time: float | None,
               waveforms: CallbackWaveforms | None) -> dict[str, Any]:
    """As stored: paths for path/callback mode (audio is inlined only when sent), the
    waveforms as references to their files (callback_body.json_file); `[]` without."""
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
        # Seed 000's app server stores one entry per zoom level with <stem>_amplitude;
        # stemcast's min/max peaks per stem (GET /api/stems/{jobId}/waveforms) are `peaks`.
        "waveforms": json_file(waveforms.app) if waveforms else [],
        "peaks": json_file(waveforms.peaks) if waveforms else [],  # at CALLBACK_ZOOM_LEVELS
    }
    if mode == DeliveryMode.CALLBACK:
        data["encoding"] = "base64"
    elif mode == DeliveryMode.POLL:
        # Download URLs, relative to the server until sent (absolute_urls): GET them with
        # the same token.
        data["stems"] = {name: f"/jobs/{api_job_id}/stems/{name}" for name in delivered.stems}
        data["zip"] = f"/jobs/{api_job_id}/stems.zip"
    return data


class InlineTooLargeError(ValueError):
    """The stems are too big to send base64 in one body; the message names the other modes."""


def inline_too_large(size_bytes: float, limit_bytes: int) -> InlineTooLargeError:
    return InlineTooLargeError(
        f"the stems are {size_bytes / 2**20:.0f} MB, more than the {limit_bytes / 2**20:.0f} MB "
        "this server sends base64 in one callback body (--callback-inline-max-mb); use "
        "stem_delivery_mode 'path' (file paths on a shared disk) or 'poll' (download URLs) "
        "for long tracks")


def inline_audio(data: dict[str, Any], max_bytes: int | None = None) -> dict[str, Any]:
    """For callback mode: replace each stem path by the file's bytes in base64 (seed 004),
    as a reference the body is made from (callback_body.base64_file).

    Blocking (stats every stem): call it in a thread. Raises InlineTooLargeError past
    max_bytes, checked on the files' sizes.
    """
    if data.get("encoding") != "base64":
        return data
    if max_bytes is not None:
        size = sum(Path(path).stat().st_size for path in data["stems"].values())
        if size > max_bytes:
            raise inline_too_large(size, max_bytes)
    inlined = dict(data)
    inlined["stems"] = {name: base64_file(path) for name, path in data["stems"].items()}
    return inlined


def estimated_inline_bytes(duration_seconds: float, output: OutputRequest) -> float:
    """A low estimate of the stems' size before base64, to refuse hopeless callback jobs
    at submission (the real sizes are checked again before sending)."""
    stems = len(output.stems) if output.stems is not None else 4
    if output.format == "mp3":
        per_second = (output.bitrate or 320) * 1000 / 8
    else:
        per_second = (output.sample_rate or 44100) * 2 * output.bit_depth / 8
        if output.format == "flac":
            per_second *= 0.4  # lossless compression rarely does better on music
    return duration_seconds * per_second * stems


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
