"""`stemcast models` (what is installed, what `auto` picks) and `make-test-model`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    make = sub.add_parser("make-test-model",
                          help="write a random-weight Demucs model in the local-repo layout "
                               "(for tests, benchmarks and smoke tests; it separates nothing "
                               "well)")
    make.add_argument("repo", type=Path)
    make.add_argument("--name", default="tiny")
    make.add_argument("--size", choices=["tiny", "full"], default="tiny")
    make.add_argument("--six-stems", action="store_true")
    make.add_argument("--seed", type=int, default=0)
    make.set_defaults(handler=run_make_test_model)


def run_make_test_model(args: argparse.Namespace) -> int:
    from stemcast.separation import random_model

    argv = [str(args.repo), "--name", args.name, "--size", args.size, "--seed", str(args.seed)]
    if args.six_stems:
        argv.append("--six-stems")
    return random_model.main(argv)
