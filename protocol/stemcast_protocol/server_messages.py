"""The maps the server sends, built in one place.

Field names are the seeds' (camelCase, `type`, `requestId`, `trackId`): they are the
contract with existing DJ engines, so these builders are the only place the server spells
them (wire.py types them for the published schema).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from stemcast_protocol.errors import ErrorCode, ProtocolError, RequestId
from stemcast_protocol.messages import (
    PROTOCOL_VERSION,
    STEM_FORMAT,
    MessageType,
    ModelState,
    Stage,
)


def _value(item: Enum | str) -> str:
    return str(item.value) if isinstance(item, Enum) else item


def track_info_message(*, request_id: RequestId, track_id: str, file_path: str,
                       bpm: float | None, key: str | None, mode: str | None,
                       duration_seconds: float, sample_rate: int, channels: int,
                       title: str | None, stems_cached: bool,
                       model: str | None, key_name: str | None = None,
                       camelot: str | None = None,
                       analysis: str = "pending", first_beat_offset: float = 0.0,
                       first_phrase_beat_no: int = 1,
                       bpm_guess: float | None = None,
                       hot_cues: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """`firstBeatOffset`, `firstPhraseBeatNo` and `hotCues` are seed 000's (`hotCues`: the
    track's cues, [{index, position, isLoop, loopEnd?, name?, color?}] as Mismo's app
    server gives its engine); `bpmGuess` is a bpm > 0 even without a steady pulse."""
    return {
        "type": MessageType.TRACK_INFO.value, "success": True, "requestId": request_id,
        "trackId": track_id, "filePath": file_path, "bpm": bpm, "key": key, "mode": mode,
        "durationSeconds": duration_seconds, "sampleRate": sample_rate, "channels": channels,
        "title": title, "stemsCached": stems_cached, "model": model, "keyName": key_name,
        "camelot": camelot, "analysis": analysis, "firstBeatOffset": first_beat_offset,
        "firstPhraseBeatNo": first_phrase_beat_no, "hotCues": [dict(c) for c in hot_cues],
        "bpmGuess": bpm_guess,
    }


def track_analysis_message(*, request_id: RequestId, track_id: str,
                           analysis: Mapping[str, Any], bpm: float | None, key: str | None,
                           mode: str | None, first_beat_offset: float = 0.0,
                           first_phrase_beat_no: int = 1,
                           bpm_guess: float | None = None,
                           hot_cues: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The track's analysis once it is done (or failed), after a trackInfo that lacked it.

    `analysis` is the track's analysis map (state, error, keyName, camelot, beats, ...)."""
    return {
        "type": MessageType.TRACK_ANALYSIS.value,
        "success": analysis.get("state") == "done", "requestId": request_id,
        "trackId": track_id, "bpm": bpm, "key": key, "mode": mode,
        "keyName": analysis.get("keyName"), "camelot": analysis.get("camelot"),
        "bpmConfidence": analysis.get("bpmConfidence"),
        "keyConfidence": analysis.get("keyConfidence"),
        "beats": analysis.get("beats"), "downbeats": analysis.get("downbeats"),
        "loudnessLufs": analysis.get("loudnessLufs"),
        "audibleStart": analysis.get("audibleStart"), "audibleEnd": analysis.get("audibleEnd"),
        "analysis": analysis.get("state"),
        "error": ({"code": ErrorCode.ANALYSIS_FAILED.value, "message": analysis["error"]}
                  if analysis.get("error") else None),
        "firstBeatOffset": first_beat_offset, "firstPhraseBeatNo": first_phrase_beat_no,
        "hotCues": [dict(c) for c in hot_cues], "bpmGuess": bpm_guess,
    }


def drums_ready_message(*, request_id: RequestId, track_id: str, job_id: str,
                        onsets: str, midi: str, onsets_url: str, midi_url: str,
                        onset_count: int, lanes: Mapping[str, int]) -> dict[str, Any]:
    return {
        "type": MessageType.DRUMS_READY.value, "success": True, "requestId": request_id,
        "trackId": track_id, "jobId": job_id, "onsets": onsets, "midi": midi,
        "onsetsUrl": onsets_url, "midiUrl": midi_url, "onsetCount": onset_count,
        "lanes": dict(lanes),
    }


