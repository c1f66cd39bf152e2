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
from typing import Any, Literal

import torch

FOUR_STEMS = ("drums", "bass", "other", "vocals")
SIX_STEMS = ("drums", "bass", "other", "vocals", "guitar", "piano")

# tiny: ~360k parameters, 10 s of stereo in ~2 s on two cores (shallower depths are far
# slower: the transformer then attends over very long sequences).
TINY = {"channels": 8, "depth": 4, "t_layers": 1, "t_heads": 2, "segment": 4}
# full: the released htdemucs architecture, 41.5M parameters.
FULL = {"segment": Fraction(39, 5), "bottom_channels": 512}


def build_htdemucs(size: Literal["tiny", "full"] = "tiny",
                   sources: Sequence[str] = FOUR_STEMS, seed: int = 0) -> Any:
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(seed)
    kwargs = TINY if size == "tiny" else FULL
    model = HTDemucs(sources=list(sources), **kwargs)
    model.eval()
    return model


def save_to_repo(model: Any, repo_dir: Path, name: str) -> Path:
    """Write SIG-CHECKSUM.th and NAME.yaml so `get_model(name, repo=repo_dir)` loads it."""
    repo_dir.mkdir(parents=True, exist_ok=True)
    args, kwargs = model._init_args_kwargs  # recorded by demucs's capture_init
    package = {
        "klass": model.__class__,
        "args": args,
        "kwargs": kwargs,
        "state": model.state_dict(),
        "training_args": {},
    }
    signature = hashlib.sha1(name.encode()).hexdigest()[:8]
    partial = repo_dir / f"{signature}.th.partial"
    torch.save(package, partial)
    checksum = hashlib.sha256(partial.read_bytes()).hexdigest()[:8]
    for old in repo_dir.glob(f"{signature}-*.th"):
        old.unlink()  # demucs refuses two files for one signature
    target = repo_dir / f"{signature}-{checksum}.th"
    os.replace(partial, target)
    (repo_dir / f"{name}.yaml").write_text(f"models: ['{signature}']\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("repo", type=Path)
    parser.add_argument("--name", default="tiny")
    parser.add_argument("--size", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--six-stems", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sources = SIX_STEMS if args.six_stems else FOUR_STEMS
    model = build_htdemucs(args.size, sources, args.seed)
    path = save_to_repo(model, args.repo, args.name)
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {path} and {args.repo / (args.name + '.yaml')}: {args.size} HTDemucs, "
          f"{params / 1e6:.2f}M parameters, random weights, sources {', '.join(sources)}")
    print(f"use it with: stemcast serve --model {args.name} --model-repo {args.repo}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
