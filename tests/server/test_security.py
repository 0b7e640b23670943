"""Security of the API on a real server (docs/reliability.md#security, statements 17-19):
every route refuses a request without credentials, cookie logins need the XSRF token and a
same-origin WebSocket, and a user never sees another user's jobs.

The routes are enumerated from the running web application, not listed here, so a handler
added later without `@web.authenticated` / `@ws_authenticated` makes these tests fail.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
import yaml
from tornado import routing, web, websocket
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.httputil import parse_cookie
from tornado.util import re_unescape

from jupyter_bumps_remote.shared import jobs, transport

from ..support import openapi
from ..support.identity import TokenUsers, auth
from ..support.problems import gaussian_problem
from .conftest import API, Api

PACKAGE = "jupyter_bumps_remote"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
FOREIGN_ORIGIN = "http://evil.example"


@pytest.fixture
def jp_server_config(jp_server_config, request):
    """The server config of conftest, plus `ServerApp` traits from indirect parametrization."""
    extra = getattr(request, "param", {})
    return {**jp_server_config, "ServerApp": {**jp_server_config["ServerApp"], **extra}}


# ---------------------------------------------------------------- what the app registers


@dataclass(frozen=True)
class Route:
    matcher: routing.PathMatches
    handler: type[web.RequestHandler]

    @property
    def websocket(self) -> bool:
        return issubclass(self.handler, websocket.WebSocketHandler)

    def path(self, job_id: str) -> str:
        """The concrete path with every capture group replaced by `job_id`."""
        # not PathMatches.reverse: it %-formats the pattern, and base_url may hold a % (%40)
        pattern = self.matcher.regex.pattern.removesuffix("$")
        parts = re.split(r"\([^()]*\)", pattern)
        assert len(parts) == self.matcher.regex.groups + 1, pattern
        path = job_id.join(re_unescape(part) for part in parts)
        assert self.matcher.regex.fullmatch(path), (pattern, path)
        return path

    def methods(self) -> list[str]:
        """Every HTTP method the handler answers that must need credentials: all implemented
        ones except those jupyter_server itself allowlists (APIHandler's CORS preflight)."""
        found = []
        for name in self.handler.SUPPORTED_METHODS:
            method = getattr(self.handler, name.lower(), None)
            if method is None or method is web.RequestHandler._unimplemented_method:
                continue
            if not self.allowlisted_by_jupyter_server(name):
                found.append(name)
        return found

    def allowlisted_by_jupyter_server(self, name: str) -> bool:
        """A method inherited from jupyter_server and marked `@allow_unauthenticated` there."""
        method = getattr(self.handler, name.lower(), None)
        defined_in = next((c for c in self.handler.__mro__ if name.lower() in vars(c)), None)
        return (
            defined_in is not None
            and not defined_in.__module__.startswith(PACKAGE)
            and getattr(method, "__allow_unauthenticated", False)
        )


def extension_routes(serverapp) -> list[Route]:
    """Every rule of the running web app that routes to a handler of this package."""
    routes: list[Route] = []

    def walk(router):
        for rule in getattr(router, "rules", ()):
            target = rule.target
            if isinstance(target, routing.Router):
                walk(target)
            elif isinstance(target, type) and target.__module__.startswith(PACKAGE):
                routes.append(Route(rule.matcher, target))

    walk(serverapp.web_app.default_router)
    walk(serverapp.web_app.wildcard_router)
    return routes


def documented_operations(base_url: str, job_id: str) -> list[tuple[str, str]]:
    """(method, concrete path) of every operation in openapi.yaml."""
    spec = yaml.safe_load(openapi.SPEC.read_text())
    operations = []
    for template, item in spec["paths"].items():
        path = f"{base_url}{openapi.API_ROOT}{template}".replace("{job_id}", job_id)
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                operations.append((method.upper(), path))
    return operations


def routes_under_test(serverapp, base_url: str, job_id: str) -> list[Route]:
    """The enumeration, checked to cover at least every documented operation."""
    routes = extension_routes(serverapp)
    for method, path in documented_operations(base_url, job_id):
        matching = [r for r in routes if r.matcher.regex.match(path)]
        assert matching, f"{method} {path} is in openapi.yaml but no registered route serves it"
        assert method in matching[0].methods(), (method, path, matching[0].handler)
    return routes


# ---------------------------------------------------------------- plain clients


async def fetch(client, path: str, method: str = "GET", headers=None, body=None):
    """One request with exactly these headers (no token added), redirects not followed."""
    if body is None and method in ("POST", "PUT", "PATCH"):
        body = b""
    return await client.fetch(
        path,
        method=method,
        headers=headers or {},
        body=body,
        follow_redirects=False,
        raise_error=False,
        allow_nonstandard_methods=True,
    )


async def ws_connect(port: int, path: str, headers=None):
    request = HTTPRequest(f"ws://127.0.0.1:{port}{path}", headers=headers or {})
    return await websocket.websocket_connect(request)


async def ws_refusal(port: int, path: str, headers=None) -> int | None:
    """The HTTP status that refused the WebSocket handshake, None if it was accepted."""
    try:
        ws = await ws_connect(port, path, headers)
    except HTTPClientError as e:
        return e.code
    await close(ws)
    return None


async def close(ws) -> None:
    """Close and wait for the server's answer, so its handler has stopped before teardown."""
    ws.close()
    while await asyncio.wait_for(ws.read_message(), 10) is not None:
        pass


def cookies_of(response) -> dict[str, str]:
    found = {}
    for header in response.headers.get_list("Set-Cookie"):
        name, value = next(iter(parse_cookie(header.split(";")[0]).items()))
        found[name] = value
    return found


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


async def anonymous_xsrf(client, base_url: str) -> dict[str, str]:
    """The `_xsrf` cookie any visitor gets from the login page."""
    page = await fetch(client, f"{base_url}login")
    cookies = cookies_of(page)
    assert "_xsrf" in cookies, page.headers
    return cookies


async def browser_login(client, base_url: str, token: str) -> dict[str, str]:
    """Log in through the login form as a browser does (as jupyter_server's own
    tests/auth/test_login.py does): the `_xsrf` cookie and the `username-…` login cookie."""
    cookies = await anonymous_xsrf(client, base_url)
    form = urlencode({"password": token, "_xsrf": cookies["_xsrf"]})
    answer = await fetch(
        client, f"{base_url}login", "POST", {"Cookie": cookie_header(cookies)}, form.encode()
    )
    assert answer.code == 302, (answer.code, answer.body[:300])
    login = cookies_of(answer)
    assert any(name.startswith("username-") for name in login), login
    return {**cookies, **login}


async def read_until(ws, done, timeout=60) -> list[dict]:
    """Messages of a WebSocket until `done(event)` is true for one of them."""
    events = []
    while True:
        message = await asyncio.wait_for(ws.read_message(), timeout)
        assert message is not None, f"socket closed early after {events}"
        events.append(json.loads(message))
        if done(events[-1]):
            return events


def terminal_status_of(job_id: str, statuses=jobs.TERMINAL):
    def done(event):
        data = event["data"]
        return event["type"] == "status" and data["job"] == job_id and data["status"] in statuses

    return done


# ---------------------------------------------------------------- 17: no credentials, 403


@pytest.mark.parametrize(
    "jp_server_config",
    [{"allow_unauthenticated_access": False}, {"allow_unauthenticated_access": True}],
    ids=["allow_unauthenticated_access=False", "allow_unauthenticated_access=True"],
    indirect=True,
)
async def test_every_route_and_method_refuses_requests_without_credentials(
    api, jp_serverapp, http_server_client, jp_base_url, jp_http_port, jp_server_config
):
    expected = jp_server_config["ServerApp"]["allow_unauthenticated_access"]
    assert jp_serverapp.web_app.settings["allow_unauthenticated_access"] is expected
    # a real job of the server's user: a route that let anyone in would show or change it
    job = await api.submit(name="secret-job")
    routes = routes_under_test(jp_serverapp, jp_base_url, job["id"])
    xsrf = await anonymous_xsrf(http_server_client, jp_base_url)
    # past the XSRF check (any visitor has a valid pair), so a 403 can only be the login's
    with_xsrf = {"Cookie": cookie_header(xsrf), "X-XSRFToken": xsrf["_xsrf"]}
    wrong: list[str] = []
    tried = 0

    def check(route, method, path, response, how="", redirect_ok=False):
        nonlocal tried
        tried += 1
        if redirect_ok and response.code == 302:
            if "login" not in response.headers.get("Location", ""):
                wrong.append(f"{method} {path}{how}: 302 to {response.headers.get('Location')}")
            return
        if response.code != 403:
            wrong.append(f"{method} {path}{how}: {response.code} {response.body[:200]!r}")
            return
        assert job["id"].encode() not in response.body, response.body
        openapi.validate(method, path, response)  # WebSocket refusals are JSON errors too

    for route in routes:
        path = route.path(job["id"])
        for method in route.methods():
            check(route, method, path, await fetch(http_server_client, path, method))
            if method in WRITE_METHODS:
                response = await fetch(http_server_client, path, method, with_xsrf)
                check(route, method, path, response, " (with an anonymous _xsrf pair)")
            if method == "GET":
                html = {"Accept": "text/html,application/xhtml+xml"}
                response = await fetch(http_server_client, path, method, html)
                check(route, method, path, response, " (Accept: text/html)", redirect_ok=True)
            if method == "GET" and route.websocket:
                tried += 1
                code = await ws_refusal(jp_http_port, path)
                if code != 403:
                    wrong.append(f"WebSocket {path}: {code or 'accepted'}")
        if route.allowlisted_by_jupyter_server("OPTIONS"):
            # APIHandler's CORS preflight is open by design: it must tell nothing
            preflight = await fetch(http_server_client, path, "OPTIONS")
            assert preflight.code == 200 and not preflight.body, (path, preflight.body)
    assert not wrong, "\n".join(wrong)
    assert tried >= 2 * len(documented_operations(jp_base_url, job["id"]))
    assert (await api.json("GET", "jobs", job["id"], expect=200))["name"] == "secret-job"


# ---------------------------------------------------------------- 18: XSRF and Origin


async def test_cookie_logins_need_the_xsrf_token_for_every_write(
    api, jp_serverapp, http_server_client, jp_base_url
):
    token = jp_serverapp.identity_provider.token
    cookies = await browser_login(http_server_client, jp_base_url, token)
    browser = {"Cookie": cookie_header(cookies)}
    # the cookie alone logs in (GETs need no XSRF token), so the 403s below are the XSRF check's
    listing = await fetch(
        http_server_client, f"{jp_base_url}{openapi.API_ROOT}/jobs", "GET", browser
    )
    assert listing.code == 200, listing.body[:300]
    other = (await anonymous_xsrf(http_server_client, jp_base_url))["_xsrf"]

    unknown = uuid.uuid4().hex
    writes = [
        (method, route.path(unknown))
        for route in routes_under_test(jp_serverapp, jp_base_url, unknown)
        for method in route.methods()
        if method in WRITE_METHODS
    ]
    assert ("POST", f"{jp_base_url}{openapi.API_ROOT}/jobs") in writes
    assert ("DELETE", f"{jp_base_url}{openapi.API_ROOT}/jobs/{unknown}") in writes
    for method, path in writes:
        refused = [
            await fetch(http_server_client, path, method, browser),
            await fetch(http_server_client, path, method, {**browser, "X-XSRFToken": other}),
        ]
        for response in refused:
            assert response.code == 403, (method, path, response.code, response.body[:300])
            assert b"XSRF" in response.body or b"_xsrf" in response.body, response.body
            openapi.validate(method, path, response)
        good = {**browser, "X-XSRFToken": cookies["_xsrf"]}
        response = await fetch(http_server_client, path, method, good)
        # past login and XSRF: the empty body is a 400, the unknown job a 404
        assert response.code in (400, 404), (method, path, response.code, response.body[:300])
        openapi.validate(method, path, response, b"")


async def test_websockets_refuse_a_foreign_origin_before_any_data(
    api, jp_serverapp, http_server_client, jp_base_url, jp_http_port
):
    job = await api.submit()  # the server's user's job, so only the Origin can refuse
    token = jp_serverapp.identity_provider.token
    cookies = await browser_login(http_server_client, jp_base_url, token)
    sockets = [
        route.path(job["id"])
        for route in routes_under_test(jp_serverapp, jp_base_url, job["id"])
        if route.websocket
    ]
    assert sorted(sockets) == sorted(
        f"{jp_base_url}{openapi.API_ROOT}/{tail}" for tail in ("events", f"jobs/{job['id']}/events")
    )
    for path in sockets:
        browser = {"Cookie": cookie_header(cookies)}
        foreign = await ws_refusal(jp_http_port, path, {**browser, "Origin": FOREIGN_ORIGIN})
        assert foreign == 403, (path, foreign)
        # the same login from the server's own origin is let in: the Origin made the 403
        same = {**browser, "Origin": f"http://127.0.0.1:{jp_http_port}"}
        ws = await ws_connect(jp_http_port, path, same)
        first = json.loads(await asyncio.wait_for(ws.read_message(), 30))
        assert {"id", "type", "data"} <= set(first), first  # the replay of the user's events
        await close(ws)


# ---------------------------------------------------------------- 19: owner isolation


@pytest.mark.parametrize(
    "jp_server_config",
    [{"identity_provider_class": TokenUsers}],
    ids=["TokenUsers"],
    indirect=True,
)
async def test_a_user_cannot_see_or_touch_another_users_jobs(
    bumps_ext, jp_serverapp, jp_fetch, jp_ws_fetch
):
    assert isinstance(jp_serverapp.identity_provider, TokenUsers)
    suffix = uuid.uuid4().hex[:8]
    alice_name, bob_name = f"alice-{suffix}", f"bob-{suffix}"
    alice, bob = Api(jp_fetch, auth(alice_name)), Api(jp_fetch, auth(bob_name))
    payload = transport.encode(gaussian_problem())
    key = {"Idempotency-Key": f"key-{suffix}"}
    body = {"payload": payload, "fitter": "lm", "name": "alice-secret", "tags": ["private"]}
    done = await alice.json("POST", "jobs", body=body, headers=key, expect=201)
    assert done["owner"] == alice_name
    # a job no worker can take stays queued, so a cancel by its owner is a 200
    unreachable = {**payload, "environment": {**payload["environment"], "python": "3.10.2"}}
    stuck = await alice.json(
        "POST",
        "jobs",
        body={"payload": unreachable, "fitter": "lm", "wait_for_worker": True},
        expect=201,
    )
    ws = await jp_ws_fetch(*API, "jobs", done["id"], "events", headers=auth(alice_name))
    await read_until(ws, terminal_status_of(done["id"]))
    await close(ws)
    assert (await alice.json("GET", "jobs", done["id"], expect=200))["status"] == jobs.SUCCEEDED

    # bob: every route on alice's jobs is a 404 that tells nothing about them
    refused = [
        await bob.call("GET", "jobs", done["id"]),
        await bob.call("GET", "jobs", done["id"], "result"),
        await bob.call("GET", "jobs", done["id"], "session.h5"),
        await bob.call("GET", "jobs", done["id"], "payload"),
        await bob.call("POST", "jobs", done["id"], "cancel"),
        await bob.call("POST", "jobs", stuck["id"], "cancel"),
        await bob.call("POST", "jobs", done["id"], "retry", body={}),
        await bob.call("DELETE", "jobs", done["id"]),
        await bob.call("DELETE", "jobs", stuck["id"]),
    ]
    for response in refused:
        assert response.code == 404, (response.effective_url, response.code, response.body)
        assert b"alice" not in response.body and done["id"].encode() not in response.body
    for job_id in (done["id"], stuck["id"]):
        with pytest.raises(HTTPClientError) as refusal:
            await jp_ws_fetch(*API, "jobs", job_id, "events", headers=auth(bob_name))
        assert refusal.value.code == 404
    assert await bob.json("GET", "jobs", expect=200) == {
        "jobs": [],
        "next_offset": None,
        "total": 0,
    }
    assert (await bob.json("GET", "jobs", params={"tag": "private"}, expect=200))["jobs"] == []
    # the same idempotency key is bob's own: a new job, not alice's
    mine = await bob.json("POST", "jobs", body=body, headers=key, expect=201)
    assert mine["id"] not in (done["id"], stuck["id"]) and mine["owner"] == bob_name
    # bob's owner stream from the start: alice's events (all older than his) would come first
    ws = await jp_ws_fetch(*API, "events", headers=auth(bob_name))
    seen = await read_until(ws, terminal_status_of(mine["id"]))
    await close(ws)
    assert {event["data"]["job"] for event in seen} == {mine["id"]}

    # alice: the same routes work for her, and bob changed nothing
    record = await alice.json("GET", "jobs", done["id"], expect=200)
    assert record["status"] == jobs.SUCCEEDED and not record.get("cancel_requested")
    assert (await alice.json("GET", "jobs", stuck["id"], expect=200))["status"] == jobs.QUEUED
    await alice.json("GET", "jobs", done["id"], "result", expect=200)
    await alice.call("GET", "jobs", done["id"], "session.h5", expect=200)
    await alice.call("GET", "jobs", done["id"], "payload", expect=200)
    listed = {j["id"] for j in (await alice.json("GET", "jobs", expect=200))["jobs"]}
    assert listed == {done["id"], stuck["id"]}
    again = await alice.json("POST", "jobs", body=body, headers=key, expect=200)
    assert again["id"] == done["id"]
    retried = await alice.json("POST", "jobs", done["id"], "retry", body={}, expect=201)
    await alice.json("POST", "jobs", stuck["id"], "cancel", expect=200)
    # her owner stream, read up to her last change, has her jobs and none of bob's
    ws = await jp_ws_fetch(*API, "events", headers=auth(alice_name))
    seen = await read_until(ws, terminal_status_of(stuck["id"], {jobs.CANCELLED}))
    await close(ws)
    assert {done["id"], stuck["id"]} <= {e["data"]["job"] for e in seen}
    assert {e["data"]["job"] for e in seen} <= {done["id"], stuck["id"], retried["id"]}
    await alice.call("DELETE", "jobs", done["id"], expect=204)
    await alice.json("GET", "jobs", done["id"], expect=404)
