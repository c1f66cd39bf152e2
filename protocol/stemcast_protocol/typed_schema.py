"""JSON Schema (draft 2020-12) from Python types: TypedDicts, Literals, lists, unions.

The one converter behind both machine-readable descriptions: the WebSocket messages'
(stemcast_protocol.schema) and the HTTP API's (stemcast.http.openapi). Named TypedDicts
become `$defs` entries referenced by `$ref`, so a shape used in many places is written
once. Requiredness is read from the annotations themselves: with postponed annotations
Python 3.11's `__required_keys__` treats every `NotRequired` field as required.
"""

from __future__ import annotations

import types
import typing
from enum import Enum
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin

Schema = dict[str, Any]

_SCALARS: dict[Any, Schema] = {
    str: {"type": "string"}, bool: {"type": "boolean"}, int: {"type": "integer"},
    # JSON has one number type: an int is a valid float.
    float: {"type": "number"}, type(None): {"type": "null"}, Any: {},
    object: {},
}


def is_typed_dict(value: object) -> bool:
    return isinstance(value, type) and typing.is_typeddict(value)


class SchemaBuilder:
    """Collects the `$defs` of every TypedDict met; `ref_prefix` is where they live in the
    final document (`#/$defs/` for JSON Schema, `#/components/schemas/` for OpenAPI)."""

    def __init__(self, ref_prefix: str = "#/$defs/") -> None:
        self.ref_prefix = ref_prefix
        self.defs: dict[str, Schema] = {}

    def schema(self, annotation: Any) -> Schema:
        if is_typed_dict(annotation):
            return self._ref(annotation)
        if annotation in _SCALARS:
            return dict(_SCALARS[annotation])
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            return {"enum": [member.value for member in annotation]}
        origin, args = get_origin(annotation), get_args(annotation)
        if origin is Literal:
            return {"const": args[0]} if len(args) == 1 else {"enum": list(args)}
        if origin in (Union, types.UnionType):
            return self._union(args)
        if origin in (list, tuple) or origin is typing.Sequence:
            items = args[0] if args else Any
            return {"type": "array", "items": self.schema(items)}
        if origin is dict:
            value = args[1] if len(args) == 2 else Any
            return {"type": "object", "additionalProperties": self.schema(value)}
        raise TypeError(f"no JSON Schema for {annotation!r}: use str, int, float, bool, "
                        "None, Literal, list, dict[str, X], a union or a TypedDict")

    def _union(self, args: tuple[Any, ...]) -> Schema:
        options = [self.schema(arg) for arg in args]
        simple = [o.get("type") for o in options]
        if all(isinstance(t, str) and len(o) == 1 for t, o in zip(simple, options, strict=True)):
            return {"type": simple}  # e.g. ["string", "null"]
        return {"anyOf": options}

    def _ref(self, typed_dict: type) -> Schema:
        name = typed_dict.__name__
        if name not in self.defs:
            self.defs[name] = {}  # placeholder: a recursive type refers to itself
            self.defs[name] = self.object_schema(typed_dict)
        return {"$ref": f"{self.ref_prefix}{name}"}

    def object_schema(self, typed_dict: type) -> Schema:
        hints = typing.get_type_hints(typed_dict, include_extras=True)
        total = getattr(typed_dict, "__total__", True)
        properties: dict[str, Schema] = {}
        required: list[str] = []
        for name, annotation in hints.items():
            origin = get_origin(annotation)
            needed = total
            if origin is NotRequired:
                needed, annotation = False, get_args(annotation)[0]
            elif origin is Required:
                needed, annotation = True, get_args(annotation)[0]
            properties[name] = self.schema(annotation)
            if needed:
                required.append(name)
        schema: Schema = {"type": "object", "properties": properties, "required": required}
        if typed_dict.__doc__ and not typed_dict.__doc__.startswith(typed_dict.__name__ + "("):
            schema["description"] = " ".join(typed_dict.__doc__.split())
        return schema


def required_keys(typed_dict: type) -> set[str]:
    """The keys a TypedDict requires, read correctly under postponed annotations."""
    schema = SchemaBuilder().object_schema(typed_dict)
    return set(schema["required"])
