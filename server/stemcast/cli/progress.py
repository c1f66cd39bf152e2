"""Progress bars on stderr for `stemcast separate`: one for all tracks, one per track."""

from __future__ import annotations

import sys
from types import TracebackType

from tqdm import tqdm

_BAR = "{l_bar}{bar}| {n:.0f}/{total:.0f}% [{elapsed}<{remaining}]"


class Progress:
    """An overall bar (tracks done, fractions included) above the current track's bar.

    With one track only the track's bar is shown: the overall one would say the same."""

    def __init__(self, tracks: int, *, enabled: bool = True) -> None:
        self.tracks = tracks
        self.done = 0
        self.enabled = enabled
        self.overall: tqdm | None = None
        if enabled and tracks > 1:
            self.overall = tqdm(total=tracks, desc="all tracks", unit="track", position=0,
                                file=sys.stderr, leave=True,
                                bar_format="{l_bar}{bar}| {n:.1f}/{total} tracks "
                                           "[{elapsed}<{remaining}]")
        self.bar: tqdm | None = None

    def start_track(self, label: str) -> None:
        if not self.enabled:
            return
        self.bar = tqdm(total=100, unit="%", desc=label, bar_format=_BAR, file=sys.stderr,
                        position=1 if self.overall is not None else 0,
                        leave=self.overall is None)

    def update(self, fraction: float) -> None:
        if self.bar is not None:
            self.bar.n = round(fraction * 100, 1)
            self.bar.refresh()
        if self.overall is not None:
            self.overall.n = round(self.done + fraction, 2)
            self.overall.refresh()

    def end_track(self, ok: bool) -> None:
        if self.bar is not None:
            if ok:
                self.update(1.0)
            self.bar.close()
            self.bar = None
        self.done += 1
        if self.overall is not None:
            self.overall.n = self.done
            self.overall.refresh()

    def write(self, line: str) -> None:
        """A message on stderr that does not tear the bars."""
        tqdm.write(line, file=sys.stderr)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.overall is not None:
            self.overall.close()
