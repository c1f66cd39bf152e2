"""The one error mapping of a stems request, the job folder layout, the atomic write."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemcast.audio import AudioError, AudioErrorCode
from stemcast.jobs.catalog import ModelChoiceError
from stemcast.requests import TrackTooLongError, failure_for, undeliverable
from stemcast.requests.failures import UNDELIVERABLE, transcription_failed
from stemcast.storage.atomic import atomic_target, write_text_atomic
from stemcast.storage.job_folder import JobFolder
from stemcast_protocol import ErrorCode, OptionError


@pytest.mark.parametrize(("exc", "code"), [
    (ModelChoiceError("field 'model': no such model"), "INVALID_FIELD"),
    (ModelChoiceError("workers silent", code="MODEL_UNAVAILABLE"), "MODEL_UNAVAILABLE"),
    (OptionError("format", "must be one of wav, flac, mp3"), "INVALID_FIELD"),
    (TrackTooLongError("too long"), "TRACK_TOO_LONG"),
    (RuntimeError("a bug"), "INTERNAL_ERROR"),
])
def test_admission_failures_have_one_code_each(exc: Exception, code: str) -> None:
    failed = failure_for(exc, "job-1")
    assert (failed.code, failed.job_id) == (code, "job-1")
    assert str(exc) in failed.message


def test_audio_errors_keep_their_own_code() -> None:
    failed = failure_for(AudioError(AudioErrorCode.NOT_AUDIO, "x.txt holds no audio"))
    assert failed.code == ErrorCode.NOT_AUDIO.value and "x.txt" in failed.message


def test_finishing_failures_say_the_stems_were_separated() -> None:
    failed = undeliverable(RuntimeError("the zip could not be made"), "job-2")
    assert failed.code == "SEPARATION_FAILED"
    assert failed.message.startswith(UNDELIVERABLE) and "zip" in failed.message
    # A full disk is named as such (the fix is to free space), still saying what was done.
    full = undeliverable(OSError(28, "No space left on device"), "job-2")
    assert full.code == "DISK_FULL" and full.message.startswith(UNDELIVERABLE)
    options = undeliverable(OptionError("variant", "needs a 6-stem model"), "job-2")
    assert options.code == "INVALID_FIELD" and "variant" in options.message


def test_drum_failures_are_the_same_on_both_doors() -> None:
    assert transcription_failed(ValueError("bad onsets"), "j").code == "TRANSCRIPTION_FAILED"
    no_drums = transcription_failed(OptionError("drums", "needs a drum stem"), "j")
    assert no_drums.code == "INVALID_FIELD"


def test_job_folder_spells_the_layout(tmp_path: Path) -> None:
    folder = JobFolder.of(str(tmp_path))
    assert folder.stem("bass") == tmp_path / "stems" / "bass.wav"
    assert folder.raw_stem("bass", ".s16.partial") == tmp_path / "stems" / "bass.s16.partial"
    assert folder.waveforms(2) == tmp_path / "waveforms-2.json"
    assert folder.rendition("abc").parent == tmp_path / "out"
    assert folder.drums_dir == tmp_path / "drums"


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "stems.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_target(target) as partial:
        partial.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["stems.json"]
    write_text_atomic(target, "new")
    assert target.read_text() == "new"


def test_two_writers_of_one_file_at_once_never_share_a_partial(tmp_path: Path) -> None:
    # Two API jobs of the same track write the same callback waveforms; an older
    # rendition's peaks may be moved to files by two requests at once.
    target = tmp_path / "peaks.json"
    with atomic_target(target) as first, atomic_target(target) as second:
        assert first != second and first.name.endswith(".partial")
        first.write_text("first")
        second.write_text("second")
    assert target.read_text() == "first"  # the outer block ended last
    assert [p.name for p in tmp_path.iterdir()] == ["peaks.json"]
