"""Two users of a real JupyterHub (tests/hub/conftest.py), each server fenced into its own
Redis user by `fence_users`, one shared worker: each user submits and watches fits from
their own server (REST API, `%bumps_remote`, the Python API, the sidebar in a browser behind
the hub's base URL) and sees only their own. Then A, as A's OS user, goes after B's jobs
from a notebook cell, from a terminal and from a fit's model: every try meets its refusal
(NOPERM, 404, 403, EACCES, no network), its twin on A's own data goes through, and B's
jobs, results, events and queued message are byte-for-byte what they were. Last, a stopped
server's Redis URL is refused (the test spawns A's server again, its kernel gone)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
import redis
import requests
import websocket
from playwright.sync_api import expect

from jupyter_bumps_remote.shared import jobs, transport, versions
from jupyter_bumps_remote.shared.settings import DEFAULT_QUEUE_PREFIX
from jupyter_bumps_remote.store import Keys

from ..support.browser import open_sidebar
from ..support.hub import HubUser
from ..support.hub_probes import URL_VARIABLE
from ..support.problems import gaussian_problem
from ..support.talking_models import found
from ..support.waiting import wait_until

SETUP = """\
%load_ext jupyter_bumps_remote
import json, os
import jupyter_bumps_remote as remote
from tests.support.problems import gaussian_problem
problem = gaussian_problem()
"""
# a job no worker serves (another Python), kept queued: B's message in a Celery queue
STUCK_PYTHON = "3.10.2"
JOB_LINE = re.compile(r"^JOB (\S+) (\S+)$", re.M)


def letter(user: HubUser, users: tuple[HubUser, HubUser]) -> str:
    return "a" if user is users[0] else "b"


def job_line(out: dict) -> tuple[str, str]:
    """The `JOB <id> <status>` line a cell printed."""
    assert out["status"] == "ok", out
    match = JOB_LINE.search(out["text"])
    assert match, out["text"]
    return match.group(1), match.group(2)


def rest_submit(user: HubUser, name: str, **fields) -> dict:
    payload = transport.encode(gaussian_problem())
    if fields.pop("stuck", False):
        payload = {**payload, "environment": {**payload["environment"], "python": STUCK_PYTHON}}
    body = {"payload": payload, "fitter": "lm", "name": name, **fields}
    made = user.api("POST", "jobs", json=body)
    assert made.status_code == 201, made.text
    return made.json()


def rest_wait(user: HubUser, job_id: str, timeout: float = 120) -> dict:
    """The job's record once it has ended (the REST API has no blocking call: polled)."""

    def ended():
        record = user.api("GET", f"jobs/{job_id}").json()
        return record if record["status"] in jobs.TERMINAL else None

    return wait_until(ended, timeout, f"job {job_id} of {user.name} to end", interval=0.2)


@pytest.fixture(scope="module")
def kernels(users):
    """A kernel of each user's server (a notebook's), through the hub's proxy."""
    opened = {}
    try:
        for user in users:
            opened[user.name] = user.kernel()
            setup = opened[user.name].run(SETUP, timeout=120)
            assert setup["status"] == "ok", setup
        yield opened
    finally:
        for kernel in opened.values():
            kernel.close()


@pytest.fixture(scope="module")
def fits(users, kernels):
    """Each user's fits, one by each route, all ended; B also has one that stays queued.
    {user name: {route: job id}}."""
    made: dict[str, dict[str, str]] = {}
    for user in users:
        short = letter(user, users)
        kernel = kernels[user.name]
        rest = rest_submit(user, f"{short}-rest")
        magic = kernel.run(
            f"job = %bumps_remote problem --fitter lm --name {short}-magic --wait\n"
            "print('JOB', job.id, job.status)"
        )
        api = kernel.run(
            f"job = remote.submit(problem, 'lm', name='{short}-api')\n"
            "job.result(timeout=120)\n"
            "print('JOB', job.id, job.status)"
        )
        made[user.name] = {"rest": rest["id"], "magic": job_line(magic)[0], "api": job_line(api)[0]}
        assert rest_wait(user, rest["id"])["status"] == jobs.SUCCEEDED
        assert job_line(magic)[1] == job_line(api)[1] == jobs.SUCCEEDED
    victim = users[1]
    stuck = rest_submit(victim, "b-stuck", stuck=True, wait_for_worker=True)
    made[victim.name]["stuck"] = stuck["id"]
    return made


