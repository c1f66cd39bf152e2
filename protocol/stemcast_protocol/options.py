"""Output options of a stems request: file format, rate, bit depth, stem variant, subset.

One validator serves both edges: getTrackInfo (camelCase: `sampleRate`, `bitDepth`) and
the HTTP job API's `options` (snake_case: `sample_rate`, `bit_depth`). Whatever is asked,
the separation itself is done once per audio and model; these options only say how its
stems are delivered (see PROTOCOL.md section 3.5).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

FORMATS = ("wav", "flac", "mp3")
SAMPLE_RATES = (44100, 48000)
# 32 is 32-bit float (wav only); flac holds integers up to 24 bits.
BIT_DEPTHS = {"wav": (16, 24, 32), "flac": (16, 24), "mp3": (16,)}
MP3_BITRATES = (128, 160, 192, 224, 256, 320)
DEFAULT_MP3_BITRATE = 320
VARIANTS = ("4stems", "6stems", "2stems", "2stems-vocals", "2stems-drums")
MAX_STEM_NAMES = 8
MAX_STEM_NAME_LENGTH = 32


class OptionError(ValueError):
    """One option is wrong; `field` is its name as the client spelled it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field '{field}' {problem}")
        self.field = field


@dataclass(frozen=True)
class OutputRequest:
    """What a client asked for; None means the server's default (the model's own)."""

    format: str = "wav"
    sample_rate: int | None = None  # None: the model's rate (44100 for Demucs)
    bit_depth: int = 16
    bitrate: int | None = None  # mp3 only; None: 320
    variant: str | None = None  # None: the model's own stems
    stems: tuple[str, ...] | None = None  # a subset of the variant's stems; None: all

    @property
    def is_default(self) -> bool:
        return self == OutputRequest()

    @property
    def wants_float_master(self) -> bool:
        """More than 16 bits asked: the separation keeps its float output for it."""
        return self.format in ("wav", "flac") and self.bit_depth > 16

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "sampleRate": self.sample_rate,
                "bitDepth": self.bit_depth, "bitrate": self.bitrate, "variant": self.variant,
                "stems": list(self.stems) if self.stems is not None else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutputRequest:
        return parse_output_options(data.get, camel=True)


def _names(camel: bool) -> dict[str, str]:
    if camel:
        return {"sample_rate": "sampleRate", "bit_depth": "bitDepth"}
    return {"sample_rate": "sample_rate", "bit_depth": "bit_depth"}


def _integer(value: Any, field: str, allowed: tuple[int, ...]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            value = int(value)  # multipart forms carry everything as text
        else:
            raise OptionError(field, f"must be an integer, one of "
                                     f"{', '.join(map(str, allowed))}")
    if value not in allowed:
        raise OptionError(field,
                          f"must be one of {', '.join(map(str, allowed))}; got {str(value)[:40]}")
    return int(value)


def _stem_list(value: Any) -> tuple[str, ...] | None:
    """`stems` as a list of names; anything else is seed 000's plain yes/no (checked by
    the caller as a boolean)."""
    if not isinstance(value, list | tuple):
        return None
    if not value:
        raise OptionError("stems", "must be true, false or a non-empty list of stem names "
                                   "like [\"drums\", \"vocals\"]")
    if len(value) > MAX_STEM_NAMES:
        raise OptionError("stems", f"lists at most {MAX_STEM_NAMES} names")
    names: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item or len(item) > MAX_STEM_NAME_LENGTH:
            raise OptionError("stems", "must list stem names as non-empty strings")
        if item not in names:
            names.append(item)
    return tuple(names)


def parse_output_options(get: Callable[[str], Any], *, camel: bool) -> OutputRequest:
    """Validate the output options read by `get(name)` (None when absent)."""
    names = _names(camel)
    fmt = get("format")
    if fmt is None:
        fmt = "wav"
    if not isinstance(fmt, str) or fmt.lower() not in FORMATS:
        raise OptionError("format", f"must be one of {', '.join(FORMATS)}; got {repr(fmt)[:40]}")
    fmt = fmt.lower()
    rate_raw = get(names["sample_rate"])
    rate = None if rate_raw is None else _integer(rate_raw, names["sample_rate"], SAMPLE_RATES)
    depth_raw = get(names["bit_depth"])
    depth = 16 if depth_raw is None else _integer(depth_raw, names["bit_depth"],
                                                  BIT_DEPTHS[fmt])
    bitrate_raw = get("bitrate")
    bitrate = None
    if bitrate_raw is not None:
        if fmt != "mp3":
            raise OptionError("bitrate", f"applies to mp3 only (format is {fmt}); leave it "
                                         "out or set format to mp3")
        bitrate = _integer(bitrate_raw, "bitrate", MP3_BITRATES)
    variant = get("variant")
    if variant is not None and (not isinstance(variant, str) or variant not in VARIANTS):
        raise OptionError("variant",
                          f"must be one of {', '.join(VARIANTS)}; got {repr(variant)[:40]}")
    if variant == "2stems":
        variant = "2stems-vocals"
    return OutputRequest(format=fmt, sample_rate=rate, bit_depth=depth, bitrate=bitrate,
                         variant=variant, stems=_stem_list(get("stems")))
