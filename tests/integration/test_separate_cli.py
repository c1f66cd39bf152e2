"""`stemcast separate` against demucs's own CLI: same flags, same files, same formats."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from tests.conftest import TINY_MODEL
from tests.support.tools import missing_tool

pytestmark = pytest.mark.integration

ENV = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}


def run(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                          text=True, timeout=300, check=False, env=ENV, cwd=cwd)


def described(folder: Path) -> dict[str, tuple[str, str, int, int]]:
    """Relative path -> (container, subtype, channels, rate) of every file under folder."""
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        info = sf.info(path)
        found[str(path.relative_to(folder))] = (info.format, info.subtype, info.channels,
                                                info.samplerate)
    return found


@pytest.mark.parametrize("flags", [
    [],
    ["--mp3", "--mp3-bitrate", "128"],
    ["--flac", "--int24"],
    ["--float32", "--two-stems", "vocals"],
    ["--filename", "{track}_{stem}.{trackext}.{ext}", "--int24"],
], ids=["wav16", "mp3", "flac24", "float32-two-stems", "filename"])
def test_same_layout_and_formats_as_demucs(flags: list[str], tmp_path: Path, music_dir: Path,
                                           tiny_model_repo: Path) -> None:
    if "--flac" in flags and shutil.which("ffmpeg") is None:
        missing_tool("demucs writes FLAC through ffmpeg, which is not installed")
    tracks = [str(music_dir / "song.wav"), str(music_dir / "other.wav")]
    common = ["-n", TINY_MODEL, "--repo", str(tiny_model_repo), "-d", "cpu", *flags, *tracks]
    theirs = run("demucs.separate", "-o", "demucs-out", *common, cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr
    ours = run("stemcast.cli", "separate", "-o", "stemcast-out", *common, cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr
    expected = described(tmp_path / "demucs-out")
    assert expected, "demucs wrote nothing"
    assert described(tmp_path / "stemcast-out") == expected
    # Stem paths on stdout, one per file written, in the model's folder.
    printed = sorted(Path(line).relative_to((tmp_path / "stemcast-out").resolve())
                     for line in ours.stdout.split())
    assert [str(p) for p in printed] == sorted(expected)
    assert "realtime" in ours.stderr


def test_default_out_and_the_old_flags(tmp_path: Path, music_dir: Path,
                                       tiny_model_repo: Path) -> None:
    """-o defaults to ./separated; --model and --model-repo still work. (FLAC checked here
    too, where demucs's own CLI cannot write it without ffmpeg.)"""
    result = run("stemcast.cli", "separate", str(music_dir / "song.flac"), "--model",
                 TINY_MODEL, "--model-repo", str(tiny_model_repo), "--flac", "--int24",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "separated" / TINY_MODEL / "song"
    assert sorted(p.name for p in folder.iterdir()) == [
        "bass.flac", "drums.flac", "other.flac", "vocals.flac"]
    frames = sf.info(music_dir / "song.flac").frames
    for path in folder.iterdir():
        info = sf.info(path)
        assert (info.format, info.subtype, info.channels, info.samplerate, info.frames) == (
            "FLAC", "PCM_24", 2, 44100, frames)


def test_a_broken_file_is_reported_and_skipped(tmp_path: Path, music_dir: Path,
                                               tiny_model_repo: Path) -> None:
    tracks = [music_dir / "song.wav", music_dir / "truncated.mp3", music_dir / "third.wav"]
    result = run("stemcast.cli", "separate", "-n", TINY_MODEL, "--repo", str(tiny_model_repo),
                 "-o", "out", "--json", *map(str, tracks), cwd=tmp_path)
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["track"], r["ok"]) for r in lines] == [
        (str(tracks[0]), True), (str(tracks[1]), False), (str(tracks[2]), True)]
    assert "truncated.mp3" in lines[1]["error"] and lines[1]["stems"] == {}
    for record, seconds in ((lines[0], 6.0), (lines[2], 5.0)):
        assert sorted(record["stems"]) == ["bass", "drums", "other", "vocals"]
        assert all(Path(p).is_file() for p in record["stems"].values())
        assert record["model"] == TINY_MODEL and record["durationSeconds"] == seconds
    assert "1 of 3 track(s) failed: " in result.stderr and "truncated.mp3" in result.stderr
    assert "all tracks" in result.stderr  # the overall progress bar
    assert not (tmp_path / "out" / TINY_MODEL / "truncated").exists()


def test_bad_options_are_refused_before_any_work(tmp_path: Path, music_dir: Path,
                                                 tiny_model_repo: Path) -> None:
    base = ["separate", "-n", TINY_MODEL, "--repo", str(tiny_model_repo),
            str(music_dir / "song.wav")]
    for extra, words in ((["--two-stems", "flute"], "must be one of drums, bass"),
                         (["--filename", "{name}.{ext}"], "unknown placeholder"),
                         (["--flac", "--float32"], "use --int24"),
                         (["--segment", "999"], "--segment must be")):
        result = run("stemcast.cli", *base, *extra, cwd=tmp_path)
        assert result.returncode == 2 and words in result.stderr, (extra, result.stderr)
    assert not (tmp_path / "separated").exists()


def test_list_models(tmp_path: Path, tiny_model_repo: Path) -> None:
    result = run("stemcast.cli", "separate", "--list-models", "--repo", str(tiny_model_repo),
                 "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    installed = {r["name"] for r in records if r.get("installed")}
    assert {TINY_MODEL, "offline", "dsp"} <= installed
    assert records[-1]["auto"] == "offline" and "htdemucs" in records[-1]["why"]
    text = run("stemcast.cli", "models", "--model-repo", str(tiny_model_repo), cwd=tmp_path)
    assert text.returncode == 0 and "auto -> offline" in text.stdout
