"""Workers on other hosts (docs/cluster.md#workers-on-other-hosts,
docs/reliability.md#24-a-workers-link-cut-mid-fit): Redis, the Jupyter server and two
workers each on a host of its own (network namespaces on one switch, tests/support/netns.py),
Redis reached over TLS only with an ACL user, every side given the same `rediss://` URL.
A fit runs end to end; then the link of the worker that runs a fit is cut (its switch port
down) and brought back up:

- until the server sees a beat missed, which is shorter than the lapse after which a worker
  counts as lost (`LOST_AFTER`): the fit goes on there, as the same attempt;
- until the worker counts as lost: the job is queued again, the other worker runs it as
  attempt 2, and the first run stops once it learns it lost the job.

Either way, as after a Redis restart (docs/reliability.md#7-redis-restarted-with-aof), the
fit ends `succeeded` with its result, never two runs at once, and the workers take fits
again within `RESUME`.
"""

from __future__ import annotations

import contextlib
import re
import time

import pytest

from jupyter_bumps_remote.shared import jobs, transport
from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.store import JobStore

from ..support.netns import SUBNET, Host, Network, require_netns
from ..support.problems import gaussian_problem
from ..support.services import JupyterServer, RedisServer, TLSFiles, Worker
from ..support.waiting import wait_until

USER, PASSWORD = "bumps", "netns-Pa55-" + "x7"
HEARTBEAT = 3.0
LOST_AFTER = 3 * HEARTBEAT  # WorkerSettings.worker_lost_after
OVERDUE = 1.5 * HEARTBEAT  # a beat missed: the cut has taken hold
SETTINGS = {
    "heartbeat_interval": HEARTBEAT,
    "time_limit": 600,
    "soft_time_limit": 590,
    "visibility_timeout": 3600,  # not what brings a cut-short fit back (the sweeps are)
}
SLOW_FIT = {"fitter": "dream", "options": {"steps": 100, "burn": 0}}  # about 8 s alone
SLOW_MODEL = {"model": "slow_gaussian", "DELAY": 0.002}
SERVER_TRAITS = ("time_limit", "soft_time_limit", "visibility_timeout")
RESUME = 60  # as after a Redis restart: workers consume again within 60 s
UP = 120  # the worker and the server start, on a loaded 2-core machine


def env_of(settings: dict) -> dict[str, str]:
    return {f"BUMPS_REMOTE_{k.upper()}": str(v) for k, v in settings.items()}