def test_each_user_submits_and_watches_only_their_own_fits(users, fits, kernels):
    for user, other in (users, users[::-1]):
        listed = user.api("GET", "jobs").json()
        ids = {job["id"] for job in listed["jobs"]}
        assert set(fits[user.name].values()) <= ids, (listed, fits)
        assert not ids & set(fits[other.name].values())
        for job_id in fits[other.name].values():
            assert user.api("GET", f"jobs/{job_id}").status_code == 404
        # the kernel's API lists the same: the user's own jobs, none of the other's
        kernel = kernels[user.name]
        out = kernel.run("print('IDS', json.dumps([j.id for j in remote.list_jobs()]))")
        assert out["status"] == "ok", out
        listed_by_kernel = set(json.loads(out["text"].split("IDS ", 1)[1]))
        assert set(fits[user.name].values()) <= listed_by_kernel
        assert not listed_by_kernel & set(fits[other.name].values())
    # watching: the job's event stream through the proxy's WebSocket, to its end
    a = users[0]
    events = watch(a, fits[a.name]["rest"])
    assert events[-1]["type"] == "status" and events[-1]["data"]["status"] == jobs.SUCCEEDED


def watch(user: HubUser, job_id: str, timeout: float = 60) -> list[dict]:
    """The job's events from its WebSocket (through the hub's proxy), until its terminal
    status."""
    url = user.url.replace("http", "ws", 1) + f"bumps-remote/api/jobs/{job_id}/events"
    ws = websocket.create_connection(url, header=user.headers, timeout=timeout)
    events: list[dict] = []
    try:
        while True:
            message = json.loads(ws.recv())
            events.append(message)
            data = message.get("data") or {}
            if message.get("type") == "status" and data.get("status") in jobs.TERMINAL:
                return events
    finally:
        ws.close()


def test_the_sidebar_behind_the_hub_shows_the_users_own_jobs(hub, users, fits, page):
    for viewer, other in (users, users[::-1]):
        mine, theirs = letter(viewer, users), letter(other, users)
        hub.login(page, viewer.name)
        page.goto(viewer.url + "lab")
        panel = open_sidebar(page)
        expect(panel.get_by_role("status").first).to_have_text("connected")
        for route in ("rest", "magic", "api"):
            row = panel.get_by_role("listitem", name=f"{mine}-{route}", exact=True)
            expect(row).to_contain_text("succeeded")
        if "stuck" in fits[viewer.name]:
            row = panel.get_by_role("listitem", name=f"{mine}-stuck", exact=True)
            expect(row).to_contain_text("queued")
        for route in ("rest", "magic", "api", "stuck"):
            row = panel.get_by_role("listitem", name=f"{theirs}-{route}", exact=True)
            expect(row).to_have_count(0)
        # the other's server, with this user's login: the hub refuses
        refused = page.goto(other.url + "lab")
        assert refused is not None and refused.status == 403, refused and refused.status
        page.goto(hub.url + "hub/logout")


# -- A goes after B's jobs ------------------------------------------------------------------


def victim_keys(hub_store, victim: HubUser, fits, own: HubUser) -> dict[str, str]:
    keys = Keys(hub_store.keys.prefix)
    done = fits[victim.name]["rest"]
    return {
        "record": keys.job(victim.name, done),
        "result": keys.result(victim.name, done),
        "payload": keys.payload(victim.name, fits[victim.name]["stuck"]),
        "session": keys.session(victim.name, done),
        "events": keys.events(victim.name, done),
        "owner_events": keys.owner_events(victim.name),
        "index": keys.index(victim.name),
        "active": keys.active(victim.name),
        "queue": stuck_queue(hub_store),
        "own_scratch": keys.owner(own.name) + "scratch",
    }


def own_keys(hub_store, user: HubUser, fits) -> dict[str, str]:
    keys = Keys(hub_store.keys.prefix)
    done = fits[user.name]["rest"]
    return {
        "record": keys.job(user.name, done),
        "result": keys.result(user.name, done),
        "events": keys.events(user.name, done),
        "index": keys.index(user.name),
    }


def stuck_queue(hub_store) -> str:
    """The Celery queue (a Redis list) that holds B's message no worker takes."""
    payload = transport.encode(gaussian_problem())
    stuck = {**payload["environment"], "python": STUCK_PYTHON}
    name = versions.queue_name(DEFAULT_QUEUE_PREFIX, stuck)
    assert hub_store.redis.llen(name) == 1, name
    return name


def snapshot(hub_store, owner: str) -> dict:
    """Every key of the owner's (DUMP: byte for byte) and the stuck queue's messages. Except
    the wake-up streams of the owner's server (`u:{owner}:hub:{server}`), which it writes to
    itself whenever one of its WebSockets subscribes: the owner's own sidebar."""
    client = hub_store.redis
    lease = re.compile(rb":lease$")
    wake_ups = Keys(hub_store.keys.prefix).hub(owner, "").encode()

    def no_lease():
        return not any(lease.search(k) for k in client.scan_iter(match=owner_pattern(owner)))

    wait_until(no_lease, 30, f"{owner}'s leases released (a run's last write)")
    keys = sorted(client.scan_iter(match=owner_pattern(owner)))
    state = {key: client.dump(key) for key in keys if not key.startswith(wake_ups)}
    state[b"queue"] = client.lrange(stuck_queue(hub_store), 0, -1)
    return state


