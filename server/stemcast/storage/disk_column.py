"""Numbers appended to an unlinked temporary file and read back by region: what a long
track makes a value at a time (its mono mixdown, its band waveforms' columns) kept on
disk instead of in memory until it is used."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import numpy as np


class DiskColumn:
    """Values of one dtype appended to an unlinked temporary file."""

    def __init__(self, folder: str | os.PathLike[str] | None = None,
                 dtype: type[np.floating] = np.float64, prefix: str = "stemcast-column-"
                 ) -> None:
        # Unlinked at once: nothing is left behind however the process ends.
        self._file = tempfile.TemporaryFile(dir=folder, prefix=prefix)  # noqa: SIM115
        self.dtype = np.dtype(dtype)
        self.size = 0

    def append(self, values: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())
        self.size += int(values.size)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Values [start, stop), both within 0..size."""
        self._file.flush()
        item = self.dtype.itemsize
        data = os.pread(self._file.fileno(), (stop - start) * item, start * item)
        return np.frombuffer(data, dtype=self.dtype)

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        for start in range(0, self.size, size):
            yield self.read(start, min(start + size, self.size))

    def to_array(self) -> np.ndarray:
        return self.read(0, self.size).copy()

    def close(self) -> None:
        self._file.close()
