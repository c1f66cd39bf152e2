"""Model loading (local repo, HF cache, offline), the device, and the Demucs engine.

All on real demucs code with tiny random-weight models; no network is used or needed.
"""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from stemcast.separation.demucs_engine import DemucsEngine
from stemcast.separation.device import resolve_device
from stemcast.separation.errors import DeviceUnavailableError, ModelUnavailableError
from stemcast.separation.hf_hub import hf_hub_cache_dir
from stemcast.separation.model_loading import describe_repo, load_model, locate_weights
from stemcast.separation.random_model import SIX_STEMS, build_htdemucs, main, save_to_repo
from tests.conftest import TINY_MODEL


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HuggingFace cache, chosen the way an operator would: through HF_HOME."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return tmp_path / "hf" / "hub"


def _noise(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((2, round(44100 * seconds))) * 0.2).astype(np.float32)


def test_saved_repo_loads_through_demucs(tiny_model_repo: Path) -> None:
    from demucs.pretrained import get_model

    assert TINY_MODEL in describe_repo(tiny_model_repo)
    location = locate_weights(TINY_MODEL, tiny_model_repo)
    assert location is not None and location.kind == "local_repo"
    assert location.path == tiny_model_repo / f"{TINY_MODEL}.yaml"
    model = load_model(TINY_MODEL, tiny_model_repo)
    assert list(model.sources) == ["drums", "bass", "other", "vocals"]
    assert not model.training
    assert locate_weights("htdemucs", tiny_model_repo) is None
    # demucs's own loader reads the same files to the same weights.
    reference = get_model(TINY_MODEL, repo=tiny_model_repo)
    for mine, theirs in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(mine, theirs)


