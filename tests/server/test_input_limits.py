"""What a real jupyter_server with the extension refuses before it stores anything, and
what it never tells a client: the payload's environment and parameters, JSON nesting, the
Idempotency-Key, the size of cancel/retry/delete bodies, the Redis address and credentials;
the WebSocket Origin checked before Redis; and `c.BumpsRemote.owner`."""

from __future__ import annotations

import copy
import json
import logging
import uuid

import pytest
from tornado.httpclient import HTTPClientError
from traitlets import TraitError

from jupyter_bumps_remote.server_ext.app import BumpsRemote
from jupyter_bumps_remote.server_ext.handlers import SMALL_BODY_LIMIT
from jupyter_bumps_remote.shared import transport

from ..support import openapi
from ..support.identity import TokenUsers, auth
from ..support.problems import gaussian_problem
from ..support.services import RedisServer, free_port
from .conftest import API, Api


@pytest.fixture(scope="module")
def payload() -> dict:
    return transport.encode(gaussian_problem())


def with_change(payload: dict, path: tuple, value) -> dict:
    edited = copy.deepcopy(payload)
    node = edited
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return edited


async def total_jobs(api: Api) -> int:
    return (await api.json("GET", "jobs", expect=200))["total"]


# -- the envelope ------------------------------------------------------------------------------


async def test_environment_strings_that_are_not_versions_are_400(api, payload):
    before = await total_jobs(api)
    cases = {
        ("environment", "python"): "3.11:*",
        ("environment", "bumps"): "1.0 5",
        ("environment", "numpy"): "2.0}{",
        ("environment", "libraries"): {"refl1d": "1.0.1\n"},
        ("environment", "cuda"): "12.1",
    }
    for path, value in cases.items():
        body = {"payload": with_change(payload, path, value), "fitter": "lm"}
        refused = await api.json("POST", "jobs", body=body, expect=400)
        message = refused["message"]
        assert message.startswith("payload: environment"), message
        assert "encode()" in message, message  # what to do
    assert await total_jobs(api) == before  # nothing was stored or queued


async def test_the_parameter_summary_is_bounded(api, payload):
    before = await total_jobs(api)
    one = {"name": "p", "value": 1.0, "bounds": [0.0, 2.0]}
    too_many = [dict(one, name=f"p{i}") for i in range(transport.MAX_PARAMETERS + 1)]
    body = {"payload": with_change(payload, ("parameters",), too_many), "fitter": "lm"}
    refused = await api.json("POST", "jobs", body=body, expect=400)
    assert "parameters" in refused["message"] and "at most 2000" in refused["message"]
    long_name = [dict(one, name="x" * (transport.MAX_PARAMETER_NAME + 1))]
    body = {"payload": with_change(payload, ("parameters",), long_name), "fitter": "lm"}
    refused = await api.json("POST", "jobs", body=body, expect=400)
    assert "parameters[0].name" in refused["message"], refused
    not_a_number = [dict(one, value="<img src=x>")]
    body = {"payload": with_change(payload, ("parameters",), not_a_number), "fitter": "lm"}
    await api.json("POST", "jobs", body=body, expect=400)
    assert await total_jobs(api) == before


# -- nesting -----------------------------------------------------------------------------------


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


async def test_deeply_nested_json_is_400_not_500(api, payload):
    """The standard library's parser raised RecursionError (a 500) on 100 000 levels."""
    for text in (deep(100_000), '{"payload": ' + deep(100_000) + ', "fitter": "lm"}'):
        refused = await api.json("POST", "jobs", body=text.encode(), expect=400)
        assert refused["message"].startswith("body: ") and "32 levels" in refused["message"]
    # 1000 levels parse in orjson, then break whatever recursed into them (repr, dumps)
    body = {"payload": payload, "fitter": "amoeba", "options": {"steps": json.loads(deep(900))}}
    refused = await api.json("POST", "jobs", body=json.dumps(body).encode(), expect=400)
    assert "32 levels" in refused["message"]
    # a payload sent as a JSON string is parsed with the same bound
    inner = json.dumps(payload)[:-1] + ', "extra": ' + deep(100_000) + "}"
    body = json.dumps({"payload": inner, "fitter": "lm"}).encode()
    refused = await api.json("POST", "jobs", body=body, expect=400)
    assert refused["message"].startswith("payload: ") and "32 levels" in refused["message"]
    job = await api.submit()
    # a retry's body is parsed the same way (within its 64 KiB)
    refused = await api.json("POST", "jobs", job["id"], "retry", body=deep(20_000).encode())
    assert "32 levels" in refused["message"]


