"""`stemcast separate`: files to stems with one model load, in demucs's output layout.

`load_separator` loads the model once; `Separator.separate_track` decodes one track,
separates it and writes its stems to OUT/MODEL/<--filename> (demucs's placeholders
{track}, {trackext}, {stem}, {ext}), in any format the server renders (delivery/outputs.py).
A track that fails is a `TrackResult` with its error: the caller reports it and goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemcast.delivery.encode import encode_stem
from stemcast.separation.engine import ProgressCallback, SeparationEngine

DEMUCS_FILENAME = "{track}/{stem}.{ext}"
_PLACEHOLDERS = {"track": "song", "trackext": "mp3", "stem": "vocals", "ext": "wav"}


class SeparateError(ValueError):
    """Options that cannot work (a bad --filename, --two-stems naming no stem, ...)."""


@dataclass(frozen=True)
class StemFormat:
    """How stems are written, as demucs's flags say it."""

    format: str = "wav"  # wav, flac or mp3
    bit_depth: int = 16  # 16, 24 (--int24) or 32 (--float32, WAV only)
    mp3_bitrate: int = 320
    mp3_preset: int = 2
    clip_mode: str = "rescale"  # rescale, clamp or none, as demucs's --clip-mode
    filename: str = DEMUCS_FILENAME
    two_stems: str | None = None
    other_method: str = "add"  # no_STEM: add (sum of the others), minus (mix - STEM), none

    def check(self) -> None:
        if self.format == "flac" and self.bit_depth == 32:
            raise SeparateError("--float32 is for WAV; FLAC holds up to 24 bits: use --int24")
        try:
            name = self.filename.format(**_PLACEHOLDERS)
        except (KeyError, IndexError, ValueError) as exc:
            raise SeparateError(f"--filename {self.filename!r} has an unknown placeholder "
                                f"({exc}); use {{track}}, {{trackext}}, {{stem}} and "
                                f"{{ext}}") from None
        if not name or Path(name).is_absolute() or ".." in Path(name).parts:
            raise SeparateError(f"--filename {self.filename!r} must name a file inside the "
                                "output folder, e.g. {track}/{stem}.{ext}")

    def path(self, out: Path, track: Path, stem: str) -> Path:
        base, _, ext = track.name.rpartition(".")
        return out / self.filename.format(track=base or ext, trackext=ext, stem=stem,
                                          ext=self.format)


@dataclass
class TrackResult:
    track: Path
    stems: dict[str, Path] = field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def speed(self) -> float:
        """Seconds of audio separated per second."""
        return self.duration_s / max(self.elapsed_s, 1e-9)

    def to_json(self, model: str) -> dict[str, object]:
        return {"track": str(self.track), "ok": self.ok, "model": model,
                "stems": {name: str(path.resolve()) for name, path in self.stems.items()},
                "error": self.error, "durationSeconds": round(self.duration_s, 3),
                "elapsedSeconds": round(self.elapsed_s, 3)}


def prevent_clip(stem: np.ndarray, mode: str) -> np.ndarray:
    """demucs.audio.prevent_clip: rescale the whole stem below full scale, or clamp."""
    if mode == "rescale":
        return np.asarray(stem / max(1.01 * float(np.abs(stem).max(initial=0.0)), 1.0))
    if mode == "clamp":
        return np.clip(stem, -0.99, 0.99)
    return stem


@dataclass
class Separator:
    engine: SeparationEngine
    model: str  # the folder under OUT, as demucs names it: the model's name
    out: Path
    style: StemFormat
    shifts: int = 0

    def __post_init__(self) -> None:
        self.style.check()
        stem = self.style.two_stems
        if stem is not None and stem not in self.engine.info.sources:
            raise SeparateError(f'--two-stems "{stem}" is not a stem of {self.model}; STEM '
                                f"must be one of {', '.join(self.engine.info.sources)}")

    @property
    def folder(self) -> Path:
        return self.out / self.model.replace("hf://", "").replace("/", "_")

    def separate_track(self, track: Path,
                       on_progress: ProgressCallback | None = None) -> TrackResult:
        from stemcast.audio import AudioError, decode, resample, to_channels

        result = TrackResult(track)
        started = time.monotonic()
        try:
            audio = decode(track)
            result.duration_s = audio.duration_seconds
            info = self.engine.info
            mix = to_channels(resample(audio, info.sample_rate), info.channels).samples
            sources = self.engine.separate(mix, on_progress=on_progress, shifts=self.shifts,
                                           seed=track.name)
            for name, samples in self._outputs(mix, sources).items():
                path = self.style.path(self.folder, track, name)
                path.parent.mkdir(parents=True, exist_ok=True)
                data = prevent_clip(samples, self.style.clip_mode).T.astype(np.float32)
                encode_stem(path, data, info.sample_rate, format=self.style.format,
                            bit_depth=self.style.bit_depth, bitrate=self.style.mp3_bitrate,
                            mp3_quality=self.style.mp3_preset)
                result.stems[name] = path
        except (AudioError, ValueError, OSError) as exc:
            result.error = str(exc)
        result.elapsed_s = time.monotonic() - started
        return result

    def _outputs(self, mix: np.ndarray,
                 sources: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """All stems, or (--two-stems) STEM and no_STEM / minus_STEM as demucs writes them."""
        stem = self.style.two_stems
        if stem is None:
            return sources
        chosen = sources[stem]
        outputs: dict[str, np.ndarray] = {}
        if self.style.other_method == "minus":
            outputs[f"minus_{stem}"] = mix - chosen
        outputs[stem] = chosen
        if self.style.other_method == "add":
            others = [s for n, s in sources.items() if n != stem]
            outputs[f"no_{stem}"] = np.asarray(np.sum(others, axis=0, dtype=np.float32))
        return outputs


@dataclass(frozen=True)
class Loaded:
    engine: SeparationEngine
    model: str  # the model that runs (what `auto` chose, else the name asked for)
    choice: str  # why, in words


def load_separator_engine(model: str, repo: Path | None, *, device: str, fetch_timeout: float,
                          precision: str, threads: int = 0) -> Loaded:
    """Load the model once for every track. Raises SeparateError saying why it failed.

    threads: torch's threads for the separation (demucs's -j); 0 = torch's default."""
    import torch

    from stemcast.separation.engines import load_engines
    from stemcast.separation.worker_messages import WorkerConfig

    engines = load_engines(WorkerConfig(model=model, model_repo=repo, device=device,
                                        fetch_timeout=fetch_timeout, precision=precision),
                           offer_dsp=False, background_download=False)
    if engines.default is None:
        raise SeparateError(str(engines.default_error))
    if threads > 0:
        torch.set_num_threads(threads)
    return Loaded(engines.engines[engines.default], engines.default, engines.choice)
