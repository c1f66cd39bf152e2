"""Shared fixtures: a tiny Demucs model in the local-repo layout, and test audio."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from stemcast.separation.random_model import build_htdemucs, save_to_repo
from tests.support.audio_fixtures import make_music_like_signal, write_audio

TINY_MODEL = "tiny"

# One numba cache for the whole run (this process, every server and CLI it starts),
# filled once before any server starts (prewarmed_numba_cache), so that the servers only
# read it: numba's cache is not safe for two processes writing at once, and compiling it
# anew for each of the run's ~20 servers would cost minutes. Set before numba is imported.
# STEMCAST_TEST_NUMBA_CACHE names one a finished run filled, to skip compiling again (on a
# loaded two-core machine the warm-up alone took over ten minutes).
NUMBA_CACHE = Path(os.environ.get("STEMCAST_TEST_NUMBA_CACHE")
                   or tempfile.mkdtemp(prefix="stemcast-test-numba-"))
os.environ["STEMCAST_NUMBA_CACHE_DIR"] = str(NUMBA_CACHE)
os.environ["NUMBA_CACHE_DIR"] = str(NUMBA_CACHE)

_PREWARM = """
import numpy as np
from stemcast.analysis.tasks import warm_up_analysis, warm_up_delivery
from stemcast.separation.dsp_engine import DspEngine
warm_up_analysis()
warm_up_delivery()
DspEngine().separate(np.zeros((2, 44100), dtype=np.float32))
"""


@pytest.fixture(scope="session", autouse=True)
def prewarmed_numba_cache() -> Path:
    subprocess.run([sys.executable, "-c", _PREWARM], check=True, timeout=600)
    return NUMBA_CACHE


@pytest.fixture(scope="session")
def tiny_model_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("model-repo")
    save_to_repo(build_htdemucs("tiny", seed=0), repo, TINY_MODEL)
    return repo


@pytest.fixture(scope="session")
def music_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Short clips, one per format; the content of `song.wav` and `song.flac` is identical."""
    folder = tmp_path_factory.mktemp("music")
    signal = make_music_like_signal(6.0, seed=1)
    for name in ("song.wav", "song.flac", "song.mp3"):
        write_audio(folder / name, signal, 44100)
    write_audio(folder / "other.wav", make_music_like_signal(5.0, seed=2), 44100)
    write_audio(folder / "third.wav", make_music_like_signal(5.0, seed=3), 44100)
    (folder / "notes.txt").write_text("this is not audio\n")
    (folder / "empty.wav").write_bytes(b"")
    (folder / "truncated.mp3").write_bytes((folder / "song.mp3").read_bytes()[:100])
    return folder
