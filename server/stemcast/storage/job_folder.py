"""The one spelling of a separation job's folder on disk.

```
JOB/stems/NAME.wav            the master stems (NAME.s16.partial / .f32.partial while running)
JOB/stems.json                what the worker made (seed 000's job folder)
JOB/waveforms-LEVEL.json      peaks of the mix and each stem, one file per zoom level
JOB/out/KEY/                  renditions (format, rate, variant, subset), one per options key
JOB/drums/                    the drum transcription (onsets.json, drums.mid)
JOB/callback/KEY-LEVELS/      the stems callback's waveforms (peaks.json, app.json)
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JobFolder:
    root: Path

    @classmethod
    def of(cls, output_dir: str | Path) -> JobFolder:
        return cls(Path(output_dir))

    @property
    def stems_dir(self) -> Path:
        return self.root / "stems"

    def stem(self, name: str) -> Path:
        """A finished master stem."""
        return self.stems_dir / f"{name}.wav"

    def raw_stem(self, name: str, raw_suffix: str) -> Path:
        """A stem's interleaved samples while the job runs (the WAV's data chunk)."""
        return self.stems_dir / f"{name}{raw_suffix}"

    @property
    def stems_json(self) -> Path:
        return self.root / "stems.json"

    def waveforms(self, level: int) -> Path:
        """One file per zoom level: a reader loads only the levels it sends."""
        return self.root / f"waveforms-{level}.json"

    def rendition(self, key: str) -> Path:
        return self.root / "out" / key

    def callback_waveforms(self, key: str, levels: tuple[int, ...]) -> Path:
        """The stems callback's waveforms for one options key, at the levels sent."""
        return self.root / "callback" / f"{key}-{'-'.join(map(str, levels))}"

    def mix_export(self, name: str) -> Path:
        """A mix being rendered and sent (POST .../mix), removed once sent."""
        return self.root / "mixes" / name

    @property
    def drums_dir(self) -> Path:
        return self.root / "drums"
