"""Real HTTP replies checked against the server's own /openapi.json."""

from __future__ import annotations

import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator


class OpenApiChecker:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.checked: set[str] = set()  # operationIds of the replies checked so far
        # "/api/stems/{job_id}.zip" -> a regex of the paths it names; literal routes
        # first, as Starlette would match them.
        self._routes = sorted(
            ((re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"), path)
             for path in document["paths"]), key=lambda item: item[1].count("{"))

    def operation(self, method: str, path: str) -> dict[str, Any]:
        for pattern, template in self._routes:
            if pattern.match(path) and method.lower() in self.document["paths"][template]:
                operation: dict[str, Any] = self.document["paths"][template][method.lower()]
                self.checked.add(operation["operationId"])
                return operation
        raise AssertionError(f"{method} {path} is not in /openapi.json")

    def check(self, response: httpx.Response) -> None:
        """The reply's status is documented for its route and its JSON body fits."""
        request = response.request
        status = str(response.status_code)
        try:
            replies = self.operation(request.method, request.url.path)["responses"]
        except AssertionError:
            if response.status_code < 400:
                raise
            # No such route or method: the 404 or 405 is in the one error shape all the same.
            replies = {"default": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/ErrorBody"}}}}}
        if status not in replies and response.status_code < 400:
            raise AssertionError(f"{request.method} {request.url.path} answered {status}, "
                                 f"which /openapi.json does not list ({sorted(replies)})")
        reply = replies.get(status, replies["default"])
        content = reply.get("content", {})
        if "application/json" not in content or "schema" not in content["application/json"]:
            return
        assert response.headers["content-type"].startswith("application/json"), response.text
        schema = {**content["application/json"]["schema"],
                  "components": self.document["components"]}
        errors = sorted(Draft202012Validator(schema).iter_errors(response.json()),
                        key=lambda e: list(e.path))
        assert not errors, (f"{request.method} {request.url.path} {status}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]))
