"""Stems as the client asked for them, made from one separation ("the master").

A separation job writes its model's stems once, as WAV at the model's rate (16-bit, or
32-bit float when a client asked for more than 16 bits). Everything else a client may
ask for is derived from those files, without separating again:

- a stem variant: 2stems (vocals + accompaniment), 2stems-drums (drums + nodrums),
  4stems from a 6-stem model (other = other + guitar + piano): sums of master stems;
- a subset of the variant's stems;
- another format (flac, mp3), sample rate (44100, 48000) or bit depth.

`plan_outputs` checks a request against the model's stems; `render_outputs` (blocking,
CPU-heavy: run it in the CPU pool) writes the files, each under a temporary name renamed
when complete. Sums are taken on the master's own samples (int16 added in int32 and
clipped), so a 16-bit WAV variant is byte for byte the sum of the streamed chunks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stemcast_protocol.options import DEFAULT_MP3_BITRATE, OptionError, OutputRequest

FOUR = ("drums", "bass", "other", "vocals")
SIX_EXTRA = ("guitar", "piano")


def variant_plan(variant: str | None, sources: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Output stem name -> the master stems summed to make it."""
    sources = tuple(sources)
    if variant is None:
        return {name: (name,) for name in sources}
    if variant == "6stems":
        if not all(name in sources for name in SIX_EXTRA):
            raise OptionError("variant", f"6stems needs a 6-stem model such as htdemucs_6s; "
                                         f"this model makes {len(sources)} stems "
                                         f"({', '.join(sources)}). Start the server with "
                                         "--model htdemucs_6s, or ask for 4stems or 2stems")
        return {name: (name,) for name in sources}
    if variant == "4stems":
        if not all(name in sources for name in FOUR):
            raise OptionError("variant", f"4stems needs drums, bass, other and vocals; this "
                                         f"model makes {', '.join(sources)}")
        rest = tuple(n for n in sources if n not in ("drums", "bass", "vocals"))
        return {"drums": ("drums",), "bass": ("bass",), "other": rest, "vocals": ("vocals",)}
    lead, rest_name = ("vocals", "accompaniment") if variant == "2stems-vocals" \
        else ("drums", "nodrums")
    if lead not in sources:
        raise OptionError("variant", f"{variant} needs a '{lead}' stem; this model makes "
                                     f"{', '.join(sources)}")
    return {lead: (lead,), rest_name: tuple(n for n in sources if n != lead)}


def plan_outputs(request: OutputRequest, sources: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The variant's stems, narrowed to the subset asked for (in the variant's order)."""
    plan = variant_plan(request.variant, sources)
    if request.stems is None:
        return plan
    unknown = [name for name in request.stems if name not in plan]
    if unknown:
        raise OptionError("stems", f"names {', '.join(repr(n) for n in unknown)}, which "
                                   f"{'this variant' if request.variant else 'this model'} "
                                   f"does not make; it makes {', '.join(plan)}")
    return {name: parts for name, parts in plan.items() if name in request.stems}


@dataclass(frozen=True)
class OutputSpec:
    """A request resolved against one separation: what files to deliver."""

    plan: dict[str, tuple[str, ...]]
    format: str
    sample_rate: int
    bit_depth: int
    bitrate: int | None
    variant: str | None

    @property
    def extension(self) -> str:
        return self.format

    def key(self) -> str:
        """Names this rendition among a job's others (its folder under out/)."""
        payload = json.dumps({"plan": self.plan, "format": self.format,
                              "rate": self.sample_rate, "bits": self.bit_depth,
                              "bitrate": self.bitrate}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def is_master(self, master_rate: int, master_float: bool) -> bool:
        """The master's own files already are this (perhaps fewer of them)."""
        return (self.format == "wav" and self.sample_rate == master_rate
                and self.bit_depth == (32 if master_float else 16)
                and all(parts == (name,) for name, parts in self.plan.items()))

    @property
    def stated_bit_depth(self) -> int | None:
        """The bit depth as messages state it: none for mp3 (it has a bitrate)."""
        return self.bit_depth if self.format != "mp3" else None

    def describe(self) -> dict[str, object]:
        return {"format": self.format, "sampleRate": self.sample_rate,
                "bitDepth": self.stated_bit_depth,
                "bitrate": self.bitrate, "variant": self.variant}


def resolve(request: OutputRequest, sources: Sequence[str], master_rate: int) -> OutputSpec:
    return OutputSpec(
        plan=plan_outputs(request, sources), format=request.format,
        sample_rate=request.sample_rate or master_rate, bit_depth=request.bit_depth,
        bitrate=(request.bitrate or DEFAULT_MP3_BITRATE) if request.format == "mp3" else None,
        variant=request.variant)


def combine(blocks: Sequence[np.ndarray]) -> np.ndarray:
    """Sum stems sample by sample: int16 in int32, clipped back to int16; float in float32.

    Used for the files and for streamed chunks alike, so both agree bit for bit."""
    if len(blocks) == 1:
        return blocks[0]
    if blocks[0].dtype == np.int16:
        total = np.sum([b.astype(np.int32) for b in blocks], axis=0)
        return np.asarray(np.clip(total, -32768, 32767), dtype=np.int16)
    return np.asarray(np.sum([b.astype(np.float32) for b in blocks], axis=0), dtype=np.float32)
