"""`stemcast separate`: files to stems on the command line, no server needed."""

from __future__ import annotations

import argparse
from pathlib import Path

from stemcast.cli.common import ENGINE, MODEL
from stemcast.cli.flags import add_flags


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("separate", help="separate one file into stems, no server needed")
    parser.add_argument("input", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="folder for the stem files")
    add_flags(parser, MODEL, ENGINE)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from stemcast.separate_file import separate_file

    return separate_file(args.input, args.out, model=args.model, model_repo=args.model_repo,
                         device=args.device, fetch_timeout=args.model_fetch_timeout,
                         precision=args.precision, shifts=args.shifts)
