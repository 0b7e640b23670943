"""docs/reliability.md#25-a-cut-short-fit-resumes-from-its-checkpoint and
#26-a-stopped-worker-drains: a DREAM fit checkpoints its chains into Redis (every 0.3 s
here, 60 s by default); a job whose worker is SIGKILLed, or stopped with SIGTERM, resumes
on another worker from its last checkpoint and ends after as many steps as the same fit
left alone, its chains continuing the checkpoint's. And an ended DREAM fit continued for
more steps by job.resume (docs/cluster.md#drain-and-checkpoints)."""

from __future__ import annotations

import os
import signal
import time

from jupyter_bumps_remote.kernel.client import Client
from jupyter_bumps_remote.kernel.discovery import ServerInfo
from jupyter_bumps_remote.kernel.job import RemoteJob
from jupyter_bumps_remote.shared import jobs, transport

from ..support.checkpoints import (
    chains,
    check_resumed,
    continues,
    differences,
    resumed_at,
    steps_left_alone,
    stored,
    wait_for_checkpoint,
)
from ..support.job_executions import task_returns
from ..support.problems import gaussian_problem
from ..support.services import JupyterServer, Worker
from ..support.waiting import wait_until
from .conftest import SUPPORT, kill_worker_main

HEARTBEAT = 1.0  # a worker is lost 3 s after its last beat
SETTINGS = {
    "heartbeat_interval": HEARTBEAT,
    "checkpoint_interval": 0.3,
    "time_limit": 600,
    "soft_time_limit": 590,
    "visibility_timeout": 3600,  # not what brings a job back
}
DRAIN_SECONDS = 8.0
LIFETIME = 15.0  # s from the worker's start: it is ready within it, even on a loaded machine
# a DREAM fit of ~6 s on an idle CPU: 3 parameters, 30 chains, 2 ms per model call
FITTER, OPTIONS = "dream", {"steps": 100, "burn": 0}
SLOW = {"model": "slow_gaussian", "DELAY": 0.002}


def test_25_a_killed_workers_dream_fit_resumes_from_its_checkpoint(stack_factory):
    stack = stack_factory(**SETTINGS)
    remote = stack.remote
    first = stack.worker()
    job = remote.submit(gaussian_problem(**SLOW), FITTER, OPTIONS, seed=1)
    saved = wait_for_checkpoint(stack.store, remote.owner, job["id"], past=20)
    kill_worker_main(first)
    # what the killed run left: its last checkpoint (nothing writes it any more)
    last = stored(stack.store, remote.owner, job["id"])
    assert last is not None and last["step"] >= saved["step"]
    second = stack.worker()
    record = remote.wait(job["id"], timeout=120)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    assert record["attempt"] == 2, record
    check_resumed(remote, job["id"], last, FITTER, OPTIONS)
    wait_until(lambda: task_returns(second) == ["done"], timeout=30, what="the task's return")


def test_26_a_worker_stopped_mid_fit_drains_and_another_resumes_the_job(stack_factory):
    stack = stack_factory(**SETTINGS, drain_seconds=DRAIN_SECONDS)
    remote = stack.remote
    first = stack.worker()
    job = remote.submit(gaussian_problem(**SLOW), FITTER, OPTIONS, seed=1)
    wait_for_checkpoint(stack.store, remote.owner, job["id"], past=20)
    stopped = time.monotonic()
    os.kill(first.process.pid, signal.SIGTERM)
    # the job is back on its queue at once, given back by its run: not a lost run
    requeued = wait_until(
        lambda: [e for e in remote.events(job["id"]) if e["type"] == "requeued"],
        timeout=DRAIN_SECONDS,
        what="the requeued event",
    )
    back = wait_until(
        lambda: stack.celery_backlog()["queued"] == 1 and time.monotonic(),
        timeout=DRAIN_SECONDS,
        what="the job's message on its queue",
    )
    first.process.wait(DRAIN_SECONDS * 2)
    exited = time.monotonic()
    print(
        f"\nSIGTERM -> requeued {back - stopped:.2f} s, worker exited {exited - stopped:.2f} s "
        f"(drain_seconds {DRAIN_SECONDS:g})"
    )
    assert exited - stopped < DRAIN_SECONDS, exited - stopped
    assert requeued[0]["data"]["reason"] == "drained"
    last = stored(stack.store, remote.owner, job["id"])
    assert last is not None
    record = stack.store.get(remote.owner, job["id"])
    assert record["status"] == jobs.RUNNING and record["attempt"] == 0
    assert int(record["drained"]) == 1
    assert task_returns(first) == []  # rejected with requeue, not returned
    second = stack.worker()
    record = remote.wait(job["id"], timeout=120)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    assert record["attempt"] == 1, record  # the drained attempt does not count
    check_resumed(remote, job["id"], last, FITTER, OPTIONS)
    wait_until(lambda: task_returns(second) == ["done"], timeout=30, what="the task's return")


