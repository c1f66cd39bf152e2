"""Model loading (local repo, HF cache, offline), the device, and the Demucs engine."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from stemcast.separation.demucs_engine import DemucsEngine
from stemcast.separation.device import resolve_device
from stemcast.separation.errors import DeviceUnavailableError, ModelUnavailableError
from stemcast.separation.model_loading import describe_repo, load_model, locate_weights
from stemcast.separation.random_model import SIX_STEMS, build_htdemucs, save_to_repo
from tests.conftest import TINY_MODEL


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HuggingFace cache (huggingface_hub reads its location at import time)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_saved_repo_loads_through_demucs(tiny_model_repo: Path) -> None:
    assert TINY_MODEL in describe_repo(tiny_model_repo)
    location = locate_weights(TINY_MODEL, tiny_model_repo)
    assert location is not None and location.kind == "local_repo"
    model = load_model(TINY_MODEL, tiny_model_repo)
    assert list(model.sources) == ["drums", "bass", "other", "vocals"]
    assert not model.training
    assert locate_weights("htdemucs", tiny_model_repo) is None


def test_six_stem_model_and_a_bag_of_two(tmp_path: Path) -> None:
    save_to_repo(build_htdemucs("tiny", SIX_STEMS, seed=1), tmp_path, "six")
    assert list(load_model("six", tmp_path).sources) == list(SIX_STEMS)
    first = save_to_repo(build_htdemucs("tiny", seed=2), tmp_path, "a")
    second = save_to_repo(build_htdemucs("tiny", seed=3), tmp_path, "b")
    sigs = [p.name.split("-")[0] for p in (first, second)]
    (tmp_path / "pair.yaml").write_text(f"models: {sigs}\n")
    engine = DemucsEngine.load("pair", tmp_path, device="cpu")
    audio = np.random.default_rng(0).standard_normal((2, 44100 * 2)).astype(np.float32) * 0.1
    seen: list[float] = []
    out = engine.separate(audio, seen.append)
    assert set(out) == {"drums", "bass", "other", "vocals"}
    assert engine.segment_count(audio.shape[1]) == 2 and seen[-1] == 1.0


@pytest.mark.parametrize("problem", ["missing-folder", "not-in-folder", "corrupt-file"])
def test_local_repo_problems_are_clear_and_fast(tmp_path: Path, problem: str) -> None:
    repo = tmp_path / "repo"
    if problem != "missing-folder":
        path = save_to_repo(build_htdemucs("tiny"), repo, "other_name" if
                            problem == "not-in-folder" else TINY_MODEL)
        if problem == "corrupt-file":
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0xFF
            path.write_bytes(bytes(data))
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as caught:
        load_model(TINY_MODEL, repo)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert f"Model '{TINY_MODEL}' is not available" in message and "Fix:" in message
    expected = {"missing-folder": "does not exist", "not-in-folder": "other_name",
                "corrupt-file": "checksum"}[problem]
    assert expected in message


def test_offline_without_weights_fails_at_once(empty_hf_cache: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert locate_weights("htdemucs", None) is None
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as caught:
        load_model("htdemucs", None, fetch_timeout=20)
    assert time.monotonic() - started < 2
    assert "--model-repo" in str(caught.value) and "HF_HUB_OFFLINE=1" in str(caught.value)


def test_download_attempt_is_bounded(empty_hf_cache: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="download"):
        load_model("htdemucs", None, fetch_timeout=0.5)
    assert time.monotonic() - started < 5


def test_weights_in_the_hf_cache_load_without_network(
        empty_hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lay out a HuggingFace cache entry as hf_hub_download would, with safetensors."""
    from safetensors.torch import save_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = build_htdemucs("tiny", seed=4)
    args, kwargs = model._init_args_kwargs
    snapshot = empty_hf_cache / "models--adefossez--HTDemucs" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (empty_hf_cache / "models--adefossez--HTDemucs" / "refs").mkdir()
    (empty_hf_cache / "models--adefossez--HTDemucs" / "refs" / "main").write_text("abc123")
    (snapshot / "htdemucs.yaml").write_text("models: ['sig1']\n")
    import json

    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(snapshot / "sig1.safetensors"),
              metadata={"klass": "demucs.htdemucs.HTDemucs", "args": json.dumps(list(args)),
                        "kwargs": json.dumps(kwargs)})
    location = locate_weights("htdemucs", None)
    assert location is not None and location.kind == "hf_cache"
    loaded = load_model("htdemucs", None, fetch_timeout=0)
    audio = torch.randn(1, 2, 44100)
    with torch.inference_mode():
        assert torch.allclose(loaded.models[0](audio), model(audio))


def test_engine_matches_demucs_apply_model(tiny_model_repo: Path) -> None:
    from demucs.apply import apply_model

    engine = DemucsEngine.load(TINY_MODEL, tiny_model_repo, device="cpu")
    audio = (np.random.default_rng(1).standard_normal((2, 44100 * 5)) * 0.2).astype(np.float32)
    seen: list[float] = []
    out = engine.separate(audio, seen.append)
    assert len(seen) >= 2 and seen == sorted(seen) and seen[-1] == 1.0
    wav = torch.from_numpy(audio)
    ref = wav.mean(0)
    mean, std = ref.mean(), ref.std() + 1e-8
    with torch.inference_mode():
        expected = apply_model(engine.model, ((wav - mean) / std)[None], shifts=0, split=True,
                               overlap=0.25)[0] * std + mean
    for index, name in enumerate(engine.info.sources):
        assert out[name].dtype == np.float32 and out[name].shape == audio.shape
        assert float(np.max(np.abs(out[name] - expected[index].numpy()))) < 1e-5
    # A one-sample clip still separates (demucs pads it to a segment).
    assert engine.separate(audio[:, :1])["bass"].shape == (2, 1)
    with pytest.raises(ValueError, match="empty"):
        engine.separate(audio[:, :0])


def test_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(DeviceUnavailableError, match="--device auto"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("gpu")
