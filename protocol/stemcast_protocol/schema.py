"""protocol/messages.schema.json: every WebSocket message as JSON Schema, from wire.py.

`python -m stemcast_protocol.schema [PATH]` writes it (default: beside PROTOCOL.md); a test
fails when the committed file differs from what the types give, so the published schema
is always the code's. Each command and message is a `$defs` entry named after its type;
the root accepts any one of them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, get_args, get_type_hints

from stemcast_protocol.messages import PROTOCOL_VERSION
from stemcast_protocol.typed_schema import SchemaBuilder
from stemcast_protocol.wire import COMMANDS, MESSAGES, GetTrackInfo

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "messages.schema.json"

_DESCRIPTION = (
    "Every map a stemcast WebSocket (/ws) carries: commands (client to server, keyed by "
    "`command`) and server messages (keyed by `type`). PROTOCOL.md gives the meaning of "
    "each field. Binary (msgpack) frames carry the same maps; msgpack bin (stemChunk "
    "`data`) is shown as base64 text here, as JSON has no bytes. Both sides ignore fields "
    "they do not know (PROTOCOL.md section 1), so the maps are open.")


def _name(typed: type) -> str:
    return typed.__name__


def message_schema() -> dict[str, Any]:
    builder = SchemaBuilder("#/$defs/")
    commands = [builder.schema(c) for c in COMMANDS]
    messages = [builder.schema(m) for m in MESSAGES]
    defs = builder.defs
    # Exactly one of trackId and filePath (PROTOCOL.md 3.1): not a TypedDict's to say.
    defs[_name(GetTrackInfo)]["oneOf"] = [
        {"required": [key], "properties": {key: {"type": "string"}}}
        for key in ("trackId", "filePath")]
    defs["Command"] = {"description": "A client's command", "oneOf": commands}
    defs["ServerMessage"] = {"description": "A server's message", "oneOf": messages}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:stemcast:protocol:v{PROTOCOL_VERSION}:messages",
        "title": f"stemcast WebSocket protocol, version {PROTOCOL_VERSION}",
        "description": _DESCRIPTION,
        "oneOf": [{"$ref": "#/$defs/Command"}, {"$ref": "#/$defs/ServerMessage"}],
        "$defs": defs,
    }


def schema_text() -> str:
    return json.dumps(message_schema(), indent=2, ensure_ascii=False) + "\n"


def publish_schema(path: Path = SCHEMA_PATH) -> Path:
    """Write the schema to `path` (protocol/messages.schema.json by default)."""
    path.write_text(schema_text(), encoding="utf-8")
    return path


def def_name(message: dict[str, Any]) -> str:
    """The `$defs` entry that describes one command or message."""
    key, kinds = ("type", MESSAGES) if "type" in message else ("command", COMMANDS)
    for typed in kinds:
        if get_args(get_type_hints(typed)[key]) == (message.get(key),):
            return _name(typed)
    raise KeyError(f"no schema for a map with type={message.get('type')!r}, "
                   f"command={message.get('command')!r}")


if __name__ == "__main__":
    written = publish_schema(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_PATH)
    print(f"wrote {written}")
