"""Demucs models with random weights, saved in demucs's local-repo layout.

For tests, benchmarks and smoke tests of a server on a machine without real weights:
they run the real Demucs code at the real cost, but separate nothing musically useful.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
import yaml

if TYPE_CHECKING:
    from demucs.htdemucs import HTDemucs

FOUR_STEMS = ("drums", "bass", "other", "vocals")
SIX_STEMS = ("drums", "bass", "other", "vocals", "guitar", "piano")

# tiny: ~360k parameters, 10 s of stereo in ~2 s on two cores (shallower depths are far
# slower: the transformer then attends over very long sequences).
TINY: dict[str, Any] = {"channels": 8, "depth": 4, "t_layers": 1, "t_heads": 2, "segment": 4}
# full: the released htdemucs architecture, 41.5M parameters.
FULL: dict[str, Any] = {"segment": Fraction(39, 5), "bottom_channels": 512}


def build_htdemucs(size: Literal["tiny", "full"] = "tiny",
                   sources: Sequence[str] = FOUR_STEMS, seed: int = 0) -> HTDemucs:
    """An HTDemucs with random weights; the same seed gives the same weights."""
    from demucs.htdemucs import HTDemucs

    if size not in ("tiny", "full"):
        raise ValueError(f"size must be 'tiny' or 'full', not {size!r}")
    # A private generator state, so building a model leaves the global RNG as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = HTDemucs(sources=list(sources), **(TINY if size == "tiny" else FULL))
    model.eval()
    return model


def signature(name: str) -> str:
    """Deterministic 8-hex signature for a model saved under `name`."""
    return hashlib.sha1(name.encode()).hexdigest()[:8]


def save_to_repo(model: torch.nn.Module, repo_dir: Path, name: str) -> Path:
    """Write SIG-CHECKSUM.th and NAME.yaml so `get_model(name, repo=repo_dir)` loads it.

    Returns the .th path. Saving the same name again replaces the earlier files.
    """
    init = getattr(model, "_init_args_kwargs", None)  # recorded by demucs's capture_init
    if init is None:
        raise TypeError(f"{type(model).__name__} was not built by a demucs model class "
                        "(no _init_args_kwargs)")
    args, kwargs = init
    # What demucs.states.serialize_model writes, without its omegaconf dependency.
    package = {
        "klass": model.__class__,
        "args": args,
        "kwargs": kwargs,
        "state": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        "training_args": {},
    }
    repo_dir.mkdir(parents=True, exist_ok=True)
    sig = signature(name)
    partial = repo_dir / f"{sig}.th.partial"  # not '.th': LocalRepo must not see it
    torch.save(package, partial)
    sha = hashlib.sha256()
    with partial.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            sha.update(block)
    for old in repo_dir.glob(f"{sig}-*.th"):
        old.unlink()  # demucs refuses two files for one signature
    target = repo_dir / f"{sig}-{sha.hexdigest()[:8]}.th"
    os.replace(partial, target)
    (repo_dir / f"{name}.yaml").write_text(yaml.safe_dump({"models": [sig]}))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stemcast.separation.random_model", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo", type=Path, help="folder to write into (created if needed)")
    parser.add_argument("--name", default="tiny", help="model name for --model (default tiny)")
    parser.add_argument("--size", choices=["tiny", "full"], default="tiny",
                        help="tiny: ~0.36M parameters; full: the htdemucs architecture, 41.5M")
    parser.add_argument("--six-stems", action="store_true",
                        help="add guitar and piano, like htdemucs_6s")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from demucs.pretrained import get_model

    sources = SIX_STEMS if args.six_stems else FOUR_STEMS
    model = build_htdemucs(args.size, sources, args.seed)
    path = save_to_repo(model, args.repo, args.name)
    get_model(args.name, repo=args.repo)  # prove demucs itself loads what we wrote
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {path} and {args.repo / (args.name + '.yaml')}: {args.size} HTDemucs, "
          f"{params / 1e6:.2f}M parameters, random weights, sources {', '.join(sources)}")
    print(f"use it with: stemcast serve --model {args.name} --model-repo {args.repo}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
