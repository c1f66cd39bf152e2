"""The table of command-line flags: one `Flag` record per option, read from STEMCAST_*.

Each flag is declared once, with its environment variable, type, default and help; the
parser, the "[STEMCAST_X]" note in the help and the check of the variable's value all
come from that record. A bad value in the environment is an `EnvError` naming the
variable and the fix (main() prints it on one line and exits 2), never a traceback.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "STEMCAST_"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
_TYPE_WORDS = {int: "a whole number", float: "a number"}


class EnvError(ValueError):
    """A STEMCAST_* variable whose value the flag it sets cannot take."""


@dataclass(frozen=True)
class Flag:
    """One option: `--name` on the command line, STEMCAST_<env> in the environment.

    type: str, int, float, Path or bool (a switch: store_true, env 1/true/yes).
    repeat: the flag may be given several times; the variable holds a list separated
    by commas (os.pathsep for Path). default: used when neither is given."""

    name: str
    env: str | None
    type: type = str
    default: object = None
    help: str = ""
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    short: str | None = None  # e.g. "-n"
    repeat: bool = False
    aliases: tuple[str, ...] = ()  # other long names, e.g. "--model" for "-n/--name"
    dest: str | None = None

    @property
    def env_var(self) -> str | None:
        return f"{ENV_PREFIX}{self.env}" if self.env else None

    @property
    def attr(self) -> str:
        return self.dest or self.name.lstrip("-").replace("-", "_")

    def _separator(self) -> str:
        return os.pathsep if self.type is Path else ","

    def env_default(self, environ: dict[str, str] | os._Environ[str]) -> object:
        """The default, or the value of the environment variable when it is set."""
        var = self.env_var
        raw = environ.get(var) if var else None
        if raw is None:
            return _listed(self.default) if self.repeat else self.default
        assert var is not None
        if self.type is bool:
            if raw.strip().lower() in _TRUE:
                return True
            if raw.strip().lower() in _FALSE:
                return False
            raise EnvError(f"{var}={raw!r} is not a switch value; set it to 1 (on) or 0 "
                           f"(off), or unset it")
        if self.repeat:
            parts = [p.strip() for p in raw.split(self._separator()) if p.strip()]
            return [self._convert(var, part) for part in parts]
        if raw.strip() == "" and self.default is None:
            return None
        return self._convert(var, raw.strip())

    def _convert(self, var: str, raw: str) -> object:
        if self.choices is not None and raw not in self.choices:
            raise EnvError(f"{var}={raw!r} is not one of {', '.join(self.choices)}; set it "
                           f"to one of them, or unset it")
        try:
            return self.type(raw)
        except ValueError:
            example = f" such as {self.default}" if self.default is not None else ""
            word = _TYPE_WORDS.get(self.type, "a valid value")
            raise EnvError(f"{var}={raw!r} is not {word}; set it to {word}{example}, or "
                           f"unset it") from None

    def help_text(self) -> str:
        var = self.env_var
        if var is None:
            return self.help
        note = var
        if self.type is bool:
            note = f"{var}=1"
        elif self.repeat:
            note = f"{var}, {'os.pathsep' if self.type is Path else 'comma'}-separated"
        return f"{self.help} [{note}]" if self.help else f"[{note}]"

    def add_to(self, parser: argparse.ArgumentParser | argparse._ArgumentGroup,
               environ: dict[str, str] | os._Environ[str]) -> None:
        names = [n for n in (self.short, self.name, *self.aliases) if n]
        default = self.env_default(environ)
        help_text = self.help_text().replace("%", "%%")
        if self.type is bool:
            parser.add_argument(*names, dest=self.attr, action="store_true",
                                default=default, help=help_text)
            return
        parser.add_argument(*names, dest=self.attr, type=self.type, default=default,
                            choices=self.choices, help=help_text,
                            metavar=self.metavar or (None if self.choices else
                                                     self.name.lstrip("-").upper()
                                                     .replace("-", "_")),
                            action="append" if self.repeat else "store")


def _listed(default: object) -> list[object]:
    assert default is None or isinstance(default, tuple | list)
    return list(default or ())


def add_flags(parser: argparse.ArgumentParser, *groups: Iterable[Flag],
              environ: dict[str, str] | os._Environ[str] | None = None) -> None:
    """Add every flag of the given tuples to a (sub)parser."""
    env = os.environ if environ is None else environ
    for group in groups:
        for flag in group:
            flag.add_to(parser, env)


def attrs(*groups: Sequence[Flag]) -> tuple[str, ...]:
    """The argparse attribute names of the flags (to copy them into a settings record)."""
    return tuple(flag.attr for group in groups for flag in group)