def drums_failed_message(*, request_id: RequestId, track_id: str, job_id: str | None,
                         code: ErrorCode | str, message: str) -> dict[str, Any]:
    return _request_failed(MessageType.DRUMS_FAILED, request_id, track_id, job_id, code,
                           message)


def progress_message(*, request_id: RequestId, track_id: str, job_id: str | None,
                     stage: Stage | str, progress: float, eta_seconds: float | None,
                     queue_position: int | None,
                     eta_range: tuple[float, float] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": MessageType.PROGRESS.value, "success": True, "requestId": request_id,
        "trackId": track_id, "jobId": job_id, "stage": _value(stage), "progress": progress,
        "etaSeconds": eta_seconds, "queuePosition": queue_position,
    }
    if eta_range is not None:  # only while the estimate is uncertain
        message["etaRange"] = [eta_range[0], eta_range[1]]
    return message


def stems_ready_message(*, request_id: RequestId, track_id: str, job_id: str,
                        stems: Mapping[str, str], model: str, sample_rate: int,
                        cached: bool, processing_time: float | None,
                        format: str = STEM_FORMAT, bit_depth: int | None = 16,
                        bitrate: int | None = None, variant: str | None = None,
                        waveforms: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    return {
        "type": MessageType.STEMS_READY.value, "success": True, "requestId": request_id,
        "trackId": track_id, "jobId": job_id, "stems": dict(stems), "model": model,
        "sampleRate": sample_rate, "format": format, "bitDepth": bit_depth,
        "bitrate": bitrate, "variant": variant, "cached": cached,
        "processingTime": processing_time, "waveforms": [dict(w) for w in waveforms],
    }


def _request_failed(kind: MessageType, request_id: RequestId, track_id: str,
                    job_id: str | None, code: ErrorCode | str, message: str) -> dict[str, Any]:
    return {
        "type": kind.value, "success": False, "requestId": request_id,
        "trackId": track_id, "jobId": job_id,
        "error": {"code": _value(code), "message": message},
    }


def stems_failed_message(*, request_id: RequestId, track_id: str, job_id: str | None,
                         code: ErrorCode | str, message: str) -> dict[str, Any]:
    return _request_failed(MessageType.STEMS_FAILED, request_id, track_id, job_id, code,
                           message)


def error_message(error: ProtocolError) -> dict[str, Any]:
    return error.to_error_message()


def hello_message(*, server_version: str, model: str | None, sources: Sequence[str],
                  model_status: ModelState | str, model_error: str | None,
                  model_choice: str = "", models: Sequence[Mapping[str, Any]] = (),
                  ) -> dict[str, Any]:
    from stemcast_protocol.options import BIT_DEPTHS, FORMATS, SAMPLE_RATES, VARIANTS

    return {
        "type": MessageType.HELLO.value, "success": True, "protocolVersion": PROTOCOL_VERSION,
        "serverVersion": server_version, "model": model, "sources": list(sources),
        "modelStatus": _value(model_status), "modelError": model_error,
        "modelChoice": model_choice, "models": [dict(m) for m in models],
        "outputs": {"formats": list(FORMATS), "sampleRates": list(SAMPLE_RATES),
                    "bitDepths": {k: list(v) for k, v in BIT_DEPTHS.items()},
                    "variants": list(VARIANTS)},
    }


def pong_message(*, request_id: RequestId, time: float) -> dict[str, Any]:
    return {"type": MessageType.PONG.value, "success": True, "requestId": request_id,
            "time": time}


def cancelled_message(*, request_id: str | int, job_cancelled: bool = False) -> dict[str, Any]:
    """`jobCancelled`: the separation job itself was stopped (this was its last follower)."""
    return {"type": MessageType.CANCELLED.value, "success": True, "requestId": request_id,
            "jobCancelled": job_cancelled}


def stem_chunk_message(*, request_id: RequestId, track_id: str, job_id: str, stem: str,
                       start_frame: int, frames: int, sample_rate: int, channels: int,
                       data: bytes, encoding: str = "pcm_s16le") -> dict[str, Any]:
    """One stretch of one stem: `frames` frames of interleaved samples in `data`."""
    return {
        "type": MessageType.STEM_CHUNK.value, "success": True, "requestId": request_id,
        "trackId": track_id, "jobId": job_id, "stem": stem, "startFrame": start_frame,
        "frames": frames, "sampleRate": sample_rate, "channels": channels,
        "encoding": encoding, "data": data,
    }
