"""docs/reliability.md#23-a-dead-workers-job-is-back-within-a-minute: a worker's main process
SIGKILLed mid-fit (the OOM killer, a lost node) has its job queued again once its heartbeat
lapses, a worker's lifetime after its last beat (`heartbeat_interval` × 3, scaled down here
from 30 s to 6 s), not after kombu's visibility timeout (kept at an hour here, so it cannot
be what brings the job back). The job then completes on another worker as attempt 2, and its
two runs never overlap. In embedded mode the server also restarts the worker that died."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from jupyter_bumps_remote.shared import jobs, transport
from jupyter_bumps_remote.shared.settings import DEFAULT_PREFIX, DEFAULT_QUEUE_PREFIX

from ..support.embedded_processes import our_processes
from ..support.job_executions import task_returns
from ..support.lost_workers import advertised_pid, wait_for_requeue
from ..support.problems import gaussian_problem
from ..support.services import JupyterServer, RedisServer, Worker
from ..support.waiting import wait_gone, wait_until
from .conftest import SUPPORT, kill_worker_main
from .site import SLOW_FIT, SLOW_MODEL, env_of, sites

HEARTBEAT = 2.0
LOST_AFTER = 3 * HEARTBEAT  # WorkerSettings.worker_lost_after
BOUND = 3 * LOST_AFTER  # from the kill to the job back on its queue, on loaded CPUs
SETTINGS = {
    "heartbeat_interval": HEARTBEAT,
    "time_limit": 600,
    "soft_time_limit": 590,
    "visibility_timeout": 3600,
}
SWEEPS = {"reconcile_interval": 1}


def statuses(store, owner, job_id) -> list[tuple[str, str | None]]:
    return [
        (e["data"]["status"], e["data"].get("worker"))
        for e in store.events(owner, job_id)
        if e["type"] == "status"
    ]


def test_23_shared_a_killed_workers_fit_completes_on_another_within_a_worker_lifetime(
    tmp_path,
):
    with sites(tmp_path) as make:
        s = make(RedisServer(appendonly=False), SETTINGS, SWEEPS)
        other = Worker(
            s.redis.url,
            concurrency=1,
            env=env_of(SETTINGS),
            pythonpath=[str(SUPPORT / "importable")],
        ).start()
        try:
            check_a_killed_worker(s, [s.worker, other])
        finally:
            if other.process.poll() is None:
                os.killpg(other.process.pid, signal.SIGKILL)
            other.stop()


def check_a_killed_worker(s, workers: list[Worker]) -> None:
    job = s.submit(gaussian_problem(**SLOW_MODEL), *SLOW_FIT)
    owner, job_id = job["owner"], job["id"]
    first = wait_until(
        lambda: (r := s.get(job_id)).get("progress") and r, timeout=60, what="progress"
    )
    client = s.redis.client()
    # the worker that runs it, by the record's worker name and that worker's advertisement
    pid = advertised_pid(client, DEFAULT_PREFIX, first["worker"])
    (dead,) = [w for w in workers if w.process.pid == pid]
    (survivor,) = [w for w in workers if w is not dead]
    killed = time.time()
    orphans = kill_worker_main(dead)
    wait_gone(orphans, timeout=10)  # its pool process and fit die with it
    all_gone = time.time()

    back = wait_for_requeue(
        client, DEFAULT_PREFIX, DEFAULT_QUEUE_PREFIX, owner, job_id, timeout=BOUND
    )
    print(f"\nkill -> requeue: {back - killed:.2f} s (worker lost after {LOST_AFTER:g} s)")
    record = wait_until(
        lambda: (r := s.get(job_id))["status"] in jobs.TERMINAL and r, timeout=120, what="end"
    )
    assert record["status"] == jobs.SUCCEEDED, record
    assert record["attempt"] == 2, record
    survivor_name = record["worker"]
    assert survivor_name != first["worker"]
    assert advertised_pid(client, DEFAULT_PREFIX, survivor_name) == survivor.process.pid
    # never two runs at once: the second started after every process of the first was gone
    assert record["started"] > all_gone, (record["started"], all_gone)
    assert statuses(s.store, owner, job_id) == [
        (jobs.QUEUED, None),
        (jobs.RUNNING, first["worker"]),
        (jobs.RUNNING, survivor_name),
        (jobs.SUCCEEDED, None),
    ]
    # one execution ran the fit to its end; the killed one returned nothing
    wait_until(lambda: task_returns(survivor) == ["done"], timeout=30, what="the task's return")
    assert task_returns(dead) == []
    assert s.store.result(owner, job_id)["chisq"] == record["progress"]["chisq"]
    logs = s.server.log.read_text() + survivor.log.read_text()
    assert f"job {job_id} of {owner} is queued again" in logs
    # acked: nothing left that could run it a third time
    wait_until(lambda: not client.hlen("unacked"), timeout=30, what="the ack")


def test_23_embedded_the_server_restarts_a_killed_worker_and_its_fit_completes(tmp_path):
    home = tmp_path / "home"
    server = JupyterServer(
        home, env=env_of(SETTINGS), args=[f"--BumpsRemote.{k}={v}" for k, v in SWEEPS.items()]
    ).start()
    try:
        check_an_embedded_worker_killed(server, home)
    finally:
        server.stop()
    wait_until(lambda: not our_processes(home), timeout=30, what="our processes to exit")


def check_an_embedded_worker_killed(server: JupyterServer, home: Path) -> None:
    import redis

    wait_until(
        lambda: (r := server.api("GET", "info")).status_code == 200 and r.json()["workers"],
        timeout=90,
        what="an embedded worker",
    )
    payload = transport.encode(gaussian_problem(**SLOW_MODEL))
    fitter, options = SLOW_FIT
    created = server.api(
        "POST", "jobs", json={"payload": payload, "fitter": fitter, "options": options}
    )
    assert created.status_code == 201, created.text
    owner, job_id = created.json()["owner"], created.json()["id"]
    first = wait_until(
        lambda: (r := server.api("GET", f"jobs/{job_id}").json()).get("progress") and r,
        timeout=60,
        what="progress",
    )
    client = redis.Redis(unix_socket_path=str(home / "runtime" / "bumps-remote" / "redis.sock"))
    pid = advertised_pid(client, DEFAULT_PREFIX, first["worker"])
    killed = time.time()
    os.kill(pid, signal.SIGKILL)

    back = wait_for_requeue(
        client, DEFAULT_PREFIX, DEFAULT_QUEUE_PREFIX, owner, job_id, timeout=BOUND
    )
    print(f"\nkill -> requeue: {back - killed:.2f} s (worker lost after {LOST_AFTER:g} s)")
    record = wait_until(
        lambda: (r := server.api("GET", f"jobs/{job_id}").json())["status"] in jobs.TERMINAL and r,
        timeout=120,
        what="the job's end on the restarted worker",
    )
    assert record["status"] == jobs.SUCCEEDED, record
    assert record["attempt"] == 2, record
    assert record["worker"] != first["worker"]
    restarted = advertised_pid(client, DEFAULT_PREFIX, record["worker"])
    assert restarted != pid
    log = server.log.read_text()
    assert f"pid {pid}) was killed by SIGKILL" in log
    assert f"restarted as {record['worker']} (pid {restarted})" in log
    assert f"job {job_id} of {owner} is queued again" in log
    client.close()
