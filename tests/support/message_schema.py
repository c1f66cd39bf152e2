"""A WebSocket map checked against the published protocol/messages.schema.json."""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from stemcast_protocol.schema import SCHEMA_PATH, def_name


@cache
def published_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/$defs/{name}",
                                 "$defs": published_schema()["$defs"]})


def as_json(message: dict[str, Any]) -> dict[str, Any]:
    """msgpack bin as the schema shows it: base64 text (JSON has no bytes)."""
    return {key: base64.b64encode(value).decode() if isinstance(value, bytes) else value
            for key, value in message.items()}


def check_against_schema(message: dict[str, Any]) -> None:
    """Assert that a command or server message fits its `$defs` entry (and the root)."""
    name = def_name(message)
    data = as_json(message)
    errors = sorted(_validator(name).iter_errors(data), key=lambda e: list(e.path))
    assert not errors, f"{name}: " + "; ".join(
        f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors[:5])