class Site:
    """Redis, the Jupyter server and two workers, each on a host of its own; the test talks
    to the Jupyter server from the server's host (as a browser on it would)."""

    def __init__(self, network: Network, tmp_path, stack: contextlib.ExitStack):
        self.redis_host = network.host("redis")
        self.server_host = network.host("server")
        self.worker_hosts = [network.host("worker-a"), network.host("worker-b")]
        tls = TLSFiles(tmp_path, hosts=(self.redis_host.address,))
        self.redis = RedisServer(
            appendonly=True, user=USER, password=PASSWORD, tls=tls, host=self.redis_host.address
        )
        stack.callback(self.redis_host.call, self.redis.cleanup)
        self.redis_host.call(self.redis.start)
        self.url = self.redis.url  # the one URL every side is given
        env = env_of(SETTINGS)
        # as `bumps-remote worker` runs by default (mingle and gossip on)
        self.workers = [Worker(self.url, concurrency=1, env=env, celery_args=()) for _ in "ab"]
        self.server = JupyterServer(
            tmp_path / "server",
            env=env,
            args=[
                f"--BumpsRemote.redis_url={self.url}",
                "--BumpsRemote.reconcile_interval=1",
                *(f"--BumpsRemote.{k}={v}" for k, v in SETTINGS.items() if k in SERVER_TRAITS),
            ],
        )
        for host, worker in zip(self.worker_hosts, self.workers, strict=True):
            stack.callback(host.call, worker.stop)
        stack.callback(self.server_host.call, self.server.stop)
        pairs = zip(self.worker_hosts, self.workers, strict=True)
        starting = [host.submit(worker.start, UP) for host, worker in pairs]
        starting.append(self.server_host.submit(self.server.start, UP))
        for started in starting:
            started.result()
        settings = WorkerSettings.from_env(env, redis_url=self.url)
        self.store = JobStore(self.redis.client(), **settings.store_settings())

    def api(self, method: str, path: str, **kwargs):
        return self.server_host.call(self.server.api, method, path, **kwargs)

    def submit(self, problem, fitter: str = "lm", options: dict | None = None) -> dict:
        body = {"payload": transport.encode(problem), "fitter": fitter, "options": options or {}}
        created = self.api("POST", "jobs", json=body)
        assert created.status_code == 201, created.text
        return created.json()

    def job(self, job_id: str) -> dict:
        response = self.api("GET", f"jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def ended(self, job_id: str, timeout: float) -> dict:
        try:
            return wait_until(
                lambda: (r := self.job(job_id))["status"] in jobs.TERMINAL and r,
                timeout,
                f"job {job_id} to end",
                interval=0.2,
            )
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.logs()}") from None

    def advertised(self) -> list[dict]:
        response = self.api("GET", "workers")
        assert response.status_code == 200, response.text
        return response.json()["workers"]

    def story(self, owner: str, job_id: str) -> list[tuple[str | None, int | None]]:
        """The job's events as (status, step), read from Redis on the server's host."""
        events = self.server_host.call(self.store.events, owner, job_id)
        return [(e["data"].get("status"), e["data"].get("step")) for e in events]

    def runs(self, record: dict) -> tuple[Host, Worker]:
        """The host and worker that run the job `record` (by its worker's advertised pid)."""
        (pid,) = [w["pid"] for w in self.advertised() if w["name"] == record["worker"]]
        (i,) = [i for i, w in enumerate(self.workers) if w.process.pid == pid]
        return self.worker_hosts[i], self.workers[i]

    def logs(self) -> str:
        return "".join(
            f"--- {name}\n{log.read_text()[-4000:]}\n"
            for name, log in [
                *((f"worker {w.process.pid}", w.log) for w in self.workers),
                ("server", self.server.log),
            ]
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_netns()
    with contextlib.ExitStack() as stack:
        network = stack.enter_context(Network())
        site = Site(network, tmp_path_factory.mktemp("other-hosts"), stack)
        # every host reaches only the others: no route beyond the switch's subnet
        for host in network.hosts:
            routes = host.routes()
            assert all(" dev eth0 " in r or " dev lo " in r for r in routes), routes
            assert f"{SUBNET}.0/24 dev eth0 proto kernel scope link src {host.address}" in routes
            assert not [r for r in routes if r.startswith("default")], routes
        yield site


def test_a_fit_runs_end_to_end_and_a_link_cut_within_a_workers_lifetime_is_ridden_out(site):
    s = site
    assert s.url.startswith(f"rediss://{USER}:") and f"@{s.redis_host.address}:" in s.url
    wait_until(lambda: len(s.advertised()) == 2, UP, "both workers in GET workers")
    quick = s.submit(gaussian_problem())
    record = s.ended(quick["id"], RESUME)
    assert record["status"] == jobs.SUCCEEDED, record
    result = s.api("GET", f"jobs/{quick['id']}/result")
    assert result.status_code == 200 and result.json()["chisq"] > 0, result.text

    # cut until a beat is missed (shorter than a worker's lifetime): the fit goes on there,
    # once, and the job is not queued again
    record, story, cut_off = cut_mid_fit(s, lapse=False)
    assert [status for status, _ in story if status] == ["queued", "running", "succeeded"]
    assert record["attempt"] == 1 and s.runs(record)[1] is cut_off
    assert steps_after_last_start(story) == sorted(steps_after_last_start(story)), story
    requeued = f"job {record['id']} of {record['owner']} is queued again"
    assert requeued not in s.server.log.read_text()
    wait_until(lambda: task_end(cut_off, record["id"]), RESUME, "the task's end")
    assert [task_end(w, record["id"]) for w in s.workers if w is not cut_off] == [None]
    assert task_end(cut_off, record["id"]) == "done", s.logs()


def test_a_link_cut_past_a_workers_lifetime_hands_its_fit_to_another_worker(site):
    s = site
    wait_until(lambda: len(s.advertised()) == 2, UP, "both workers in GET workers")
    # cut until the worker counts as lost: the job is queued again, the other worker takes
    # it over; the first run, back on the network, stops and records nothing
    record, story, cut_off = cut_mid_fit(s, lapse=True)
    job_id = record["id"]
    assert [status for status, _ in story if status] == [
        "queued",
        "running",
        "running",
        "succeeded",
    ], story
    assert record["attempt"] == 2
    taker = s.runs(record)[1]
    assert taker is not cut_off

    def ends() -> dict[str, str]:
        return {w.log.name: outcome for w in s.workers if (outcome := task_end(w, job_id))}

    try:  # each worker ran it once: how did each run end?
        wait_until(lambda: len(ends()) == 2, RESUME, "both runs' ends")
    except AssertionError as e:
        raise AssertionError(f"{e}: {ends()}\n{s.logs()}") from None
    first, second = task_end(cut_off, job_id), task_end(taker, job_id)

    # both workers take fits again: two at once, one on each
    both = [
        s.submit(gaussian_problem(**SLOW_MODEL), "dream", {"steps": 20, "burn": 0})
        for _ in range(2)
    ]
    ran = {s.ended(job["id"], RESUME)["worker"] for job in both}
    assert ran == {w["name"] for w in s.advertised()} and len(ran) == 2, ran

    # the first run, back on the network, writes on until its lease keeper learns it lost the
    # job (its request waits out TCP's retransmission backoff): the store refuses all of it,
    # since another run holds the job (docs/reliability.md#24-a-workers-link-cut-mid-fit)
    steps = steps_after_last_start(story)
    assert steps == sorted(steps), f"the superseded run's progress came through: {steps}"
    assert (first, second) == ("superseded", "done"), s.logs()


def task_end(worker: Worker, task_id: str) -> str | None:
    """How the worker's run of the fit task `task_id` ended: what it returned, or the
    exception it raised; None while it has not ended."""
    found = re.search(
        rf"Task bumps_remote\.fit\[{task_id}\] "
        rf"(?:succeeded in [\d.e-]+s: '(\w+)'|raised unexpected: (.*))",
        worker.log.read_text(),
    )
    return found and (found.group(1) or f"raised {found.group(2)}")


def steps_after_last_start(story: list) -> list[int]:
    """The progress steps after the job's last start: they only grow unless another run's
    events interleave (never two runs at once)."""
    last_start = max(i for i, (status, _) in enumerate(story) if status == "running")
    return [step for _, step in story[last_start:] if step is not None]


def cut_mid_fit(s: Site, lapse: bool):
    """A slow fit, its worker's link cut once it runs and restored when the cut has taken
    hold: a beat missed, or (`lapse`) the worker counted lost and the job taken over by the
    other. The job's record and story (status, step) once it has ended, and the worker
    that was cut off."""
    job = s.submit(gaussian_problem(**SLOW_MODEL), SLOW_FIT["fitter"], SLOW_FIT["options"])
    owner, job_id = job["owner"], job["id"]
    first = wait_until(
        lambda: (r := s.job(job_id)).get("progress") and r, RESUME, "the slow fit's progress"
    )
    host, worker = s.runs(first)
    name = first["worker"]

    def beat() -> float:
        return next((w["seen"] for w in s.advertised() if w["name"] == name), 0.0)

    host.cut()
    cut = time.time()
    assert host.link_state() != "UP"
    if lapse:
        # its heartbeat lapses; the server queues the job again; the other worker takes it
        wait_until(lambda: not beat(), 3 * LOST_AFTER, "the worker counted lost", interval=0.1)
        wait_until(
            lambda: (r := s.job(job_id))["attempt"] == 2 and r["progress"],
            RESUME,
            "the other worker's run",
        )
    else:
        # the cut takes hold: its beats stop reaching Redis
        wait_until(
            lambda: time.time() - beat() > OVERDUE, LOST_AFTER, "a missed beat", interval=0.1
        )
    during = s.job(job_id)
    host.restore()
    restored = time.time()
    print(f"\nlink down {restored - cut:.1f} s (lost after {LOST_AFTER:g} s without a beat)")
    assert during["status"] == jobs.RUNNING, during

    wait_until(lambda: beat() > restored, RESUME, "the cut-off worker beating again")
    print(f"beats again {time.time() - restored:.1f} s after")
    record = s.ended(job_id, RESUME)
    story = s.story(owner, job_id)
    assert record["status"] == jobs.SUCCEEDED, (record.get("error"), story, s.logs())
    result = s.api("GET", f"jobs/{job_id}/result")
    assert result.status_code == 200, result.text
    return record, story, worker