async def test_a_batch_refuses_deep_nesting_in_a_member_and_in_its_payload(api, payload):
    """A batch's members' payloads are checked as each is read, the rest of its body as it
    is parsed (handlers.py `json_body`): either way a 400 that says where."""
    member = {"payload": payload, "fitter": "amoeba"}
    refused = await api.json("POST", "jobs", "batch", body=deep(100_000).encode(), expect=400)
    assert refused["message"].startswith("body: ") and "32 levels" in refused["message"]
    nested = {**member, "options": {"steps": json.loads(deep(900))}}
    body = json.dumps({"jobs": [member, nested]}).encode()
    refused = await api.json("POST", "jobs", "batch", body=body, expect=400)
    assert refused["message"].startswith("body: ") and "32 levels" in refused["message"]
    deep_payload = {**member, "payload": {**payload, "extra": json.loads(deep(900))}}
    body = json.dumps({"jobs": [member, deep_payload]}).encode()
    refused = await api.json("POST", "jobs", "batch", body=body, expect=400)
    assert refused["message"].startswith("jobs[1].payload: ") and "32 levels" in refused["message"]


# -- Idempotency-Key ---------------------------------------------------------------------------


async def test_idempotency_key_is_at_most_200_printable_ascii(api, payload):
    body = {"payload": payload, "fitter": "lm"}
    before = await total_jobs(api)
    # (tornado itself refuses other control characters in a header with a bare 400)
    for key in ("k" * 201, "clé-ü", "a\tb"):
        refused = await api.json(
            "POST", "jobs", body=body, headers={"Idempotency-Key": key}, expect=400
        )
        assert refused["message"].startswith("Idempotency-Key: must be at most 200 printable")
    assert await total_jobs(api) == before
    key = "~" + uuid.uuid4().hex * 6 + " !"  # 200 printable characters, space included
    assert len(key) <= 200
    first = await api.json("POST", "jobs", body=body, headers={"Idempotency-Key": key}, expect=201)
    again = await api.json("POST", "jobs", body=body, headers={"Idempotency-Key": key}, expect=200)
    assert again["id"] == first["id"]


# -- bodies of cancel, retry, delete -----------------------------------------------------------


async def streamed(client, path: str, method: str, token: str, size: int):
    """A request whose body is sent chunked, so no Content-Length announces its size."""

    async def produce(write):
        sent = 0
        while sent < size:
            chunk = b" " * min(16 * 1024, size - sent)
            await write(chunk)
            sent += len(chunk)

    return await client.fetch(
        path,
        method=method,
        headers={"Authorization": f"token {token}"},
        body_producer=produce,
        allow_nonstandard_methods=True,
        raise_error=False,
    )


