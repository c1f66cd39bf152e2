"""Shared fixtures: a tiny Demucs model in the local-repo layout, and test audio."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemcast.separation.random_model import build_htdemucs, save_to_repo
from tests.support.audio_fixtures import make_music_like_signal, write_audio

TINY_MODEL = "tiny"


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
