"""The flag table (stemcast/cli/flags.py): env values checked, serve flags = Settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from stemcast.cli import build_parser, main, serve
from stemcast.cli.flags import EnvError, Flag
from stemcast.config import Settings


def test_every_serve_flag_is_a_settings_field_with_the_same_default() -> None:
    defaults = {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING
                         else f.default) for f in dataclasses.fields(Settings)}
    for group in serve.FLAGS:
        for flag in group:
            assert flag.attr in defaults, f"{flag.name}: add Settings.{flag.attr}"
            expected = defaults[flag.attr]
            got = flag.env_default({})
            assert got == expected or (flag.repeat and list(expected) == got), flag.name


def test_settings_come_from_flags_and_environment() -> None:
    args = build_parser().parse_args(["serve", "--port", "9001", "--library", "/tmp",
                                      "--allow-origin", "https://a.example"])
    settings = serve.settings_from(args)
    assert settings.port == 9001 and settings.library_dirs == [Path("/tmp").resolve()]
    assert settings.allow_origins == ["https://a.example"] and settings.token is None


@pytest.mark.parametrize(("flag", "raw", "words"), [
    (Flag("--port", "PORT", int, 8000), "abc", "STEMCAST_PORT='abc' is not a whole number"),
    (Flag("--delay", "DELAY", float, 2.0), "soon", "STEMCAST_DELAY='soon' is not a number"),
    (Flag("--log-json", "LOG_JSON", bool, False), "maybe", "set it to 1 (on) or 0"),
    (Flag("--level", "LEVEL", str, "info", choices=("info", "debug")), "loud",
     "is not one of info, debug"),
])
def test_a_bad_environment_value_names_the_variable_and_the_fix(
        flag: Flag, raw: str, words: str) -> None:
    with pytest.raises(EnvError, match="unset it") as caught:
        flag.env_default({flag.env_var or "": raw})
    assert words in str(caught.value)


def test_environment_lists_and_switches() -> None:
    hosts = Flag("--allow", "ALLOW", str, (), repeat=True)
    assert hosts.env_default({"STEMCAST_ALLOW": "a, b,,c"}) == ["a", "b", "c"]
    assert Flag("--on", "ON", bool, False).env_default({"STEMCAST_ON": "yes"}) is True
    assert Flag("--token", "TOKEN", str, None).env_default({"STEMCAST_TOKEN": ""}) is None


def test_main_exits_2_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STEMCAST_PORT", "abc")
    assert main(["tracks"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "STEMCAST_PORT" in err and "Traceback" not in err
