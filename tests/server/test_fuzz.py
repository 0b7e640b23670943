"""Fuzzing the shipped openapi.yaml with a valid token (schemathesis): no 5xx, and every
response on the schema, the 429 of the per-user limits included. Bounded: a few examples per
operation."""

from __future__ import annotations

import functools
import json
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jupyter_bumps_remote.shared import transport

from ..support.openapi import SPEC
from ..support.problems import gaussian_problem
from ..support.services import JupyterServer

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


# -- the per-user limits -----------------------------------------------------------------------

submissions = schema.include(path="/jobs", method="POST")


@functools.cache
def waiting_payload() -> str:
    """A valid problem made on a Python no worker runs, so that its jobs stay queued (encoded
    once: encoding takes most of a second)."""
    payload = transport.encode(gaussian_problem())
    payload["environment"]["python"] = "3.10.2"
    return json.dumps(payload)


@pytest.fixture(scope="module")
def limited_server(redis_server, worker, tmp_path_factory):
    """A server whose user may have one active job and four submissions a minute: a user of
    its own (JUPYTERHUB_USER), so that its limits reach no other test's jobs."""
    server = JupyterServer(
        tmp_path_factory.mktemp("limited-server"),
        env={"JUPYTERHUB_USER": f"fuzz-{uuid.uuid4().hex[:8]}"},
        args=[
            f"--BumpsRemote.redis_url={redis_server.url}",
            "--BumpsRemote.max_active_jobs=1",
            "--BumpsRemote.max_submissions_per_minute=4",
        ],
    ).start()
    yield server
    server.stop()


@submissions.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_submissions_over_the_limits_hold_to_the_schema(case, limited_server):
    """Fuzzed submissions with a valid problem that stays queued: past the first, the limits
    answer 429, which must be on the schema too."""
    if isinstance(case.body, dict):
        payload = json.loads(waiting_payload())
        case.body = {**case.body, "payload": payload, "fitter": "lm", "wait_for_worker": True}
    case.headers = {**(case.headers or {}), "Authorization": f"token {limited_server.token}"}
    case.call_and_validate(base_url=limited_server.url + "bumps-remote/api", checks=CHECKS)