def owner_pattern(owner: str) -> str:
    return Keys("bumps-remote:").owner(owner) + "*"


def spec_for(hub, hub_store, users, fits) -> dict:
    a, b = users
    return {
        "victim_keys": victim_keys(hub_store, b, fits, a),
        "own_keys": own_keys(hub_store, a, fits),
        "victim_redis_user": "bumps-remote:" + b.name,
        "victim_jobs": [fits[b.name]["rest"], fits[b.name]["stuck"]],
        "server_url": a.url,
        "other_server_url": b.url,
        "pids": {
            "victim_server": b.server_pid(),
            "victim_kernel": kernel_pid(b.server_pid()),
            "own_server": a.server_pid(),
        },
        "paths": {"victim_home": str(b.account.home), "own_home": str(a.account.home)},
    }


def kernel_pid(server: int) -> int:
    """The pid of a kernel the server started (the module's kernels fixture opened one)."""
    children = subprocess.run(["pgrep", "-P", str(server)], capture_output=True, text=True)
    kernels = [
        int(pid)
        for pid in children.stdout.split()
        if b"ipykernel" in open(f"/proc/{pid}/cmdline", "rb").read()
    ]
    assert kernels, f"no kernel under {server}"
    return kernels[0]


def assert_refused(seen: dict, a: HubUser, b: HubUser, fits) -> None:
    """What A met, probe by probe (tests/support/hub_probes.py)."""
    assert seen["uid"] == a.account.uid
    # A's own URL works on A's own keys: the refusals below are the fence, not a dead URL
    assert all(r.startswith("ok") for r in seen["own"].values()), seen["own"]
    assert fits[a.name]["rest"] in seen["own"]["index"]
    for probe, result in seen["redis"].items():
        assert result == "NOPERM", (probe, result)
    assert seen["login_as_victim"] == "WRONGPASS", seen["login_as_victim"]
    rest = seen["rest"]
    for probe, result in rest.items():
        if probe == "list":
            continue
        expected = "http 403" if probe.startswith("other_server") else "http 404"
        assert result == expected, (probe, result)
    assert not any(job_id in rest["list"] for job_id in fits[b.name].values())
    assert fits[a.name]["rest"] in rest["list"]


def test_a_notebook_cell_of_a_cannot_reach_bs_jobs(hub, hub_store, users, fits, kernels):
    a, b = users
    spec = spec_for(hub, hub_store, users, fits)
    before = snapshot(hub_store, b.name)
    out = kernels[a.name].run(
        "from tests.support.hub_probes import probe_all\n"
        f"print('FOUND', json.dumps(probe_all(json.loads({json.dumps(spec)!r}))))"
    )
    assert out["status"] == "ok", out
    seen = json.loads(out["text"].split("FOUND ", 1)[1])
    assert_refused(seen, a, b, fits)
    # a kernel is A's too: A's server's environment is A's to read, B's is not
    processes = seen["processes"]
    assert processes["environ own_server"].startswith("ok"), processes
    assert processes["environ victim_server"] == "PermissionError:EACCES", processes
    assert processes["environ victim_kernel"] == "PermissionError:EACCES", processes
    assert processes["read victim_home"] == "PermissionError:EACCES", processes
    assert snapshot(hub_store, b.name) == before


def run_in_terminal(user: HubUser, command: str, timeout: float = 120) -> str:
    """Type `command` into a new terminal of the user's server (through the proxy), and
    return what it showed until the command ended."""
    created = requests.post(user.url + "api/terminals", headers=user.headers, timeout=30)
    created.raise_for_status()
    name = created.json()["name"]
    url = user.url.replace("http", "ws", 1) + f"terminals/websocket/{name}"
    ws = websocket.create_connection(url, header=user.headers, timeout=timeout)
    shown = ""
    try:
        # the marker is computed by the shell, so the typed line does not already hold it
        ws.send(json.dumps(["stdin", f"{command}; echo TERMINAL-$((40 + 2))-$?\r"]))
        deadline = time.monotonic() + timeout
        while not re.search(r"TERMINAL-42-\d+", shown):
            if time.monotonic() > deadline:
                raise AssertionError(f"the terminal did not finish:\n{shown}")
            message = json.loads(ws.recv())
            if message[0] == "stdout":
                shown += message[1]
        return shown
    finally:
        ws.close()
        requests.delete(user.url + f"api/terminals/{name}", headers=user.headers, timeout=30)


