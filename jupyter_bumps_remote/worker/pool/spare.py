"""A fit process forked and warmed up before its job arrives.

A fit process forked at delivery time paid, on every job, for the fork itself and then for
its first pass through the fit's code: every page it writes is copied from the worker
process. For a tiny fit that was most of its time on the worker. A spare pays that while
the worker is idle: it is forked when its pool process starts and after each job, connects
to Redis, runs a small built-in fit through the steps before a job's result (decode, fit,
summary) unless its pool process expects the next job at once, then waits on a pipe for
its job. The worker's main process ran the whole rehearsal, session file included, before
the pool forked, so even a spare that skipped its own finds bumps' lazy imports and caches
done (warm.py). Each job still gets a process of its own, so a crash or a limit kills that
job only (docs/reliability.md#1-fit-process-killed, #22-hostile-problems).
"""

from __future__ import annotations

import json
import os
import select

from ...shared.settings import WorkerSettings
from ..fit import fit_process, rehearsal
from . import leftovers


class SpareFitProcess:
    """The parent's handle: a pid and the write end of the spare's job pipe."""

    def __init__(self, pid: int, job_pipe: int):
        self.pid = pid
        self._job_pipe = job_pipe
        self._status: int | None = None  # set once reaped

    @classmethod
    def fork(cls, settings: WorkerSettings, store_for, rehearse: bool = True) -> SpareFitProcess:
        """`rehearse=False` when a job is expected at once (a backlog in the queue): the
        rehearsal would then only take CPU that the jobs need."""
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the spare
            code = 1
            try:
                os.close(write_end)
                code = _serve_one_job(settings, store_for, read_end, rehearse)
            finally:
                os._exit(code)
        os.close(read_end)
        leftovers.own_group(pid)  # the fit's group exists before it can fork anything
        return cls(pid, write_end)

    def alive(self) -> bool:
        if self._status is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self._status = status
        return self._status is None

    def wait(self) -> int:
        """Its wait status (os.waitpid's) once it has exited."""
        if self._status is None:
            self._status = os.waitpid(self.pid, 0)[1]
        return self._status

    def hand_over(self, owner: str, job_id: str, record: dict) -> bool:
        """Give the spare its job; False if it is gone (then fork another)."""
        message = json.dumps({"owner": owner, "job_id": job_id, "record": record}).encode()
        try:
            if not self.alive():
                return False
            os.write(self._job_pipe, len(message).to_bytes(4, "big") + message)
            return True
        except OSError:  # BrokenPipeError: it died just now; reap it
            self.wait()
            return False
        finally:
            os.close(self._job_pipe)


def _serve_one_job(settings: WorkerSettings, store_for, job_pipe: int, rehearse: bool) -> int:
    fit_process.become_fit_process(settings)
    store = store_for(settings)
    if rehearse:
        _warm_up(store, job_waiting=lambda: bool(select.select([job_pipe], [], [], 0)[0]))
    message = _read_message(job_pipe)
    if message is None:  # the parent closed the pipe without a job
        return 0
    job = json.loads(message)
    return fit_process.main(settings, store, job["owner"], job["job_id"], job["record"])


def _read_message(fd: int) -> bytes | None:
    header = _read_exactly(fd, 4)
    if header is None:
        return None
    return _read_exactly(fd, int.from_bytes(header, "big"))


def _read_exactly(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _warm_up(store, job_waiting) -> None:
    """Run a tiny fit through the steps on a job's path to its result (decode, fit,
    summary) so that the pages they touch are this process's own before the job arrives.
    Nothing of it is stored; a failure here only leaves the spare cold."""
    try:
        store.redis.ping()
        rehearsal.rehearse(job_waiting, session=False)
    except Exception:  # noqa: BLE001, S110 - warming up is an optimisation, never an error
        pass
