"""A fit process may run more than one job (a sweep, a loop of fits), of one owner only: each
job's model prints the pid of the process it runs in, and may crash it or leave a thread or
a process running behind it (docs/design.md#one-fit-one-forked-process-forked-ahead)."""

from __future__ import annotations

import os
import uuid

import pytest

from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.store import JobStore
from jupyter_bumps_remote.worker import make_app
from jupyter_bumps_remote.worker.pool.kept_fit import REUSE_SECONDS

from ..conftest import Remote
from ..support.problems import GAUSSIAN_SOURCE, gaussian_fit_of, user_module
from ..support.services import RedisServer, Worker
from ..support.talking_models import printed
from ..support.waiting import wait_gone

REPORTING_SOURCE = (
    GAUSSIAN_SOURCE
    + """
import os, threading

def reporting_gaussian(x, A, mu, sigma):
    if not DONE[0] and os.getpid() != SUBMITTER:  # on the worker, once per job
        DONE[0] = True
        print("PID", os.getpid(), flush=True)
        if ACTION == "slow":  # the jobs after it wait in the queue: a backlog
            time.sleep(0.5)
        elif ACTION == "crash":
            os.kill(os.getpid(), 9)
        elif ACTION == "thread":
            threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        elif ACTION == "process":
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
        elif ACTION == "fill_tmp":  # over half of its private tmpfs, left behind
            import tempfile
            where = tempfile.gettempdir()
            space = os.statvfs(where)
            fd = os.open(os.path.join(where, "left-behind"), os.O_CREAT | os.O_WRONLY)
            os.posix_fallocate(fd, 0, space.f_frsize * space.f_blocks // 2 + (1 << 20))
            os.close(fd)
        elif ACTION == "leak_files":  # over half its open-file limit, left open
            import resource
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
            LEAKED.extend(os.open(os.devnull, os.O_RDONLY) for _ in range(40))
    return gaussian(x, A, mu, sigma)

DONE = [False]
LEAKED = []
ACTION = ""
SUBMITTER = 0
"""
)


def reporting_problem(action: str = ""):
    module = user_module(REPORTING_SOURCE, name="reporting_notebook_code")
    vars(module).update(ACTION=action, SUBMITTER=__import__("os").getpid())
    return gaussian_fit_of(module.reporting_gaussian)


@pytest.fixture(scope="module")
def one_process():
    """A worker of one process: every job of this module runs after the one before."""
    redis_server = RedisServer(appendonly=False).start()
    worker = Worker(redis_server.url, concurrency=1).start()
    settings = WorkerSettings.from_env({}, redis_url=redis_server.url)
    app = make_app(settings)
    store = JobStore(redis_server.client(), **settings.store_settings())
    yield store, app
    worker.stop()
    app.close()
    redis_server.cleanup()


def owner(store, app, who: str) -> Remote:
    return Remote(store, app, f"{who}-{uuid.uuid4().hex[:8]}")


def run_all(submitted: list[tuple[Remote, dict]]) -> list[tuple[dict, int | None]]:
    """Each job's record at its end and the pid its model printed (None if none)."""
    ended = []
    for remote, job in submitted:
        record = remote.wait(job["id"], timeout=180)
        lines = [line for line in printed(remote, job["id"]).splitlines() if line.startswith("PID")]
        assert len(lines) <= 1, lines  # nothing of another job's output
        ended.append((record, int(lines[0].split()[1]) if lines else None))
    return ended


def test_a_sweep_reuses_its_fit_processes_and_each_job_keeps_its_own_output(one_process):
    store, app = one_process
    alice = owner(store, app, "alice")
    actions = ["slow"] + [""] * 7
    ended = run_all([(alice, alice.submit(reporting_problem(a), "lm")) for a in actions])
    assert all(record["status"] == jobs.SUCCEEDED for record, _ in ended), ended
    pids = [pid for _, pid in ended]
    assert None not in pids
    assert len(set(pids[1:])) < len(pids) - 1, pids  # the backlog ran in fewer processes
    for record, _ in ended:  # each with its session file
        assert alice.session(record["id"])[:8] == b"\x89HDF\r\n\x1a\n"


