"""PROTOCOL.md read as data, and the check of one message against it.

The unit tests check the builders and examples with it; the integration tests' client
(tests/support/client.py) checks every message a real server sends them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemcast_protocol import ErrorCode, ModelState, Stage, parse_command
from tests.support.message_schema import check_against_schema

PROTOCOL_DIR = Path(__file__).resolve().parents[2] / "protocol"
SPEC = (PROTOCOL_DIR / "PROTOCOL.md").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Field:
    type: str
    required: bool


def _sections(text: str) -> dict[str, str]:
    """'### 3.1 `getTrackInfo`' -> 'command:getTrackInfo', '### 4.1 `x`' -> 'message:x'."""
    sections: dict[str, str] = {}
    for body in re.split(r"^##+ ", text, flags=re.M)[1:]:
        title = re.match(r"([34])\.\d+ `(\w+)`", body)
        if title:
            kind = "command" if title.group(1) == "3" else "message"
            sections[f"{kind}:{title.group(2)}"] = body
    return sections


def _table(body: str) -> dict[str, Field]:
    fields: dict[str, Field] = {}
    for row in re.findall(r"^\| `(\w+)` \|(.*)$", body, flags=re.M):
        cells = [cell.strip() for cell in row[1].split("|")]
        # Command tables have a "required" column; in messages every field is always sent,
        # unless its type says ", optional" (sent only when it has something to say).
        required = cells[1] == "yes" if len(cells) > 3 else not cells[0].endswith(", optional")
        fields[row[0]] = Field(type=cells[0].removesuffix(", optional"), required=required)
    return fields


TABLES = {name: _table(body) for name, body in _sections(SPEC).items()}
SPEC_CODES = set(re.findall(r"^\| `([A-Z_]+)` \|", SPEC.split("## 5.")[1].split("## 6.")[0],
                            flags=re.M))
EXCHANGE_LINES = [(line[0], line[2:]) for block in re.findall(r"```\n(.*?)```", SPEC, re.S)
                  for line in block.splitlines() if line[:2] in ("→ ", "← ")]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _all_str(values: Any) -> bool:
    return all(isinstance(v, str) for v in values)


TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
    "map": lambda v: isinstance(v, dict),
    "map string → string": lambda v: isinstance(v, dict) and _all_str(v) and _all_str(v.values()),
    "array of string": lambda v: isinstance(v, list) and _all_str(v),
    "array of number": lambda v: isinstance(v, list) and all(_is_number(x) for x in v),
    "array of map": lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
    "binary": lambda v: isinstance(v, bytes),
}


def _has_type(spec_type: str, value: Any) -> bool:
    """Whether `value` fits a type column such as "string, integer or null"."""
    names = re.split(r",\s*|\s+or\s+", spec_type)
    assert set(names) <= set(TYPE_CHECKS), f"PROTOCOL.md uses an unknown type: {spec_type!r}"
    return any(TYPE_CHECKS[name](value) for name in names)


def _from_seed_dialect(message: dict[str, Any]) -> dict[str, Any]:
    """PROTOCOL.md 1.1: a JSON client that sent no hello gets `error` as a string, the code
    in `errorCode` and `trackId` always; the rest is section 4's message, checked as such."""
    if not isinstance(message.get("error"), str):
        return message
    assert isinstance(message.get("errorCode"), str), "seed dialect: errorCode missing"
    assert isinstance(message.get("trackId"), str), "seed dialect: trackId missing"
    restored = {key: value for key, value in message.items() if key != "errorCode"}
    restored["error"] = {"code": message["errorCode"], "message": message["error"]}
    if "trackId" not in TABLES[f"message:{message['type']}"]:
        del restored["trackId"]
    return restored


def check_against_spec(message: dict[str, Any]) -> None:
    """Assert that a command or server message is exactly what PROTOCOL.md describes, and
    that it fits the published JSON Schema (protocol/messages.schema.json)."""
    check_against_schema(message)
    message = _from_seed_dialect(message)
    if "type" in message:
        table = TABLES[f"message:{message['type']}"]
        assert {name for name, f in table.items() if f.required} <= set(message) \
            <= set(table), message["type"]
        assert isinstance(message["success"], bool)
    else:
        parse_command(message)
        table = TABLES[f"command:{message['command']}"]
        assert set(message) <= set(table)
        assert {name for name, f in table.items() if f.required} <= set(message)
    for name, value in message.items():
        assert _has_type(table[name].type, value), f"{name}={value!r} is not {table[name].type}"
    if message.get("error") is not None:
        assert set(message["error"]) == {"code", "message"}
        assert message["error"]["code"] in {c.value for c in ErrorCode}
    if message.get("type") == "progress":
        assert message["stage"] in {s.value for s in Stage}
        assert 0 <= message["progress"] <= 1
    if message.get("type") == "hello":
        assert message["modelStatus"] in {s.value for s in ModelState}
