"""Hostile models through the real stack (docs/reliability.md#22-hostile-problems): a model
function, travelling by value as a notebook's does, attacks from inside its fit process on a
worker started as root (so that the fit sandbox applies), submitted by one owner through a
real Jupyter server that another owner shares. Each attack finds nothing or is stopped; the
job ends with a status and a reason its user can understand; the next fit on the same
worker completes.

The Redis is reached as the embedded one is, on a unix socket in a 0700 directory (outside
/tmp, which a fit's mount namespace would hide anyway), and also listens on loopback TCP as
a shared one does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from jupyter_bumps_remote.shared import jobs, transport
from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.store import JobStore, Keys

from ..conftest import Remote
from ..support.hostile_models import hostile_model_problem
from ..support.identity import auth
from ..support.problems import gaussian_problem
from ..support.services import JupyterServer, RedisServer, Worker
from ..support.talking_models import found
from ..support.waiting import alive, wait_until

# The fork bomb's limit: per fit, since each fit has a user of its own
MAX_PROCESSES = 40
# a job's time on a loaded 2-CPU machine, many times over: a fork bomb's job ran past 60 s
# once, on a machine at load 12 (other test runs in parallel)
JOB_TIMEOUT = 180


@dataclass
class Site:
    redis: RedisServer
    socket_path: str
    url: str
    worker: Worker
    server: JupyterServer
    store: JobStore

    def remote(self, owner: str) -> Remote:
        """The owner's jobs as the test's own Redis client reads them."""
        return Remote(self.store, None, owner)

    def submit(self, owner: str, problem) -> str:
        body = {"payload": transport.encode(problem), "fitter": "lm"}
        answer = requests.post(
            self.server.url + "bumps-remote/api/jobs", json=body, headers=auth(owner), timeout=60
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def record(self, owner: str, job_id: str, wait: float = 0) -> dict:
        """The job as its owner's notebook sees it (GET jobs/{id}, `wait` s for its end)."""
        answer = requests.get(
            self.server.url + f"bumps-remote/api/jobs/{job_id}",
            params={"wait": wait} if wait else None,
            headers=auth(owner),
            timeout=wait + 30,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def finished(self, owner: str, job_id: str) -> dict:
        record = wait_until(
            lambda: (r := self.record(owner, job_id, wait=10))["status"] in jobs.TERMINAL and r,
            JOB_TIMEOUT,
            f"job {job_id} to end",
        )
        return record

    def run(self, owner: str, problem) -> tuple[str, dict]:
        job_id = self.submit(owner, problem)
        return job_id, self.finished(owner, job_id)

    def next_fit_completes(self, owner: str) -> None:
        _, record = self.run(owner, gaussian_problem())
        assert record["status"] == jobs.SUCCEEDED, record
        assert self.worker.process is not None and self.worker.process.poll() is None


def socket_directory() -> str:
    """A 0700 directory for Redis' socket that a fit sees (/run), as the embedded Redis'
    socket lies under the Jupyter runtime directory; /tmp where /run is not writable."""
    try:
        return tempfile.mkdtemp(prefix="bumps-remote-hostile-", dir="/run")
    except OSError:
        return tempfile.mkdtemp(prefix="bumps-remote-hostile-")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the fit sandbox applies in full to a worker started as root")
    directory = socket_directory()
    socket_path = os.path.join(directory, "redis.sock")
    redis_server = RedisServer(appendonly=False)
    redis_server.extra += ["--unixsocket", socket_path, "--unixsocketperm", "700"]
    redis_server.start()
    url = f"unix://{socket_path}"
    worker = Worker(
        url,
        concurrency=1,
        env={"BUMPS_REMOTE_MAX_PROCESSES": str(MAX_PROCESSES)},
    )
    server = JupyterServer(
        tmp_path_factory.mktemp("hostile-server"),
        args=[
            f"--BumpsRemote.redis_url={url}",
            "--ServerApp.identity_provider_class=tests.support.identity.TokenUsers",
        ],
    )
    settings = WorkerSettings.from_env({}, redis_url=url)
    store = JobStore(redis_server.client(), **settings.store_settings())
    try:
        worker.start()
        server.start()
        yield Site(redis_server, socket_path, url, worker, server, store)
    finally:
        # the test's identity provider knows the users, not the server's token
        with contextlib.suppress(requests.RequestException):
            requests.post(server.url + "api/shutdown", headers=auth("admin"), timeout=5)
        server.stop()
        worker.stop()
        redis_server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


def owner_name(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:8]}"


def owner_keys(site: Site, owner: str) -> dict[bytes, bytes | None]:
    """Every key of the owner's namespace, serialized by Redis (DUMP): byte-for-byte. Except
    the wake-up streams of the owner's servers (`u:{owner}:hub:{server}`), which a server
    writes to itself whenever one of its WebSockets subscribes: the attacker's own panel."""
    client = site.redis.client()
    keys = Keys(site.store.keys.prefix)
    wake_ups = keys.hub(owner, "").encode()
    return {
        key: client.dump(key)
        for key in sorted(client.scan_iter(match=keys.owner(owner) + "*"))
        if not key.startswith(wake_ups)
    }