async def test_cancel_retry_and_delete_bodies_are_limited(
    api, jp_serverapp, http_server_client, jp_base_url
):
    job = await api.submit()
    token = jp_serverapp.identity_provider.token
    routes = [
        ("POST", ("jobs", job["id"], "cancel")),
        ("POST", ("jobs", job["id"], "retry")),
        ("DELETE", ("jobs", job["id"])),
    ]
    for method, path in routes:
        url_path = f"{jp_base_url}{'/'.join(API + path)}"
        # announced by its Content-Length: refused before a byte of it is read
        big = await http_server_client.fetch(
            url_path,
            method=method,
            headers={"Authorization": f"token {token}"},
            body=b" " * (SMALL_BODY_LIMIT + 1),
            allow_nonstandard_methods=True,
            raise_error=False,
        )
        assert big.code == 413, (method, path, big.code, big.body[:300])
        openapi.validate(method, url_path, big)
        assert f"larger than {SMALL_BODY_LIMIT} bytes" in json.loads(big.body)["message"]
        if method == "POST":  # tornado's client sends a chunked body with POST only
            # no Content-Length: refused once it passes the limit, the rest not kept
            answer = await streamed(
                http_server_client, url_path, method, token, SMALL_BODY_LIMIT + 1
            )
            assert answer.code == 413, (method, path, answer.code, answer.body[:300])
    # within the limit, each works as before
    fields = json.dumps({"name": "again", "tags": ["x"] * 32}).encode()
    retried = await api.json("POST", "jobs", job["id"], "retry", body=fields, expect=201)
    assert retried["name"] == "again"
    # (the session's worker may have run it already: 409, its body read as well)
    cancel = await api.call("POST", "jobs", retried["id"], "cancel", body=b"")
    assert cancel.code in (200, 409), (cancel.code, cancel.body[:300])


# -- Redis: where it is and who logs in stay on the server -------------------------------------


async def test_info_and_job_answers_name_no_redis_address(api, redis_server):
    where = f"127.0.0.1:{redis_server.port}"
    info = await api.call("GET", "info", expect=200)
    job = await api.submit()
    listing = await api.call("GET", "jobs", expect=200)
    record = await api.call("GET", "jobs", job["id"], expect=200)
    for answer in (info, listing, record):
        assert where not in answer.body.decode() and "redis://" not in answer.body.decode()


USER, PASSWORD = "bumps-tenant", f"pw-{uuid.uuid4().hex}"


class TestARedisDownBehindAUserAndPassword:
    """Redis refuses connections (stopped): the 503s say what is wrong and what to do, and
    name neither its address nor the user; the log has the address, never the password."""

    @pytest.fixture
    def extension_config(self):
        url = f"redis://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/0?password={PASSWORD}"
        return {"redis_url": url}

    async def test_503s_name_neither_address_nor_user(self, logged, api, extension_config):
        port = extension_config["redis_url"].rsplit(":", 1)[1].split("/")[0]
        answers = [
            await api.call("GET", "info", expect=503),
            await api.call("GET", "jobs", expect=503),
            await api.call("GET", "jobs", uuid.uuid4().hex, expect=503),
            await api.call(
                "POST",
                "jobs",
                body={"payload": transport.encode(gaussian_problem()), "fitter": "lm"},
                expect=503,
            ),
        ]
        for answer in answers:
            message = json.loads(answer.body)["message"]
            assert "not reachable" in message, message
            for secret in ("127.0.0.1", port, USER, PASSWORD, "redis://"):
                assert secret not in message, (secret, message)
        lines = [record.getMessage() for record in logged]
        assert any(
            f"{USER}:**@127.0.0.1:{port}" in line for line in lines
        )  # where, for the operator
        assert not [line for line in lines if PASSWORD in line and not is_config_dump(line)]


@pytest.fixture(scope="module")
def private_redis():
    """A Redis that only USER with PASSWORD may use (as a shared Redis is run)."""
    server = RedisServer(user=USER, password=PASSWORD).start()
    yield server
    server.cleanup()


class TestAPasswordInTheURLQuery:
    """`?username=…&password=…`: redis-py reads it, kombu could not (a 500 at the first
    submit); the log shows the address with the password masked."""

    @pytest.fixture
    def extension_config(self, private_redis):
        url = f"redis://127.0.0.1:{private_redis.port}/0?username={USER}&password={PASSWORD}"
        return {"redis_url": url}

    async def test_the_server_connects_and_never_logs_the_password(self, logged, api, payload):
        job = await api.json("POST", "jobs", body={"payload": payload, "fitter": "lm"}, expect=201)
        assert job["status"] == "queued"  # stored, and queued through kombu
        await api.json("GET", "info", expect=200)
        lines = [record.getMessage() for record in logged]
        assert any(f"redis://{USER}:**@127.0.0.1" in line for line in lines), lines
        leaks = [line for line in lines if PASSWORD in line and not is_config_dump(line)]
        assert not leaks


