"""The command line: separate one file, make a test model, refuse bad settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from stemcast.separation.model_loading import load_model
from tests.conftest import TINY_MODEL

pytestmark = pytest.mark.integration


def stemcast(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stemcast.cli", *args], capture_output=True,
                          text=True, timeout=timeout, check=False,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})


def test_separate_writes_stems_with_a_progress_bar(tmp_path: Path, music_dir: Path,
                                                   tiny_model_repo: Path) -> None:
    result = stemcast("separate", str(music_dir / "song.mp3"), "--out", str(tmp_path),
                      "--model", TINY_MODEL, "--model-repo", str(tiny_model_repo))
    out = tmp_path / TINY_MODEL / "song"  # demucs's layout: OUT/MODEL/TRACK/STEM.wav
    assert result.returncode == 0, result.stderr
    assert "100%" in result.stderr and "realtime" in result.stderr
    written = sorted(p.name for p in out.iterdir())
    assert written == ["bass.wav", "drums.wav", "other.wav", "vocals.wav"]
    source = sf.info(music_dir / "song.mp3")
    for name in written:
        info = sf.info(out / name)
        assert info.channels == 2 and info.samplerate == 44100
        assert abs(info.frames - source.frames) == 0
    assert result.stdout.split() == [str((out / n).resolve()) for n in
                                     ("drums.wav", "bass.wav", "other.wav", "vocals.wav")]


def test_separate_says_what_is_wrong(tmp_path: Path, music_dir: Path,
                                     tiny_model_repo: Path) -> None:
    bad_input = stemcast("separate", str(music_dir / "notes.txt"), "--out", str(tmp_path),
                         "--model", TINY_MODEL, "--model-repo", str(tiny_model_repo))
    assert bad_input.returncode == 1 and "not an audio file" in bad_input.stderr
    no_model = stemcast("separate", str(music_dir / "song.wav"), "--out", str(tmp_path),
                        "--model", "htdemucs")
    assert no_model.returncode == 1 and "--model-repo" in no_model.stderr
    assert list(tmp_path.iterdir()) == []


def test_make_test_model(tmp_path: Path) -> None:
    result = stemcast("make-test-model", str(tmp_path / "repo"), "--name", "six", "--six-stems")
    assert result.returncode == 0, result.stderr
    assert "--model six --model-repo" in result.stdout
    assert list(load_model("six", tmp_path / "repo").sources)[-2:] == ["guitar", "piano"]


def test_serve_refuses_bad_settings(tmp_path: Path) -> None:
    result = stemcast("serve", "--data-dir", str(tmp_path), "--library", str(tmp_path / "nope"))
    assert result.returncode == 2 and "--library" in result.stderr
    result = stemcast("serve", "--data-dir", str(tmp_path), "--max-concurrent-jobs", "0")
    assert result.returncode == 2 and "at least 1" in result.stderr
