"""The faults of docs/reliability.md#faults against real processes: a private Redis and real
workers per test, time limits scaled down through BUMPS_REMOTE_* variables."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time

import pytest

from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.shared.task_names import FIT_TASK

from ..support.problems import gaussian_problem
from ..support.running_fits import LONG_DREAM, wait_for_progress
from ..support.waiting import wait_gone, wait_until
from .conftest import kill_worker_main, session_pids
from .hostile import hostile_problem
from .site import SLOW_MODEL

# A fit of about 3 s (2.4 s of it the model's sleeps): long enough to be killed mid-way, and
# its second run ends well inside the soft limit below even on loaded CPUs.
SLOW_FIT = ("dream", {"steps": 40, "burn": 0})
# visibility > hard > soft, scaled from hours to seconds
SCALED = {"time_limit": 7, "soft_time_limit": 6, "visibility_timeout": 8}


def statuses(remote, job_id) -> list[str]:
    return [e["data"]["status"] for e in remote.events(job_id) if e["type"] == "status"]


def test_2_worker_killed_mid_fit_is_redelivered_to_a_fresh_worker_and_stored_once(
    stack_factory,
):
    stack = stack_factory(**SCALED, max_attempts=3)
    first = stack.worker()
    remote = stack.remote
    job = remote.submit(gaussian_problem(**SLOW_MODEL), *SLOW_FIT, seed=2)
    wait_for_progress(remote, job["id"])
    orphans = kill_worker_main(first)
    # the pool child and its fit die with the main process: nothing finishes the first attempt
    wait_gone(orphans, timeout=5)
    assert remote.store.get(remote.owner, job["id"])["status"] == jobs.RUNNING
    assert stack.celery_backlog() == {"queued": 0, "unacked": 1}

    fresh = stack.worker()
    record = remote.wait(job["id"], timeout=SCALED["visibility_timeout"] + 30)
    assert record["status"] == jobs.SUCCEEDED, record
    assert record["attempt"] == 2
    assert record["worker"] == f"bumps-{fresh.process.pid}@{os.uname()[1]}"
    assert statuses(remote, job["id"]) == ["queued", "running", "running", "succeeded"]
    assert remote.store.result(remote.owner, job["id"])["chisq"] == record["progress"]["chisq"]
    # acked: nothing left that could be delivered a third time
    assert stack.drained() == {"queued": 0, "unacked": 0}


# A poison job's fits are instant; only the visibility timeout takes time.
FAST = {"time_limit": 3, "soft_time_limit": 2, "visibility_timeout": 4}
# Time for the test to see a hanging fit run and kill its worker before the soft limit
POISON = {"time_limit": 8, "soft_time_limit": 7, "visibility_timeout": 9}


def test_3_poison_job_that_kills_its_worker_fails_after_max_attempts_without_a_loop(
    stack_factory,
):
    """A fit can no longer kill its worker itself (its sandbox: a uid of its own); what
    takes a worker down with a job (the OOM killer, a lost node) is played by the test,
    which SIGKILLs the worker each time the job runs."""
    stack = stack_factory(**POISON, max_attempts=2)
    remote = stack.remote
    job = remote.submit(hostile_problem("hang"), "amoeba", seed=3)
    for attempt in (1, 2):
        worker = stack.worker()
        wait_until(
            lambda n=attempt: (
                (r := remote.store.get(remote.owner, job["id"]))["status"] == jobs.RUNNING
                and r["attempt"] == n
            ),
            POISON["visibility_timeout"] + 30,
            f"attempt {attempt} running",
            interval=0.02,
        )
        worker.process.send_signal(signal.SIGKILL)
        assert worker.process.wait(30) == -signal.SIGKILL
    # the third delivery is refused by the attempt cap, not run
    survivor = stack.worker()
    record = remote.wait(job["id"], timeout=POISON["visibility_timeout"] + 30)
    assert record["status"] == jobs.FAILED
    assert record["error"]["message"].startswith("worker lost 2 times"), record["error"]
    assert record["attempt"] == 2, record  # attempts run, never above the cap
    assert statuses(remote, job["id"]) == ["queued", "running", "running", "failed"]
    assert stack.drained() == {"queued": 0, "unacked": 0}  # no message loop
    healthy = remote.submit(gaussian_problem(), "lm")
    assert remote.wait(healthy["id"])["status"] == jobs.SUCCEEDED
    assert survivor.process.poll() is None


LIMITED = {"time_limit": 4, "soft_time_limit": 2, "visibility_timeout": 5}


def test_5_soft_time_limit_stops_the_fit_keeping_its_best_point(stack_factory):
    stack = stack_factory(**LIMITED)
    stack.worker()
    remote = stack.remote
    problem = gaussian_problem()
    job = remote.submit(problem, "dream", LONG_DREAM, seed=5)
    record = remote.wait(job["id"], timeout=LIMITED["time_limit"] + 30)
    assert record["status"] == jobs.CANCELLED and record["reason"] == "time limit", record
    assert record["partial"] and record["has_result"] and record["attempt"] == 1
    summary = remote.store.result(remote.owner, job["id"])
    assert summary["partial"] and summary["chisq"] < problem.chisq()
    # stopped at the soft limit, which counts from the task's start, just before `started`
    # (the fit's own clock starts later, after the hand-over and the decode)
    ran = record["finished"] - record["started"]
    assert LIMITED["soft_time_limit"] - 0.5 < ran < LIMITED["time_limit"], ran
    assert summary["elapsed"] < ran
    assert stack.drained() == {"queued": 0, "unacked": 0}


def test_5_hard_time_limit_fails_with_timeout_and_is_not_run_again(stack_factory):
    stack = stack_factory(**LIMITED)
    worker = stack.worker()
    remote = stack.remote
    # stuck inside one model call: the soft limit's cooperative stop never gets a say
    job = remote.submit(hostile_problem("hang"), "amoeba", seed=5)
    record = remote.wait(job["id"], timeout=LIMITED["time_limit"] + 30)
    assert record["status"] == jobs.FAILED, record
    assert record["reason"] == "timeout" and record["error"]["type"] == "TimeLimitExceeded"
    assert "BUMPS_REMOTE_TIME_LIMIT" in record["error"]["message"]
    assert record["finished"] - record["started"] < LIMITED["time_limit"] + 2
    assert stack.drained() == {"queued": 0, "unacked": 0}  # acked: never redelivered
    healthy = remote.submit(gaussian_problem(), "lm")
    assert remote.wait(healthy["id"])["status"] == jobs.SUCCEEDED
    # the hung fit died with its pool process: only the main process, its fit launcher, a
    # fresh pool child and the spare fit process readied for its next job remain (the
    # healthy fit's process ends just after it records its result)
    wait_until(
        lambda: len(session_pids(worker.process.pid)) == 4,
        5,
        "main, launcher, pool and spare process only",
    )
    # "not re-run" is about time passing: let the visibility timeout (+ a restore sweep) go by
    time.sleep(max(0.0, record["finished"] + LIMITED["visibility_timeout"] + 1.5 - time.time()))
    assert remote.store.get(remote.owner, job["id"])["attempt"] == 1
    assert statuses(remote, job["id"]) == ["queued", "running", "failed"]


def test_20_an_injected_pickle_message_is_not_executed(stack_factory, tmp_path):
    stack = stack_factory(**FAST)
    worker = stack.worker()
    remote = stack.remote
    marker = tmp_path / "pickle-ran"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    stack.app.send_task(
        FIT_TASK,
        args=[Exploit(), remote.owner],
        queue=stack.app.conf.task_default_queue,
        serializer="pickle",
    )
    # the worker takes messages in order, one at a time: once this job is done, the pickle
    # message before it has been dealt with
    healthy = remote.submit(gaussian_problem(), "lm")
    try:
        assert remote.wait(healthy["id"], timeout=30)["status"] == jobs.SUCCEEDED
    finally:  # checked even if the worker choked on the message
        assert not marker.exists(), "the pickle was loaded: its payload ran on the worker"
    assert "application/x-python-serialize" in worker.log.read_text()
    assert stack.drained() == {"queued": 0, "unacked": 0}
    assert worker.process.poll() is None


# the fit's own limits come long before the time limits
RESOURCE_TIMES = {"time_limit": 30, "soft_time_limit": 29, "visibility_timeout": 40}


@pytest.mark.parametrize(
    ("how", "limit", "fragments"),
    [
        ("allocate", {"max_memory_mb": 1024}, ("MemoryError", "BUMPS_REMOTE_MAX_MEMORY_MB")),
        ("spin", {"max_cpu_seconds": 2}, ("SIGXCPU", "CPU time limit")),
    ],
)
def test_22_hostile_problem_hits_its_resource_limit_and_the_worker_goes_on(
    stack_factory, how, limit, fragments
):
    stack = stack_factory(**RESOURCE_TIMES, **limit)
    worker = stack.worker()
    remote = stack.remote
    job = remote.submit(hostile_problem(how), "amoeba", seed=22)
    record = remote.wait(job["id"], timeout=30)
    assert record["status"] == jobs.FAILED, record
    text = f"{record['error']['type']}: {record['error']['message']}"
    for fragment in fragments:
        assert fragment in text, text
    healthy = remote.submit(gaussian_problem(), "lm")
    assert remote.wait(healthy["id"])["status"] == jobs.SUCCEEDED
    assert worker.process.poll() is None
    assert stack.drained() == {"queued": 0, "unacked": 0}


# Counts every process and thread of the worker's user: the worker's own (main process and
# its thread, the pool process: 3 here) and the fit's.
FORK_LIMIT = 40


def test_22_fork_bomb_hits_the_process_limit_of_an_unprivileged_worker(stack_factory):
    """RLIMIT_NPROC does not bind root: the worker runs as `nobody`, as operators should run
    it, against a Redis on loopback TCP (nobody cannot enter a 0700 socket directory)."""
    stack = stack_factory(**RESOURCE_TIMES, max_processes=FORK_LIMIT)
    worker = stack.worker(user="nobody")
    assert os.stat(f"/proc/{worker.process.pid}").st_uid == pwd.getpwnam("nobody").pw_uid
    main = worker.process.pid
    serving = {
        main,
        *map(
            int,
            subprocess.run(
                ["pgrep", "-P", str(main)], capture_output=True, text=True
            ).stdout.split(),
        ),
    }
    remote = stack.remote
    job = remote.submit(hostile_problem("fork bomb"), "amoeba", seed=22)
    record = remote.wait(job["id"], timeout=30)
    assert record["status"] == jobs.FAILED, record
    text = f"{record['error']['type']}: {record['error']['message']}"
    assert text.startswith("BlockingIOError"), text
    assert f"process limit of its user ({FORK_LIMIT} processes" in text, text
    assert "BUMPS_REMOTE_MAX_PROCESSES" in text, text

    # the bomb's children never exit by themselves: the worker kills the fit's whole group;
    # then main, pool process and the spare fit process readied for the next job remain
    def only_the_worker_left():
        left = set(session_pids(main))
        return serving <= left and len(left - serving) == 1

    wait_until(only_the_worker_left, 10, "only the worker's processes left")
    wait_until(lambda: "processes the fit left behind" in worker.log.read_text(), 5, "the log line")
    healthy = remote.submit(gaussian_problem(), "lm")
    assert remote.wait(healthy["id"])["status"] == jobs.SUCCEEDED
    assert worker.process.poll() is None
    assert stack.drained() == {"queued": 0, "unacked": 0}
