"""`GET /openapi.json` (OpenAPI 3.1) and `GET /docs`, made from the routes themselves.

Each Route's handler carries an `@endpoint` (stemcast.http.api_meta); its TypedDicts
become `components.schemas` through the protocol's converter. A route without one is
listed in `x-undescribed` and fails the tests, so the description cannot fall behind.
The docs page is one self-contained HTML file (no CDN: the server may have no internet,
and its users neither) that renders the JSON in the browser.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Route

from stemcast import __version__
from stemcast.http.api_meta import Endpoint, Media, Reply, endpoint, endpoint_of
from stemcast.http.api_types import ErrorBody
from stemcast.http.docs_page import DOCS_HTML
from stemcast_protocol.typed_schema import Schema, SchemaBuilder

_INFO = {
    "title": "stemcast",
    "version": __version__,
    "summary": "Realtime stem separation: HTTP API (this document) and WebSocket /ws",
    "description": (
        "Every error is JSON `{success: false, error: {code, message}}` "
        "(components.schemas.ErrorBody), 404 and 405 included. The WebSocket at /ws "
        "speaks the protocol of protocol/PROTOCOL.md; each of its messages has a JSON "
        "Schema in protocol/messages.schema.json."),
    "license": {"name": "MIT"},
}


def describe(routes: list[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every HTTP Route among `routes`."""
    builder = SchemaBuilder("#/components/schemas/")
    error_ref = builder.schema(ErrorBody)
    paths: dict[str, dict[str, Any]] = {}
    undescribed: list[str] = []
    operation_ids: set[str] = set()
    for route in routes:
        if not isinstance(route, Route):
            continue  # the WebSocket (see info) and the static page's mount
        meta = endpoint_of(route.endpoint)
        methods = sorted((route.methods or {"GET"}) - {"HEAD"})
        if meta is None:
            undescribed += [f"{method} {route.path}" for method in methods]
            continue
        for method in methods:
            operation = _operation(route, meta, builder, error_ref)
            operation["operationId"] = _unique(route.endpoint.__name__, route.path,
                                                operation_ids)
            paths.setdefault(route.path, {})[method.lower()] = operation
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": _INFO,
        "paths": paths,
        "components": {
            "schemas": builder.defs,
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "Needed when the server runs with --token; also as ?token="}},
        },
        # The token is optional: {} is "no credentials" for a server without --token.
        "security": [{}, {"bearer": []}],
    }
    if undescribed:
        document["x-undescribed"] = undescribed
    return document


def _operation(route: Route, meta: Endpoint, builder: SchemaBuilder,
               error_ref: Schema) -> dict[str, Any]:
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in route.param_convertors]
    parameters += [{"name": q.name, "in": "query", "required": False,
                    "description": q.description, "schema": {"type": q.type}}
                   for q in meta.query]
    operation: dict[str, Any] = {"summary": meta.summary, "tags": list(meta.tags)}
    if meta.description:
        operation["description"] = meta.description
    if parameters:
        operation["parameters"] = parameters
    body = _request_body(meta, builder)
    if body:
        operation["requestBody"] = body
    responses = {str(status): _reply(status, reply, builder, error_ref)
                 for status, reply in sorted(meta.responses.items())}
    responses["default"] = {"description": "An error, in the one error shape",
                            "content": {"application/json": {"schema": error_ref}}}
    operation["responses"] = responses
    return operation


def _request_body(meta: Endpoint, builder: SchemaBuilder) -> dict[str, Any] | None:
    content: dict[str, Any] = {}
    if meta.request is not None:
        content["application/json"] = {"schema": builder.schema(meta.request)}
    if meta.form:
        properties = {name: ({"type": "string", "contentMediaType": "application/octet-stream"}
                             if name == "file" else {"type": "string"}) | {"description": text}
                      for name, text in meta.form.items()}
        content["multipart/form-data"] = {"schema": {
            "type": "object", "properties": properties, "required": ["file"]}}
    return {"required": True, "content": content} if content else None


def _reply(status: int, reply: Reply, builder: SchemaBuilder,
           error_ref: Schema) -> dict[str, Any]:
    description = HTTPStatus(status).phrase
    if isinstance(reply, Media):
        return {"description": reply.description or description,
                "content": {reply.media_type: {}}}
    schema = error_ref if reply is None else builder.schema(reply)
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _unique(name: str, path: str, taken: set[str]) -> str:
    """The handler's name; one handler on two paths gets the second's last part added
    (get_track_drums, get_track_drums_onsets_json)."""
    candidate = name
    if candidate in taken:
        candidate = f"{name}_{re.sub(r'[^A-Za-z0-9]+', '_', path.rsplit('/', 1)[-1])}"
    if candidate in taken:
        raise ValueError(f"two operations named {candidate!r}: name the handlers apart")
    taken.add(candidate)
    return candidate


@endpoint("This API's OpenAPI 3.1 description", tags=("docs",),
          responses={200: Media("application/json", "An OpenAPI 3.1 document")})
async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(describe(request.app.routes))


@endpoint("A page that renders /openapi.json (no CDN)", tags=("docs",),
          responses={200: Media("text/html")})
async def docs_page(request: Request) -> HTMLResponse:
    return HTMLResponse(DOCS_HTML)