def test_owners_never_share_a_fit_process(one_process):
    store, app = one_process
    alice, bob = owner(store, app, "alice"), owner(store, app, "bob")
    order = [alice, alice, bob, bob, alice, bob, alice, alice, bob, bob]
    submitted = [(order[0], order[0].submit(reporting_problem("slow"), "lm"))]
    submitted += [(who, who.submit(reporting_problem(), "lm")) for who in order[1:]]
    ended = run_all(submitted)
    assert all(record["status"] == jobs.SUCCEEDED for record, _ in ended), ended
    pids = [pid for _, pid in ended]
    of = {who.owner: {p for p, w in zip(pids, order, strict=True) if w is who} for who in order}
    assert not of[alice.owner] & of[bob.owner], of
    # … while each reused one for its own jobs in a row
    assert len(of[alice.owner]) < order.count(alice) or len(of[bob.owner]) < order.count(bob)


def test_a_crash_fails_its_job_alone_and_what_a_job_leaves_running_is_not_reused(one_process):
    store, app = one_process
    alice = owner(store, app, "alice")
    actions = ["slow", "", "crash", "", "thread", "", "process", "", ""]
    ended = run_all([(alice, alice.submit(reporting_problem(a), "lm")) for a in actions])
    statuses = [record["status"] for record, _ in ended]
    assert statuses == [jobs.FAILED if a == "crash" else jobs.SUCCEEDED for a in actions]
    crashed = ended[actions.index("crash")][0]
    assert crashed["error"]["type"] == "FitProcessDied", crashed["error"]
    assert "killed by signal 9" in crashed["error"]["message"]
    pids = [pid for _, pid in ended]
    for action in ("crash", "thread", "process"):
        at = actions.index(action)
        assert pids[at] == pids[at - 1], (action, pids)  # in a process kept for it
        assert pids[at + 1] != pids[at], (action, pids)  # the next one in a fresh one


@pytest.mark.skipif(os.geteuid() != 0, reason="a fit's private tmpfs takes a root worker")
def test_a_job_that_leaves_half_its_tmp_or_open_files_used_is_not_reused(one_process):
    store, app = one_process
    alice = owner(store, app, "alice")
    actions = ["slow", "", "fill_tmp", "", "leak_files", "", ""]
    ended = run_all([(alice, alice.submit(reporting_problem(a), "lm")) for a in actions])
    assert all(record["status"] == jobs.SUCCEEDED for record, _ in ended), ended
    pids = [pid for _, pid in ended]
    for action in ("fill_tmp", "leak_files"):
        at = actions.index(action)
        assert pids[at] == pids[at - 1], (action, pids)  # in a process kept for it
        assert pids[at + 1] != pids[at], (action, pids)  # the next one in a fresh one


def test_an_owners_next_fit_reuses_the_process_and_after_a_pause_a_spare_replaces_it(
    one_process,
):
    """No backlog: each job is sent once the one before has ended, as a notebook's loop of
    `submit(...).result()` does; a pause longer than kept_fit.REUSE_SECONDS ends the kept
    process, and a spare takes its place (runner._watch_kept)."""
    store, app = one_process
    alice = owner(store, app, "alice")
    (first, first_pid), (second, second_pid) = [
        run_all([(alice, alice.submit(reporting_problem(), "lm"))])[0] for _ in range(2)
    ]
    assert first["status"] == second["status"] == jobs.SUCCEEDED, (first, second)
    assert first_pid is not None and second_pid == first_pid  # kept for her next fit
    wait_gone([first_pid], timeout=3 * REUSE_SECONDS + 30)  # nobody took it: ended
    ((third, third_pid),) = run_all([(alice, alice.submit(reporting_problem(), "lm"))])
    assert third["status"] == jobs.SUCCEEDED, third
    assert third_pid not in (None, first_pid)
