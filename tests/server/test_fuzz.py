"""Fuzzing the shipped openapi.yaml with a valid token (schemathesis): no 5xx, and every
response on the schema. Bounded: a few examples per operation."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ..support.openapi import SPEC

schema = schemathesis.openapi.from_path(SPEC).exclude(path_regex=r".*/events$")


def past_authentication(ctx, response, case):
    """With a valid token nothing is refused as unauthenticated, so each case really
    reaches the handler (a 403 everywhere would satisfy the schema checks trivially)."""
    assert response.status_code != 403, f"403 for {case.method} {case.path}"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    past_authentication,
]


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_holds_to_its_schema(case, notebook_server):
    # the spec's security scheme makes schemathesis invent an Authorization header: use ours
    case.headers = {**(case.headers or {}), "Authorization": f"token {notebook_server.token}"}
    case.call_and_validate(base_url=notebook_server.url + "bumps-remote/api", checks=CHECKS)