def is_config_dump(line: str) -> bool:
    """jupyter_server's own debug line with every setting it loaded, before any extension
    runs (docs/operator-guide.md says to give a password through the environment)."""
    return line.startswith("Config changed: ")


@pytest.fixture
def logged(jp_serverapp):
    """Every log record of the server and the extension from its start on (the extension's
    logger does not propagate to pytest's capture while it starts)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(logging.DEBUG)
    ext = jp_serverapp.extension_manager.extension_points["bumps_remote"].app
    loggers = {id(log): log for log in (logging.getLogger(), jp_serverapp.log, ext.log)}
    for log in loggers.values():
        log.addHandler(keep)
    yield records
    for log in loggers.values():
        log.removeHandler(keep)


# -- the WebSocket Origin ----------------------------------------------------------------------


class CookieLikeUsers(TokenUsers):
    """Users from a header, but treated as a browser's cookie login is: jupyter_server then
    checks the Origin of their WebSockets (it skips the check for token logins)."""

    def is_token_authenticated(self, handler) -> bool:
        return False


@pytest.mark.parametrize(
    "jp_server_config", [{"identity_provider_class": CookieLikeUsers}], indirect=True
)
async def test_a_foreign_origin_is_refused_before_the_job_is_looked_up(
    bumps_ext, jp_ws_fetch, jp_server_config
):
    """Before: the handler looked the job up in Redis first, so a foreign page learned
    whether a job id exists (404) or not (403 later)."""
    unknown = uuid.uuid4().hex
    user = auth(f"carol-{unknown[:6]}")
    for path in (("jobs", unknown, "events"), ("events",)):
        with pytest.raises(HTTPClientError) as refusal:
            await jp_ws_fetch(*API, *path, headers={**user, "Origin": "http://evil.example"})
        assert refusal.value.code == 403, path
    # from the server's own origin the same request reaches the lookup
    with pytest.raises(HTTPClientError) as missing:
        await jp_ws_fetch(*API, "jobs", unknown, "events", headers=user)
    assert missing.value.code == 404


@pytest.fixture
def jp_server_config(jp_server_config, request):
    """conftest's server config, plus `ServerApp` traits from indirect parametrization."""
    extra = getattr(request, "param", {})
    return {**jp_server_config, "ServerApp": {**jp_server_config["ServerApp"], **extra}}


# -- c.BumpsRemote.owner -----------------------------------------------------------------------


class TestAConfiguredOwner:
    """Servers that share one OS user each set their own owner; the setting wins over the
    identity provider's users too."""

    @pytest.fixture
    def extension_config(self, extension_config):
        return {**extension_config, "owner": f"team-{uuid.uuid4().hex[:8]}"}

    @pytest.mark.parametrize(
        "jp_server_config", [{"identity_provider_class": TokenUsers}], indirect=True
    )
    async def test_every_job_belongs_to_the_configured_owner(
        self, bumps_ext, jp_fetch, extension_config, payload
    ):
        owner = extension_config["owner"]
        alice, bob = Api(jp_fetch, auth("alice")), Api(jp_fetch, auth("bob"))
        body = {"payload": payload, "fitter": "lm"}
        job = await alice.json("POST", "jobs", body=body, expect=201)
        assert job["owner"] == owner
        # bob is the same owner here: the operator chose one owner for this server
        assert (await bob.json("GET", "jobs", job["id"], expect=200))["owner"] == owner


@pytest.mark.parametrize("bad", ["  padded", "a\nb", "x" * 201])
def test_a_configured_owner_must_be_a_plain_name(bad):
    with pytest.raises(TraitError, match="c.BumpsRemote.owner"):
        BumpsRemote(owner=bad)
    assert BumpsRemote(owner="team-a").owner == "team-a"
    assert BumpsRemote().owner == ""
