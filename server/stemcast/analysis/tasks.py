"""The analysis work itself, as plain functions of file paths: they run in the CPU pool's
process (stemcast.cpu_pool), so they take and return only picklable values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stemcast.storage.atomic import write_text_atomic
from stemcast.storage.json_stream import write_json_streamed

if TYPE_CHECKING:
    from stemcast.analysis.stream_input import AnalysisInput
    from stemcast.analysis.track_spectra import TrackSpectra

ONSETS_JSON = "onsets.json"
DRUMS_MIDI = "drums.mid"
BANDS_JSON = "bands.json"  # the mix's app-shape waveforms (analysis.app_waveforms)


def _write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(document, separators=(",", ":")))


def analyze_file(audio_path: str, waveform_path: str) -> dict[str, Any]:
    """Basic features and characteristics of a track; its mix's waveform peaks written to
    waveform_path, and its band waveforms (app shape) beside them (BANDS_JSON).

    The file is read once, a block at a time (analysis.stream_input); its mono mixdown at
    the analysis rate goes to a temporary file beside waveform_path and is read back in
    blocks (analysis.track_spectra, key_chroma): memory does not grow with the track."""
    from stemcast.analysis.features import analyze_mono
    from stemcast.analysis.heap import bound_heap_growth
    from stemcast.analysis.stream_input import read_analysis_input
    from stemcast.analysis.track_spectra import track_spectra

    bound_heap_growth()
    folder = Path(waveform_path).parent
    folder.mkdir(parents=True, exist_ok=True)
    data = read_analysis_input(audio_path, folder)
    try:
        spectra = track_spectra(data.mono) if data.peak > 0 else None
        features = analyze_mono(data.mono if data.peak > 0 else None, data.frames,
                                data.sample_rate, data.peak, data.loudness_lufs,
                                spectra).to_dict()
        features["characteristics"] = _app_extras(data, spectra, features, folder)
        write_json_streamed(Path(waveform_path), data.waveforms())
    finally:
        data.close()
    return features


def app_extras_file(audio_path: str, features: dict[str, Any], folder: str) -> dict[str, Any]:
    """For a track analysed before characteristics existed: its characteristics (returned)
    and band waveforms (written to folder/BANDS_JSON)."""
    from stemcast.analysis.heap import bound_heap_growth
    from stemcast.analysis.stream_input import read_analysis_input
    from stemcast.analysis.track_spectra import track_spectra

    bound_heap_growth()
    Path(folder).mkdir(parents=True, exist_ok=True)
    data = read_analysis_input(audio_path, folder)
    try:
        spectra = track_spectra(data.mono) if data.mono.size else None
        return _app_extras(data, spectra, features, Path(folder))
    finally:
        data.close()


def _app_extras(data: AnalysisInput, spectra: TrackSpectra | None, features: dict[str, Any],
                folder: Path) -> dict[str, Any]:
    from stemcast.analysis.beatgrid import beat_grid
    from stemcast.analysis.characteristics import characteristics_of

    grid = beat_grid(features)
    # The mono mixdown at RATE is what characteristics() makes of the track itself (one
    # difference: a track whose two channels cancel exactly now counts as silent there).
    values = characteristics_of(spectra, bpm=grid.bpm, bpm_confidence=grid.bpm_confidence,
                                loudness_lufs=features.get("loudness_lufs"),
                                steady_pulse=grid.bpm_measured).to_dict()
    write_json_streamed(folder / BANDS_JSON, data.bands())
    return values


def transcribe_file(drums_path: str, out_dir: str, bpm: float | None) -> dict[str, Any]:
    """Seed 002's transcription of an isolated drum stem: onsets.json and drums.mid in
    out_dir (written under temporary names, then renamed). Returns a summary."""
    from stemcast.analysis.drum_spectrum import RATE
    from stemcast.analysis.drums import onsets_document, transcribe_mono
    from stemcast.analysis.heap import bound_heap_growth
    from stemcast.analysis.midi import write_midi
    from stemcast.analysis.stream_input import read_mono

    bound_heap_growth()
    # The stem's mono mixdown at the transcription's rate, written block by block to a
    # temporary file and read back a block at a time: what transcribe() would make of the
    # whole stem, without holding it.
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    mono, duration = read_mono(drums_path, RATE, folder)
    try:
        onsets = transcribe_mono(mono)
    finally:
        mono.close()
    document = onsets_document(onsets, bpm=bpm, duration_seconds=duration)
    write_midi(onsets, folder / DRUMS_MIDI, bpm=bpm)
    _write_json(folder / ONSETS_JSON, document)
    counts: dict[str, int] = {}
    for onset in onsets:
        counts[onset.type] = counts.get(onset.type, 0) + 1
    return {"onsets": str((folder / ONSETS_JSON).resolve()),
            "midi": str((folder / DRUMS_MIDI).resolve()),
            "onsetCount": len(onsets), "lanes": counts}


def _clicks(rate: int = 22050) -> Any:
    import numpy as np

    clicks = np.zeros((1, 4 * rate), dtype=np.float32)
    clicks[0, :: rate // 2] = 1.0
    return clicks


def warm_up_analysis() -> None:
    """Pay a fresh process's one-off costs (imports, numba compiling librosa's beat
    tracker: 4-5 s) before the first track needs them."""
    from stemcast.analysis.features import analyze

    analyze(_clicks(), 22050)


def warm_up_delivery() -> None:
    """The same for renditions and drum transcription (imports, FFT plans)."""
    import lameenc  # noqa: F401  (imported for its load time)
    import soxr  # noqa: F401

    from stemcast.analysis.drums import transcribe

    transcribe(_clicks(), 22050)