def refused(result: str) -> bool:
    """An attempt that failed before reaching anything: no connection, no permission."""
    return not result.startswith("ok")


def test_another_owners_keys_are_out_of_reach_by_every_route(site):
    victim, attacker = owner_name("alice"), owner_name("mallory")
    victim_job, record = site.run(victim, gaussian_problem())
    assert record["status"] == jobs.SUCCEEDED, record
    # her file, built on request through her server (a fit's file is: docs/design.md)
    answer = requests.get(
        site.server.url + f"bumps-remote/api/jobs/{victim_job}/session.h5",
        headers=auth(victim),
        timeout=90,
    )
    assert answer.status_code == 200, answer.text
    lease = Keys(site.store.keys.prefix).lease(victim, victim_job)
    client = site.redis.client()
    wait_until(lambda: not client.exists(lease), 30, "her job's lease released (its last write)")
    before = owner_keys(site, victim)
    assert any(key.endswith(b":session") for key in before), list(before)
    attack = hostile_model_problem(
        "owner_keys",
        VICTIM_OWNER=victim,
        VICTIM_JOB=victim_job,
        VICTIM_KEYS=[key.decode() for key in before],
        REDIS_PORT=site.redis.port,
        REDIS_SOCKET=site.socket_path,
        REAL_URL=site.url,
        JUPYTER_PORT=site.server.port,
    )
    job_id, record = site.run(attacker, attack)
    assert record["status"] == jobs.SUCCEEDED, record  # it only looked, and reported
    seen = found(site.remote(attacker), job_id)
    assert seen["uid"] != 0
    # no route: loopback TCP is another network's, the socket's directory is closed to it
    assert seen["tcp"] == "ConnectionRefusedError:ECONNREFUSED", seen["tcp"]
    assert seen["unix"] == "PermissionError:EACCES", seen["unix"]
    assert seen["jupyter"] == "ConnectionRefusedError:ECONNREFUSED", seen["jupyter"]
    # the parent's /proc entries are hidden; the objects and URLs it finds lead nowhere
    assert seen["url_places"]["parent_argv"] == "FileNotFoundError:ENOENT", seen["url_places"]
    assert seen["url_places"]["parent_environ"] == "FileNotFoundError:ENOENT"
    assert all(refused(r) for r in seen["objects"].values()), seen["objects"]
    assert seen["urls"] and all(refused(r) for r in seen["urls"].values()), seen["urls"]
    if seen["real_url_seen"]:  # the worker's own URL, left in the memory its fork copied
        assert "Permission denied" in seen["urls"][site.url], seen["urls"][site.url]
    # the pipe up to its pool process leads to its own job only
    assert seen["forged_frame"].startswith("ok"), seen["forged_frame"]
    forged = [
        e["data"] for e in site.remote(attacker).events(job_id) if e["data"].get("owner") == victim
    ]
    assert [(e["job_id"], e["step"]) for e in forged] == [(victim_job, 1)], forged
    assert owner_keys(site, victim) == before
    assert site.record(victim, victim_job)["status"] == jobs.SUCCEEDED
    site.next_fit_completes(attacker)


def worker_children(main: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(main)], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def test_the_worker_cannot_be_signalled(site):
    main = site.worker.process.pid
    serving = [main, *worker_children(main)]  # its pool process
    attack = hostile_model_problem("signal_worker", WORKER_PIDS=serving)
    owner = owner_name("mallory")
    job_id, record = site.run(owner, attack)
    assert record["status"] == jobs.SUCCEEDED, record
    seen = found(site.remote(owner), job_id)
    assert seen["uid"] != 0
    assert seen["kill"] and set(seen["kill"].values()) == {"PermissionError:EPERM"}, seen["kill"]
    for how in ("killpg", "pidfd", "ptrace"):
        assert seen[how] == "PermissionError:EPERM", (how, seen[how])
    assert seen["parent_memory"] == "FileNotFoundError:ENOENT", seen["parent_memory"]
    assert seen["may_signal"] == [], seen["may_signal"]  # no process but itself
    assert len(seen["visible"]) == 1, seen["visible"]  # /proc shows itself only
    assert seen["parent"] in serving
    assert all(alive(pid) for pid in serving)
    site.next_fit_completes(owner)


