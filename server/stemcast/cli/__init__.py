"""`stemcast` command line. One module per command group; each has `register(sub)`.

To add a command: write a module with `register(sub)` (its parser's handler set with
`set_defaults(handler=...)`) and list it in COMMANDS. To add a flag: one `Flag` in the
tuple it belongs to (flags.py explains the record; common.py holds the shared ones).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from types import ModuleType

from stemcast import __version__
from stemcast.cli import admin, models, separate, serve, worker
from stemcast.cli.flags import EnvError

# In the order `stemcast --help` lists them.
COMMANDS: tuple[ModuleType, ...] = (serve, separate, models, worker, admin)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stemcast", description="Realtime stem separation.")
    parser.add_argument("--version", action="version", version=f"stemcast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except EnvError as exc:  # a STEMCAST_* variable with a value its flag cannot take
        print(f"stemcast: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
