"""What each HTTP handler says about itself, for /openapi.json.

`@endpoint(...)` attaches an `Endpoint` to the handler: its summary, the TypedDict of its
request body, the TypedDicts (or `Media` types) of its replies by status. The description
is built from these and the routes (stemcast.http.openapi), so it cannot drift from the
code: a route without an `@endpoint` fails the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

ATTRIBUTE: Final = "__stemcast_endpoint__"


@dataclass(frozen=True)
class Media:
    """A reply that is not JSON: a file or a stream of this media type."""

    media_type: str
    description: str = ""


@dataclass(frozen=True)
class Query:
    """One query parameter."""

    name: str
    description: str
    type: str = "string"  # a JSON Schema type


# A reply: a TypedDict (JSON), a Media (a file), or None (an error in the one error shape).
Reply = type | Media | None


@dataclass(frozen=True)
class Endpoint:
    summary: str
    tags: tuple[str, ...]
    request: type | None = None
    # Multipart form fields (name -> description), for handlers that take uploads.
    form: Mapping[str, str] = field(default_factory=dict)
    responses: Mapping[int, Reply] = field(default_factory=dict)
    query: tuple[Query, ...] = ()
    description: str = ""


def endpoint(summary: str, *, tags: tuple[str, ...], request: type | None = None,
             form: Mapping[str, str] | None = None,
             responses: Mapping[int, Reply] | None = None,
             query: tuple[Query, ...] = (), description: str = "") -> Callable[[F], F]:
    """Describe a handler; `responses` lists every status it answers besides the error
    statuses every route shares (those come from the error shape)."""
    meta = Endpoint(summary, tags, request, dict(form or {}), dict(responses or {}), query,
                    description)

    def attach(handler: F) -> F:
        setattr(handler, ATTRIBUTE, meta)
        return handler
    return attach


def endpoint_of(handler: object) -> Endpoint | None:
    meta = getattr(handler, ATTRIBUTE, None)
    return meta if isinstance(meta, Endpoint) else None
