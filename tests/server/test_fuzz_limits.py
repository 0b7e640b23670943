"""Fuzzing the input limits where openapi.yaml leaves room (hypothesis, on a real server
process): environment strings, Idempotency-Key headers, any JSON or bytes as a body, deep
nesting, and body sizes around the 64 KiB of cancel/retry/delete. Never a 5xx; each limit
answers exactly where it lies."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_bumps_remote.server_ext.handlers import SMALL_BODY_LIMIT
from jupyter_bumps_remote.shared import bounded_json, transport

from ..support.problems import gaussian_problem
from ..support.services import JupyterServer

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
VERSION = re.compile(transport.VERSION_PATTERN)


@pytest.fixture(scope="module")
def server(redis_server, worker, tmp_path_factory):
    """A server process whose jobs belong to an owner of its own (c.BumpsRemote.owner), so
    that the jobs queued here reach no other test's lists or limits."""
    process = JupyterServer(
        tmp_path_factory.mktemp("fuzz-limits"),
        args=[
            f"--BumpsRemote.redis_url={redis_server.url}",
            f"--BumpsRemote.owner=fuzz-limits-{uuid.uuid4().hex[:8]}",
        ],
    ).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def payload() -> dict:
    """A valid problem made on a Python no worker runs: with wait_for_worker, its jobs stay
    queued and never run."""
    made = transport.encode(gaussian_problem())
    made["environment"]["python"] = "3.0.0"
    return made


def send(server, path: str, body: bytes, headers: dict | None = None, method: str = "POST"):
    return requests.request(
        method,
        server.url + "bumps-remote/api/" + path,
        data=body,
        headers={**server.headers, "Content-Type": "application/json", **(headers or {})},
        timeout=60,
    )


def submission(payload: dict, **environment) -> bytes:
    edited = {**payload, "environment": {**payload["environment"], **environment}}
    return json.dumps({"payload": edited, "fitter": "lm", "wait_for_worker": True}).encode()


@given(
    field=st.sampled_from(["python", "bumps", "numpy"]),
    value=st.text(max_size=80) | st.from_regex(VERSION, fullmatch=True),
)
@FUZZ
def test_an_environment_string_is_a_version_or_a_400(server, payload, field, value):
    answer = send(server, "jobs", submission(payload, **{field: value}))
    if VERSION.fullmatch(value):
        assert answer.status_code == 201, answer.text
    else:
        assert answer.status_code == 400, answer.text
        assert answer.json()["message"].startswith(f"payload: environment.{field}: ")


@given(key=st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=300))
@FUZZ
def test_an_idempotency_key_is_short_printable_ascii_or_a_400(server, payload, key):
    key = key.strip(" ")  # HTTP drops the spaces around a header's value
    headers = {"Idempotency-Key": key.encode("latin-1")}
    answer = send(server, "jobs", submission(payload), headers)
    fine = len(key) <= 200 and all(" " <= c <= "~" for c in key)
    # (tornado itself answers a bare 400 to DEL, before the handler sees the header)
    assert answer.status_code in ((200, 201) if fine else (400,)), (key, answer.text)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=40,
)
DEEP = st.integers(bounded_json.MAX_DEPTH - 2, 20_000).map(lambda d: "[" * d + "]" * d)
BYTES = st.binary(max_size=200).map(lambda b: b.decode("latin-1"))


@given(
    route=st.sampled_from(["jobs", "jobs/{id}/retry", "jobs/{id}/cancel"]),
    body=JSON.map(json.dumps) | DEEP | BYTES,
)
@FUZZ
def test_any_body_is_answered_without_a_server_error(server, route, body):
    path = route.format(id=uuid.uuid4().hex)  # no such job: the body is read, then a 404
    answer = send(server, path, body.encode("utf-8", "surrogatepass"))
    assert answer.status_code < 500, (path, body[:200], answer.text)
    if body.startswith("[" * (bounded_json.MAX_DEPTH + 1)) and len(body) <= 2 * SMALL_BODY_LIMIT:
        expected = (404,) if route.endswith("cancel") else (400,)
        assert answer.status_code in expected, answer.text


@given(
    route=st.sampled_from(
        [("POST", "jobs/{id}/retry"), ("POST", "jobs/{id}/cancel"), ("DELETE", "jobs/{id}")]
    ),
    size=st.integers(SMALL_BODY_LIMIT - 2, SMALL_BODY_LIMIT + 2)
    | st.integers(0, 4 * SMALL_BODY_LIMIT),
)
@FUZZ
def test_cancel_retry_and_delete_refuse_bodies_over_64_kib(server, route, size):
    method, template = route
    answer = send(server, template.format(id=uuid.uuid4().hex), b" " * size, method=method)
    if size > SMALL_BODY_LIMIT:
        assert answer.status_code == 413, (size, answer.text)
        assert f"larger than {SMALL_BODY_LIMIT} bytes" in answer.json()["message"]
    else:  # read, then: no such job (a retry's body of spaces is not JSON: 400)
        assert answer.status_code in (400, 404), (size, answer.text)
