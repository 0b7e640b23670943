"""Spare fit processes fork from the worker's fit launcher (worker/fit/launcher.py), a
process that never sees a job nor holds a credential: only the worker's own processes may
ask it for one, a fit cannot reach it, a pool process killed takes its fit with it, and a
launcher that dies is started again while jobs keep running."""

from __future__ import annotations

import json
import os
import signal
import socket

from jupyter_bumps_remote.shared import jobs

from ..support.fit_processes import children, fits_of, is_launcher, pool_processes
from ..support.problems import gaussian_problem
from ..support.running_fits import LONG_DREAM, wait_for_progress
from ..support.talking_models import found, talking_problem
from ..support.waiting import alive, wait_gone, wait_until

# 3x what a start takes on a loaded 2-CPU machine (imports, rehearsal)
START_SECONDS = 90


def launcher_of(worker) -> int:
    found = [pid for pid in children(worker.process.pid) if is_launcher(pid)]
    assert len(found) == 1, found
    return found[0]


def socket_of(launcher: int) -> str:
    with open(f"/proc/{launcher}/cmdline", "rb") as f:
        return f.read().split(b"\0")[-2].decode()


def the_spare(worker) -> int:
    def one():
        spares = [s for pool in pool_processes(worker.process.pid) for s in fits_of(pool)]
        return spares[0] if len(spares) == 1 else None

    return wait_until(one, START_SECONDS, "the pool process's spare")


def test_spares_fork_from_the_launcher_which_answers_only_the_workers_processes(
    stack_factory,
):
    stack = stack_factory()
    worker = stack.worker()
    launcher = launcher_of(worker)
    spare = the_spare(worker)
    with open(f"/proc/{spare}/stat", "rb") as f:
        assert int(f.read().rsplit(b")", 1)[1].split()[1]) == launcher
    # its environment holds no setting of the worker's, the Redis URL least of all
    with open(f"/proc/{launcher}/environ", "rb") as f:
        environ = f.read()
    assert b"BUMPS_REMOTE_" not in environ and stack.redis.url.encode() not in environ
    # this test's process has the worker's user, but it is not one of the worker's own
    path = socket_of(launcher)
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        try:  # closed unanswered, maybe before the request is sent, or with it unread
            s.sendall(json.dumps({"op": "fork", "rehearse": False}).encode() + b"\n")
            answer = s.recv(4096)
        except (BrokenPipeError, ConnectionResetError):
            answer = b""
        assert answer == b""
    wait_until(lambda: "refused a connection" in worker.log.read_text(), 10, "the log line")
    assert children(launcher) == [spare]
    # and a fit cannot reach it at all
    job = stack.remote.submit(talking_problem("look", TARGETS=[["launcher", path]]), "lm")
    assert stack.remote.wait(job["id"], timeout=60)["status"] == jobs.SUCCEEDED
    assert found(stack.remote, job["id"])["reached"] == {"launcher": None}


def test_a_fit_dies_with_its_pool_process(stack_factory):
    """As when Celery kills a pool process at the hard time limit: the fit is the
    launcher's child, which kills it once the pool process's connection closes."""
    stack = stack_factory()
    worker = stack.worker()
    job = stack.remote.submit(gaussian_problem(), "dream", LONG_DREAM, seed=5)
    wait_for_progress(stack.remote, job["id"])
    (pool,) = pool_processes(worker.process.pid)
    (fit,) = fits_of(pool)
    os.kill(pool, signal.SIGKILL)
    wait_gone([fit], timeout=10)
    # Celery forks another pool process, with a spare of its own, which runs the next job
    # (the lost one, delivered again, is cancelled first: it would run for long)
    stack.remote.store.request_cancel(stack.remote.owner, job["id"])
    healthy = stack.remote.submit(gaussian_problem(), "lm")
    assert stack.remote.wait(healthy["id"], timeout=120)["status"] == jobs.SUCCEEDED


def test_a_sigterm_to_every_process_leaves_the_launcher_and_its_fits_running(stack_factory):
    """A Slurm walltime or scancel signals every process of the job: the launcher, whose
    children the fits are, must outlive it while the worker drains them."""
    stack = stack_factory()
    worker = stack.worker()
    launcher = launcher_of(worker)
    job = stack.remote.submit(gaussian_problem(), "dream", LONG_DREAM, seed=5)
    wait_for_progress(stack.remote, job["id"])
    (pool,) = pool_processes(worker.process.pid)
    (fit,) = fits_of(pool)
    os.kill(launcher, signal.SIGTERM)
    os.kill(fit, signal.SIGTERM)
    # still there once the fit has moved on: the launcher and the fit ignored it
    step = stack.remote.store.get(stack.remote.owner, job["id"])["progress"]["step"]
    wait_until(
        lambda: stack.remote.store.get(stack.remote.owner, job["id"])["progress"]["step"] > step,
        60,
        "the fit's next progress",
    )
    assert alive(launcher) and alive(fit) and launcher_of(worker) == launcher
    stack.remote.store.request_cancel(stack.remote.owner, job["id"])
    assert stack.remote.wait(job["id"], timeout=120)["status"] == jobs.CANCELLED


def test_a_launcher_that_dies_is_started_again_and_jobs_keep_running(stack_factory):
    stack = stack_factory()
    worker = stack.worker()
    launcher = launcher_of(worker)
    spare = the_spare(worker)
    os.kill(launcher, signal.SIGKILL)
    wait_gone([launcher, spare], timeout=10)  # its spares die with it
    # the pool process finds its spare dead and gets another (from the new launcher, or,
    # while there is none, forked itself): the job runs either way
    job = stack.remote.submit(gaussian_problem(), "lm", seed=6)
    assert stack.remote.wait(job["id"], timeout=START_SECONDS)["status"] == jobs.SUCCEEDED
    wait_until(lambda: "serves again" in worker.log.read_text(), START_SECONDS, "restarted")
    assert "exited with -9" in worker.log.read_text()
    again = launcher_of(worker)
    assert again != launcher and alive(again)
    # the spares after that fork from the new launcher
    for seed in (7, 8):
        job = stack.remote.submit(gaussian_problem(), "lm", seed=seed)
        assert stack.remote.wait(job["id"], timeout=60)["status"] == jobs.SUCCEEDED

    def from_the_new_launcher():
        spares = [s for pool in pool_processes(worker.process.pid) for s in fits_of(pool)]
        return spares and all(s in children(again) for s in spares)

    wait_until(from_the_new_launcher, 30, "a spare forked by the new launcher")