def test_26_a_worker_at_the_end_of_its_lifetime_drains_and_another_resumes_the_job(
    stack_factory,
):
    """--lifetime (a Slurm worker's walltime, less a margin) takes the SIGTERM path."""
    stack = stack_factory(**SETTINGS, drain_seconds=DRAIN_SECONDS)
    remote = stack.remote
    options = {"steps": 300, "burn": 0}  # longer than the worker lives: ~18 s idle
    # queued first: the worker takes it as soon as it is ready, well before its end
    job = remote.submit(gaussian_problem(**SLOW), FITTER, options, seed=1)
    first = worker_with_lifetime(stack, LIFETIME)
    requeued = wait_until(
        lambda: [e for e in remote.events(job["id"]) if e["type"] == "requeued"],
        timeout=LIFETIME + DRAIN_SECONDS,
        what="the requeued event at the end of the worker's lifetime",
    )
    assert requeued[0]["data"]["reason"] == "drained"
    assert first.process is not None
    assert first.process.wait(DRAIN_SECONDS * 2) == 0  # exited by itself, in time
    last = stored(stack.store, remote.owner, job["id"])
    assert last is not None
    stack.worker()
    record = remote.wait(job["id"], timeout=120)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    assert record["attempt"] == 1, record
    assert resumed_at(remote.events(job["id"])) == {last["step"]}
    remote.session(job["id"])
    final = stored(stack.store, remote.owner, job["id"])
    assert final is not None and final["step"] == steps_left_alone(FITTER, options)
    assert continues(chains(last), chains(final))


def worker_with_lifetime(stack, seconds: float) -> Worker:
    """One of the stack's workers, started as `bumps-remote worker --lifetime SECONDS`."""
    worker = Worker(
        stack.redis.url, concurrency=1, env=stack.env, pythonpath=[str(SUPPORT / "importable")]
    )
    at = worker.command.index("--")
    worker.command[at:at] = ["--lifetime", f"{seconds:g}"]
    stack.workers.append(worker)
    return worker.start()


def test_a_finished_dream_fit_resumed_for_more_steps_continues_its_chains(stack_factory, tmp_path):
    """job.resume(steps=...) (POST jobs/{id}/resume): a new job continues the ended fit from
    its end state, for that many more steps."""
    stack = stack_factory(**SETTINGS)
    stack.worker()
    server = JupyterServer(
        tmp_path / "home", args=[f"--BumpsRemote.redis_url={stack.redis.url}"]
    ).start()
    try:
        client = Client(ServerInfo(server.url, server.token, "test"))
        body = {"payload": transport.encode(gaussian_problem()), "fitter": FITTER, "seed": 1}
        first = server.api("POST", "jobs", json={**body, "options": {"steps": 30, "burn": 0}})
        assert first.status_code == 201, first.text
        old = RemoteJob(client, first.json())
        assert old.result(timeout=60).nit == 31
        owner = first.json()["owner"]
        end = wait_for_checkpoint(stack.store, owner, old.id, past=30)
        refused = server.api("POST", f"jobs/{old.id}/resume", json={"steps": 0})
        assert refused.status_code == 400 and "steps" in refused.text, refused.text

        new = old.resume(steps=20)
        assert new.record["resume_of"] == old.id
        # 20 generations more: bumps' resume keeps the generations its buffer holds (30 of
        # 31 here: the first, the initial population, was already overwritten)
        assert new.result(timeout=60).nit == 30 + 20
        assert resumed_at(stack.store.events(owner, new.id)) == {end["step"]}
        client.session_file(new.id)  # the fit's end state is stored before its session file
        final = stored(stack.store, owner, new.id)
        assert final is not None and final["step"] == 50
        assert not differences(chains(end), chains(final))
    finally:
        server.stop()