def test_command_line_writes_a_loadable_six_stem_model(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--name", "six", "--six-stems", "--seed", "1"]) == 0
    assert "--model six --model-repo" in capsys.readouterr().out
    model = load_model("six", tmp_path)
    assert list(model.sources) == list(SIX_STEMS)
    assert describe_repo(tmp_path)[-1] == "six"


def test_a_bag_of_two_loads_and_separates(tmp_path: Path) -> None:
    first = save_to_repo(build_htdemucs("tiny", seed=2), tmp_path, "a")
    second = save_to_repo(build_htdemucs("tiny", seed=3), tmp_path, "b")
    sigs = [path.name.split("-")[0] for path in (first, second)]
    (tmp_path / "pair.yaml").write_text(f"models: {sigs}\n")
    location = locate_weights("pair", tmp_path)
    assert location is not None and "bag of 2" in location.description
    engine = DemucsEngine.load("pair", tmp_path, device="cpu")
    assert engine.info.sources == ("drums", "bass", "other", "vocals")
    assert engine.info.segment_seconds == 4.0
    audio = _noise(2.0, seed=0)
    seen: list[float] = []
    out = engine.separate(audio, seen.append)
    assert {name: stem.shape for name, stem in out.items()} == dict.fromkeys(
        engine.info.sources, audio.shape)
    # The models of a bag advance together, segment by segment: 2 s is one segment.
    assert engine.segment_count(audio.shape[1]) == 1 and seen == [1.0]


@pytest.mark.parametrize("problem", ["missing-folder", "not-in-folder", "corrupt-file",
                                     "bad-yaml", "missing-signature"])
def test_local_repo_problems_are_clear_and_fast(tmp_path: Path, problem: str) -> None:
    repo = tmp_path / "repo"
    if problem != "missing-folder":
        name = "other_name" if problem == "not-in-folder" else TINY_MODEL
        path = save_to_repo(build_htdemucs("tiny"), repo, name)
    if problem == "corrupt-file":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif problem == "bad-yaml":
        (repo / f"{TINY_MODEL}.yaml").write_text("models: [unclosed\n")
    elif problem == "missing-signature":
        (repo / f"{TINY_MODEL}.yaml").write_text("models: ['0badc0de']\n")
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as caught:
        load_model(TINY_MODEL, repo)
    assert time.monotonic() - started < 5  # generous: it is about never hanging
    message = str(caught.value)
    assert message.startswith(f"Model '{TINY_MODEL}' is not available: ") and ". Fix: " in message
    expected = {
        "missing-folder": ["does not exist", "--model-repo", "STEMCAST_MODEL_REPO"],
        "not-in-folder": ["other_name"],
        "corrupt-file": ["checksum"],
        "bad-yaml": [f"{TINY_MODEL}.yaml"],
        "missing-signature": ["0badc0de"],
    }[problem]
    if problem == "corrupt-file":
        expected.append(path.name)  # the message names the damaged file
    for text in expected:
        assert text in message
    if problem != "corrupt-file":  # a damaged file is still "on disk"
        assert locate_weights(TINY_MODEL, repo) is None


def test_errors_keep_their_fields_across_processes() -> None:
    error = pickle.loads(pickle.dumps(ModelUnavailableError("m", "why", "do this")))
    assert (error.model, error.reason, error.fix) == ("m", "why", "do this")
    assert str(error) == "Model 'm' is not available: why. Fix: do this"


def test_hf_cache_location_follows_the_environment(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hf_hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert hf_hub_cache_dir() == tmp_path / "hub"


def test_offline_without_weights_fails_at_once(empty_hf_cache: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert locate_weights("htdemucs", None) is None
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as caught:
        load_model("htdemucs", None, fetch_timeout=20)
    assert time.monotonic() - started < 2
    message = str(caught.value)
    assert "--model-repo" in message and "HF_HUB_OFFLINE=1" in message
    assert str(empty_hf_cache / "models--adefossez--HTDemucs") in message


def test_an_unknown_name_is_not_looked_for_on_the_hub(empty_hf_cache: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="not a released Demucs model"):
        load_model("htdemcus", None, fetch_timeout=20)
    assert time.monotonic() - started < 2


def test_download_attempt_is_bounded(empty_hf_cache: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # No network here: huggingface_hub would retry for ~23 s; we give up after 0.5 s and
    # leave its daemon thread behind.
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
    root = empty_hf_cache / "models--adefossez--HTDemucs"
    snapshot = root / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text("abc123")
    (snapshot / "htdemucs.yaml").write_text("models: ['sig1']\n")
    assert locate_weights("htdemucs", None) is None  # the yaml alone is not the weights
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(snapshot / "sig1.safetensors"),
              metadata={"klass": "demucs.htdemucs.HTDemucs", "args": json.dumps(list(args)),
                        "kwargs": json.dumps(kwargs)})
    location = locate_weights("htdemucs", None)
    assert location is not None and location.kind == "hf_cache"
    loaded = load_model("htdemucs", None, fetch_timeout=0)
    assert not loaded.training
    assert type(loaded.models[0]) is type(model)
    expected = model.state_dict()
    for key, value in loaded.models[0].state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_a_damaged_file_in_the_hf_cache_is_named(empty_hf_cache: Path) -> None:
    snapshot = empty_hf_cache / "models--adefossez--HTDemucs" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    (snapshot / "htdemucs.yaml").write_text("models: ['sig1']\n")
    (snapshot / "sig1.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelUnavailableError, match=r"sig1\.safetensors.*Fix: delete .*models--"):
        load_model("htdemucs", None, fetch_timeout=0)


def test_engine_matches_demucs_apply_model(tiny_model_repo: Path) -> None:
    from demucs.apply import apply_model

    started = time.monotonic()
    engine = DemucsEngine.load(TINY_MODEL, tiny_model_repo, device="cpu")
    assert time.monotonic() - started < 5
    assert engine.info.sample_rate == 44100 and engine.info.channels == 2
    audio = _noise(5.0, seed=1)
    seen: list[float] = []
    out = engine.separate(audio, seen.append)
    assert len(seen) >= 2 and seen == sorted(set(seen)) and seen[-1] == 1.0
    # The reference: demucs.api.Separator.separate_tensor's steps, written out.
    wav = torch.from_numpy(audio)
    ref = wav.mean(0)
    mean, std = ref.mean(), ref.std() + 1e-8
    with torch.inference_mode():
        expected = apply_model(engine.model, ((wav - mean) / std)[None], shifts=0, split=True,
                               overlap=0.25)[0] * std + mean
    assert list(out) == list(engine.info.sources)
    for index, name in enumerate(engine.info.sources):
        assert out[name].dtype == np.float32 and out[name].shape == audio.shape
        assert float(np.max(np.abs(out[name] - expected[index].numpy()))) < 1e-5


def test_engine_edge_cases(tiny_model_repo: Path) -> None:
    engine = DemucsEngine(load_model(TINY_MODEL, tiny_model_repo), TINY_MODEL, "cpu")
    audio = _noise(0.1, seed=2)
    # One frame still separates (apply_model pads it to a whole segment).
    seen: list[float] = []
    assert engine.separate(audio[:, :1], seen.append)["bass"].shape == (2, 1)
    assert seen == [1.0]
    with pytest.raises(ValueError, match="empty"):
        engine.separate(audio[:, :0])
    with pytest.raises(ValueError, match=r"\(2, frames\)"):
        engine.separate(audio[:1])
    broken = audio.copy()
    broken[0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        engine.separate(broken)


def test_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"unknown device 'gpu'.*auto, cpu, cuda"):
        resolve_device("gpu")
    if torch.cuda.is_available():
        assert resolve_device("auto").type == "cuda"
        return
    assert resolve_device("auto") == torch.device("cpu")
    for request in ("cuda", "cuda:1"):
        with pytest.raises(DeviceUnavailableError, match="--device auto") as caught:
            resolve_device(request)
        assert "CUDA is not available" in str(caught.value)
    with pytest.raises(DeviceUnavailableError):
        DemucsEngine.load(TINY_MODEL, None, device="cuda")  # before any weights are sought
