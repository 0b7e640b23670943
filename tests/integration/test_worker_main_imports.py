"""A worker's main process never imports bumps.fitters, nor with it scipy and h5py (~30 MB of
an idle worker's PSS): the fitters its heartbeat lists come from its fit launcher
(worker/main/fit_launcher.py), which imports bumps.fitters for its fits anyway."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.shared.settings import WorkerSettings

from ..support.problems import gaussian_problem
from ..support.services import Worker
from ..support.waiting import wait_until

# bumps.fitters imports both at its top: one of their compiled modules is mapped in any
# process that imported it (pure-Python bumps.fitters itself leaves no trace in the maps)
FITTER_LIBRARIES = ("scipy", "h5py")
BEAT = 1.0  # the restarted worker's heartbeat interval


def mapped_libraries(pid: int) -> set[str]:
    """Which of FITTER_LIBRARIES have a compiled module mapped in the process."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name for name in FITTER_LIBRARIES if re.search(rf"/{name}/\S*\.so\b", maps)}


def parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, IndexError, ValueError):  # a process that just ended
        return None


def launchers(worker: Worker) -> list[int]:
    """The pids of the worker's fit launchers (children of its main process): one, or none
    while it restarts."""
    assert worker.process is not None
    found = []
    for pid in worker.children():
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:  # a process that just ended
            continue
        launcher = b"jupyter_bumps_remote.worker.fit.launcher" in command
        if launcher and parent_of(pid) == worker.process.pid:
            found.append(pid)
    return found


def beat_of(store, worker: Worker, after: float = 0.0) -> dict | None:
    """The worker's heartbeat entry, once it has beaten after `after` (time.time())."""
    assert worker.process is not None
    for info in store.workers():
        if info["pid"] == worker.process.pid and info["seen"] > after:
            return info
    return None


def test_the_main_process_lists_the_launchers_fitters_without_importing_them(worker, store):
    assert worker.process is not None
    # the check sees them where they are imported: in the launcher, which fits need warm
    (launcher,) = wait_until(lambda: launchers(worker), 60, "the worker's fit launcher")
    assert mapped_libraries(launcher) == set(FITTER_LIBRARIES)
    assert mapped_libraries(worker.process.pid) == set()
    info = wait_until(lambda: beat_of(store, worker), 30, "the worker's first beat")
    assert info["fitters"] == sorted(jobs.fitters())


def test_the_heartbeat_keeps_its_fitters_while_the_launcher_restarts(redis_server, store):
    # queues of its own: it takes none of the session's jobs
    settings = WorkerSettings.from_env(
        {}, redis_url=redis_server.url, queue_prefix="launcher-restart.", heartbeat_interval=BEAT
    )
    worker = Worker(redis_server.url, concurrency=1, env=settings.to_env()).start()
    try:
        (first,) = wait_until(lambda: launchers(worker), 60, "the worker's fit launcher")
        os.kill(first, signal.SIGKILL)
        killed = time.time()
        wait_until(lambda: [p for p in launchers(worker) if p != first], 60, "a new launcher")
        wait_until(lambda: b"serves again" in worker.log.read_bytes(), 120, "its handshake")
        info = wait_until(lambda: beat_of(store, worker, killed), 30 * BEAT, "a later beat")
        assert info["fitters"] == sorted(jobs.fitters())
        assert worker.process is not None
        assert mapped_libraries(worker.process.pid) == set()
    finally:
        worker.stop()


def test_pool_processes_import_no_fitters_for_a_job_either(remote, worker):
    # bumps.fitters is no longer imported before the pool forks (worker/main/warm.py): a pool
    # process that imported it for a job would hold its own copy of it
    job = remote.submit(gaussian_problem(), "lm")
    assert remote.wait(job["id"])["status"] == jobs.SUCCEEDED
    assert worker.process is not None
    pool = [pid for pid in worker.children() if parent_of(pid) == worker.process.pid]
    pool = [pid for pid in pool if pid not in launchers(worker)]
    assert len(pool) == worker.concurrency
    assert {pid: mapped_libraries(pid) for pid in pool} == dict.fromkeys(pool, set())


# on the worker's PYTHONPATH: its fit launcher exits as it starts, before its handshake
NO_LAUNCHER = """
import os, sys
if "jupyter_bumps_remote.worker.fit.launcher" in sys.orig_argv:
    os._exit(3)
"""


def test_without_a_launcher_the_main_process_lists_bumps_own_fitters(redis_server, store, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(NO_LAUNCHER)
    settings = WorkerSettings.from_env(
        {}, redis_url=redis_server.url, queue_prefix="no-launcher.", heartbeat_interval=BEAT
    )
    worker = Worker(
        redis_server.url, concurrency=1, env=settings.to_env(), pythonpath=[str(tmp_path)]
    ).start()
    try:
        assert b"no fit launcher" in worker.log.read_bytes()
        info = wait_until(lambda: beat_of(store, worker), 30 * BEAT, "the worker's first beat")
        assert info["fitters"] == sorted(jobs.fitters())
        # it warmed itself up instead, to fork its fit processes warm
        assert worker.process is not None
        assert mapped_libraries(worker.process.pid) == set(FITTER_LIBRARIES)
    finally:
        worker.stop()
