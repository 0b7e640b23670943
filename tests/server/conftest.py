"""A real jupyter_server with the extension, on the session's Redis and worker."""

from __future__ import annotations

import json
import uuid

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_bumps_remote.server_ext.service import MAX_RESULT_IDS
from jupyter_bumps_remote.shared import transport

from ..support import openapi
from ..support.identity import TokenUsers, auth
from ..support.problems import gaussian_problem

API = ("bumps-remote", "api")


@pytest.fixture
def extension_config(redis_server):
    return {"redis_url": redis_server.url, "max_payload_bytes": 2 * 1024 * 1024}


@pytest.fixture
def jp_server_config(extension_config, worker):
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_bumps_remote": True}},
        "BumpsRemote": extension_config,
    }


@pytest.fixture
def bumps_ext(jp_serverapp, jp_asyncio_loop):
    """The started extension (pytest-jupyter does not run the server's start hooks)."""
    ext = jp_serverapp.extension_manager.extension_points["bumps_remote"].app

    async def start():
        await jp_serverapp._post_start()
        await ext.started.wait()

    jp_asyncio_loop.run_until_complete(start())
    return ext


class Api:
    """JSON calls to the extension; every response is checked against openapi.yaml."""

    def __init__(self, fetch, headers=None):
        self.fetch = fetch
        self.headers = headers or {}

    async def call(self, method, *path, body=None, params=None, headers=None, expect=None):
        raw = None if body is None else (body if isinstance(body, bytes) else json.dumps(body))
        if raw is None and method in ("POST", "PUT"):
            raw = b""
        try:
            response = await self.fetch(
                *API,
                *path,
                method=method,
                body=raw,
                params=params,
                headers={**self.headers, **(headers or {})},
            )
        except HTTPClientError as e:
            response = e.response
        query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
        url = "/bumps-remote/api/" + "/".join(path) + (f"?{query}" if query else "")
        openapi.validate(method, url, response, raw if isinstance(raw, bytes) else None)
        if expect is not None:
            assert response.code == expect, (response.code, response.body[:500])
        return response

    async def json(self, method, *path, **kwargs):
        response = await self.call(method, *path, **kwargs)
        return json.loads(response.body) if response.body else None

    async def submit(self, problem=None, fitter="lm", options=None, **fields):
        payload = transport.encode(problem if problem is not None else gaussian_problem())
        body = {"payload": payload, "fitter": fitter, **fields}
        if options is not None:
            body["options"] = options
        return await self.json("POST", "jobs", body=body, expect=201)


@pytest.fixture
def api(bumps_ext, jp_fetch):
    return Api(jp_fetch)


def users_from_authorization(jp_server_config: dict) -> dict:
    """`jp_server_config` with users taken from the Authorization header (TokenUsers), for
    a module whose tests are each a user of its own (`named_user`)."""
    server = {**jp_server_config["ServerApp"], "identity_provider_class": TokenUsers}
    return {**jp_server_config, "ServerApp": server}


def named_user(jp_fetch, name: str) -> Api:
    """A user of its own, `name` and a random suffix, for a module whose server takes users
    from the Authorization header (identity_provider_class TokenUsers)."""
    return Api(jp_fetch, auth(f"{name}-{uuid.uuid4().hex[:8]}"))


# Bad `ids` of the routes that name jobs in their body (POST jobs/results, jobs/cancel: one
# validator, handlers._job_ids), with the start of the 400's message
BAD_JOB_IDS = [
    ({"ids": ["0" * 32] * (MAX_RESULT_IDS + 1)}, "ids: give a list of 1 to 1000"),
    ({"ids": []}, "ids: give a list of 1 to 1000"),
    ({"ids": "0" * 32}, "ids: give a list"),
    ({}, "ids: give a list"),
    ({"ids": ["0" * 32, "../x"]}, "ids: item 1 is not a job id"),
]
