"""protocol/messages.schema.json: the committed file is what wire.py's types give, it is
valid JSON Schema, and every example and example exchange of PROTOCOL.md fits it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from stemcast_protocol import COMMANDS, MESSAGE_TYPES
from stemcast_protocol.schema import SCHEMA_PATH, def_name, message_schema, schema_text
from tests.support.message_schema import check_against_schema, published_schema
from tests.support.protocol_spec import EXCHANGE_LINES, PROTOCOL_DIR

EXAMPLES = sorted(PROTOCOL_DIR.glob("examples/*.json"))


def test_the_committed_schema_is_the_generated_one() -> None:
    assert SCHEMA_PATH == PROTOCOL_DIR / "messages.schema.json"
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "protocol/messages.schema.json is stale: run "
        "`python -m stemcast_protocol.schema` and commit the file")


def test_the_schema_is_valid_and_covers_every_map() -> None:
    schema = message_schema()
    Draft202012Validator.check_schema(schema)
    names = {def_name({"command": c}) for c in COMMANDS} | \
        {def_name({"type": t}) for t in MESSAGE_TYPES}
    assert len(names) == len(COMMANDS) + len(MESSAGE_TYPES)
    assert names <= set(schema["$defs"])


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_fits(example: Path) -> None:
    message = json.loads(example.read_text())
    check_against_schema(message)
    # The root schema takes it too: exactly one command or message matches.
    Draft202012Validator(published_schema()).validate(message)


def _exchange() -> list[dict[str, Any]]:
    """The example exchanges' maps, less commands that are wrong on purpose (an error
    reply right after names what is wrong with them)."""
    maps = []
    for index, (direction, line) in enumerate(EXCHANGE_LINES):
        following = EXCHANGE_LINES[index + 1][1] if index + 1 < len(EXCHANGE_LINES) else "{}"
        if direction == "→" and json.loads(following).get("type") == "error":
            continue
        maps.append(json.loads(line))
    return maps


@pytest.mark.parametrize("message", _exchange(),
                         ids=lambda m: str(m.get("type") or m.get("command")))
def test_every_map_of_the_example_exchanges_fits(message: dict[str, Any]) -> None:
    check_against_schema(message)


def _example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PROTOCOL_DIR / "examples" / name).read_text())
    return data


@pytest.mark.parametrize(("name", "change", "words"), [
    ("stemsReady.json", lambda m: m.pop("jobId"), "'jobId' is a required property"),
    ("progress.json", lambda m: m.update(stage="thinking"), "stage"),
    ("error.json", lambda m: m["error"].update(code="OOPS"), "error"),
    ("getTrackInfo.json", lambda m: m.update(filePath="/a.mp3"), "(root)"),
    ("getTrackInfo.json", lambda m: m.update(stems="yes"), "stems"),
    ("hello.json", lambda m: m.update(modelStatus="sleepy"), "modelStatus"),
])
def test_a_broken_map_fails(name: str, change: Any, words: str) -> None:
    message = copy.deepcopy(_example(name))
    change(message)
    with pytest.raises(AssertionError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_against_schema(message)


def test_seed_000_dialect_fits() -> None:
    """Section 1.1: error as a string, the code in errorCode, trackId always."""
    check_against_schema({"type": "error", "success": False, "requestId": None,
                          "command": "getTrackInfo", "error": "Track not found",
                          "errorCode": "TRACK_NOT_FOUND", "trackId": "t1"})