@pytest.fixture
def listeners():
    """A TCP listener on every address, a UDP socket on loopback and an abstract unix
    socket: where a fit with the host's network could reach the test."""
    tcp = socket.create_server(("0.0.0.0", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    abstract_name = f"bumps-remote-hostile-{uuid.uuid4().hex}"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + abstract_name)
    abstract.listen()
    for s in (tcp, udp, abstract):
        s.setblocking(False)
    yield tcp, udp, abstract, abstract_name
    for s in (tcp, udp, abstract):
        s.close()


def host_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: routed, never answered
            return s.getsockname()[0]
        except OSError:
            return None


def test_no_network_connection_leaves_the_fit(site, listeners):
    tcp, udp, abstract, abstract_name = listeners
    port = tcp.getsockname()[1]
    targets = [["jupyter", "127.0.0.1", site.server.port], ["listener", "127.0.0.1", port]]
    if (address := host_address()) is not None:
        targets.append(["host_address", address, port])
    attack = hostile_model_problem(
        "network",
        TCP_TARGETS=targets,
        UDP_TARGET=list(udp.getsockname()),
        ABSTRACT_NAME=abstract_name,
    )
    owner = owner_name("mallory")
    job_id, record = site.run(owner, attack)
    assert record["status"] == jobs.SUCCEEDED, record
    seen = found(site.remote(owner), job_id)
    assert seen["interfaces"] == ["lo"], seen["interfaces"]
    assert seen["tcp"]["jupyter"] == "ConnectionRefusedError:ECONNREFUSED", seen["tcp"]
    assert seen["tcp"]["listener"] == "ConnectionRefusedError:ECONNREFUSED", seen["tcp"]
    if address is not None:
        assert seen["tcp"]["host_address"] == "OSError:ENETUNREACH", seen["tcp"]
    assert seen["udp"] == "ok: 5", seen["udp"]  # sent into its own loopback: see below
    assert seen["abstract_unix"] == "ConnectionRefusedError:ECONNREFUSED", seen["abstract_unix"]
    assert refused(seen["dns"]), seen["dns"]
    # nothing arrived at the test's side
    for s in (tcp, udp, abstract):
        with pytest.raises(BlockingIOError):
            s.recvfrom(64) if s is udp else s.accept()
    site.next_fit_completes(owner)


def test_filling_the_temporary_directory_fails_the_job_naming_the_cause(site):
    owner = owner_name("mallory")
    job_id, record = site.run(owner, hostile_model_problem("fill_tmp"))
    seen = found(site.remote(owner), job_id)
    assert seen["tmp"] == seen["home"] == "/tmp", seen
    assert 0 < seen["size_mb"] <= 1024, seen
    assert record["status"] == jobs.FAILED, record
    text = f"{record['error']['type']}: {record['error']['message']}"
    assert text.startswith("OSError: [Errno 28] No space left on device"), text
    assert f"{seen['size_mb']} MB" in text, text
    site.next_fit_completes(owner)


def fit_user_processes(uid: int) -> list[int]:
    """Live processes of the fit's user (its uid is its own: no other process has it)."""
    found_pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        line = next(x for x in status.splitlines() if x.startswith("Uid:"))
        if int(line.split()[1]) == uid and alive(int(entry.name)):
            found_pids.append(int(entry.name))
    return found_pids


def fork_bomb_fails(site: Site, owner: str, leave_session: bool) -> int:
    """Run a fork bomb; check how its job ended; return its user's uid."""
    attack = hostile_model_problem("fork_bomb", LEAVE_SESSION=leave_session)
    job_id, record = site.run(owner, attack)
    seen = found(site.remote(owner), job_id)
    assert seen["nproc"] == MAX_PROCESSES, seen
    assert record["status"] == jobs.FAILED, record
    text = f"{record['error']['type']}: {record['error']['message']}"
    assert text.startswith("BlockingIOError"), text
    assert f"process limit of its user ({MAX_PROCESSES} processes" in text, text
    assert "BUMPS_REMOTE_MAX_PROCESSES" in text, text
    return seen["uid"]


def test_a_fork_bomb_is_stopped_at_the_process_limit_and_removed(site):
    owner = owner_name("mallory")
    uid = fork_bomb_fails(site, owner, leave_session=False)
    # its children never exit by themselves: killed with the fit's process group
    wait_until(lambda: not fit_user_processes(uid), 30, "no process of the fit's user")
    site.next_fit_completes(owner)


def test_a_fork_bomb_that_leaves_the_fits_session_is_removed(site):
    owner = owner_name("mallory")
    uid = fork_bomb_fails(site, owner, leave_session=True)
    try:
        # the next fit starts once the pool process has done with the bomb's leftovers
        site.next_fit_completes(owner)
        assert fit_user_processes(uid) == []
    finally:
        kill_user(uid)


def kill_user(uid: int) -> None:
    """SIGKILL every process of a fit's user at once, as that user: kill(-1) signals all the
    caller may signal in one pass, which a fork cannot race."""
    assert uid >= 1_000_000_000, uid  # a fit's own user, never root nor a person
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    wait_until(lambda: not fit_user_processes(uid), 30, f"no process of uid {uid} left")
