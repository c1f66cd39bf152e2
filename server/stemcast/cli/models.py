"""`stemcast models` (what is installed, what `auto` picks) and `make-test-model`.

The inventory itself is separation/inventory.py; this module only prints it."""

from __future__ import annotations

import argparse
from pathlib import Path

from stemcast.cli.common import ENGINE, MODEL
from stemcast.cli.flags import add_flags


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="the models installed here, and what --model auto "
                                           "would pick and why")
    add_flags(models, MODEL[1:], ENGINE[:1])
    models.add_argument("--json", action="store_true",
                        help="one JSON object per model, then one for auto")
    models.set_defaults(handler=run_models)

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


def print_models(repo: Path | None, *, json_lines: bool = False,
                 fetch_timeout: float = 20.0) -> int:
    """The inventory: installed models first, then what `auto` picks and why."""
    import json

    from stemcast.separation.inventory import inventory

    found = inventory(repo, fetch_timeout)
    if json_lines:
        for entry in found.models:
            print(json.dumps(entry.to_json()))
        print(json.dumps({"auto": found.auto, "why": found.auto_why}))
        return 0
    print("Installed:")
    for entry in found.installed():
        print(f"    {entry.name:<16} {entry.where}")
    missing = [m for m in found.models if not m.installed]
    if missing:
        print("Not installed:")
        for entry in missing:
            print(f"    {entry.name:<16} {entry.about or entry.where}")
    print(f"auto -> {found.auto}: {found.auto_why}")
    return 0


def run_models(args: argparse.Namespace) -> int:
    return print_models(args.model_repo, json_lines=args.json,
                        fetch_timeout=args.model_fetch_timeout)