def test_a_terminal_of_a_cannot_reach_bs_jobs_or_bs_server(hub, hub_redis, hub_store, users, fits):
    a, b = users
    spec = spec_for(hub, hub_store, users, fits)
    a.account.write("probe-in.json", json.dumps(spec))
    output = a.account.home / "probe-out.json"
    output.unlink(missing_ok=True)
    before = snapshot(hub_store, b.name)
    # the venv's python by its path: a terminal's bash is a login shell, whose profile sets
    # PATH anew (the rest of the server's environment stays)
    probe = f"{sys.executable} -m tests.support.hub_probes probe-in.json probe-out.json"
    shown = run_in_terminal(a, probe)
    assert output.exists(), shown
    seen = json.loads(output.read_text())
    assert_refused(seen, a, b, fits)
    processes = seen["processes"]
    assert processes["environ own_server"].startswith("ok"), processes
    assert processes["environ victim_server"] == "PermissionError:EACCES", processes
    assert processes["environ victim_kernel"] == "PermissionError:EACCES", processes
    assert processes["read victim_home"] == "PermissionError:EACCES", processes
    assert processes["read own_home"].startswith("ok"), processes
    # what the terminal's user could read: A's URL, not B's nor the admin's
    server_env = read_environ(spec["pids"]["own_server"])
    assert a.name in server_env[URL_VARIABLE] and b.name not in server_env[URL_VARIABLE]
    assert hub.admin_url not in json.dumps(server_env)
    assert hub_redis.url not in json.dumps(server_env)  # the workers' URL
    assert snapshot(hub_store, b.name) == before


def read_environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item]
    return {k.decode(): v.decode() for k, v in pairs}


class OwnerEvents:
    """A job's events as `talking_models.found` reads them, from the admin's store."""

    def __init__(self, store, owner: str):
        self.store, self.owner = store, owner

    def events(self, job_id: str, since: str = "0") -> list[dict]:
        return self.store.events(self.owner, job_id, since)


def test_a_hostile_model_of_a_cannot_reach_bs_jobs(hub, hub_redis, hub_store, users, fits, kernels):
    a, b = users
    before = snapshot(hub_store, b.name)
    keys = [key.decode() for key in before if key != b"queue"]
    globals_ = {
        "VICTIM_OWNER": b.name,
        "VICTIM_JOB": fits[b.name]["rest"],
        "VICTIM_KEYS": keys,
        "REDIS_PORT": hub_redis.port,
        "REDIS_SOCKET": "/nonexistent/redis.sock",
        "JUPYTER_PORT": hub.port,
    }
    # the model carries A's own Redis URL too (REAL_URL): it must lead nowhere from a fit
    out = kernels[a.name].run(
        "from tests.support.hostile_models import hostile_model_problem\n"
        f"attack = hostile_model_problem('owner_keys', REAL_URL=os.environ[{URL_VARIABLE!r}],"
        f" **json.loads({json.dumps(globals_)!r}))\n"
        "job = remote.submit(attack, 'lm', name='a-hostile')\n"
        "job.result(timeout=180)\n"
        "print('JOB', job.id, job.status)",
        timeout=300,
    )
    job_id, status = job_line(out)
    assert status == jobs.SUCCEEDED  # it only looked, and reported
    seen = found(OwnerEvents(hub_store, a.name), job_id)
    assert seen["uid"] not in (0, a.account.uid)
    assert seen["tcp"] == "ConnectionRefusedError:ECONNREFUSED", seen["tcp"]
    assert seen["jupyter"] == "ConnectionRefusedError:ECONNREFUSED", seen["jupyter"]
    assert seen["real_url_seen"], seen  # A's URL was there to use
    assert seen["urls"] and all(not r.startswith("ok") for r in seen["urls"].values()), seen
    assert all(not r.startswith("ok") for r in seen["objects"].values()), seen["objects"]
    assert snapshot(hub_store, b.name) == before


def test_a_stopped_servers_url_reaches_nothing_and_a_new_spawn_gets_a_new_one(hub, users):
    a = users[0]
    old = read_environ(a.server_pid())[URL_VARIABLE]
    assert redis.Redis.from_url(old).ping()
    stopped = hub.api("DELETE", f"users/{a.name}/server")
    assert stopped.status_code in (202, 204), stopped.text

    def gone() -> bool:
        return "" not in hub.api("GET", f"users/{a.name}").json()["servers"]

    wait_until(gone, 60, f"{a.name}'s server stopped")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(old).ping()
    hub.spawn(a.name)  # the module's other tests may run after this one
    new = read_environ(a.server_pid())[URL_VARIABLE]
    assert new != old and redis.Redis.from_url(new).ping()
