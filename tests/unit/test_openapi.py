"""/openapi.json is made from the routes: every HTTP route is described, and the document
is valid OpenAPI 3.1 whose schemas are valid JSON Schema."""

from __future__ import annotations

import os
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from starlette.routing import Route

from stemcast.app.factory import create_app
from stemcast.audio.decode_checks import DECODE_LIMIT_ENV
from stemcast.config import Settings
from stemcast.http.api_meta import endpoint_of
from stemcast.http.openapi import describe


@pytest.fixture(scope="module")
def app_routes(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    # create_app caps decoding in this process (an environment variable): undo that, so
    # no later test in the run inherits it.
    before = os.environ.get(DECODE_LIMIT_ENV)
    try:
        app = create_app(Settings(data_dir=tmp_path_factory.mktemp("openapi")))
    finally:
        if before is None:
            os.environ.pop(DECODE_LIMIT_ENV, None)
        else:
            os.environ[DECODE_LIMIT_ENV] = before
    return list(app.routes)


def test_every_http_route_is_described(app_routes: list[Any]) -> None:
    routes = [r for r in app_routes if isinstance(r, Route)]
    assert len(routes) > 20
    missing = [r.path for r in routes if endpoint_of(r.endpoint) is None]
    assert not missing, f"routes without @endpoint (stemcast.http.api_meta): {missing}"
    document = describe(app_routes)
    assert "x-undescribed" not in document
    described = {(path, method) for path, ops in document["paths"].items() for method in ops}
    for route in routes:
        for method in (route.methods or set()) - {"HEAD"}:
            assert (route.path, method.lower()) in described


def test_an_undescribed_route_is_named(app_routes: list[Any]) -> None:
    async def bare(request: Any) -> None:
        return None
    document = describe([*app_routes, Route("/bare", bare, methods=["POST"])])
    assert document["x-undescribed"] == ["POST /bare"]


def test_the_document_is_valid_openapi_31(app_routes: list[Any]) -> None:
    document = describe(app_routes)
    assert document["openapi"] == "3.1.0"
    validate(document)  # the OpenAPI 3.1 meta-schema, $refs resolved
    for name, schema in document["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object", name
    operation_ids = [op["operationId"] for ops in document["paths"].values()
                     for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))
    submit = document["paths"]["/jobs"]["post"]
    assert set(submit["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert document["paths"]["/jobs/{job_id}"]["get"]["parameters"][0]["name"] == "job_id"
