"""A fit process forked and warmed up before its job arrives, and its pipes.

A fit process forked at delivery time paid, on every job, for the fork itself and then for
its first pass through the fit's code: every page it writes is copied from the worker
process. For a tiny fit that was most of its time on the worker. A spare pays that while
the worker is idle: it is forked when its pool process starts and after each job, lets go
of its pool process's connections (forget.py) and enters the fit sandbox (its own user, no
network, nothing inherited but its pipes: fit/sandbox.py), runs a small built-in fit
through the steps before a job's result (decode, fit, summary) unless its pool process
expects the next job at once, then waits on a pipe for its job. The worker's main process
ran the whole rehearsal, session file included, before the pool forked, so even a spare
that skipped its own finds bumps' lazy imports and caches done (warm.py). Each job still
gets a process of its own, so a crash or a limit kills that job only
(docs/reliability.md#1-fit-process-killed, #22-hostile-problems).

Four pipes join the two: the job and cancel requests go down one; what the fit sends back
(frames.py) comes up another; the fit's stdout and stderr are the last two.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import threading
from collections.abc import Callable

from ...shared.settings import WorkerSettings
from ..fit import fit_process, frames, model_caches, rehearsal, sandbox, stdio
from ..fit.cancel import CancelFlag, listen
from ..fit.channel import Channel
from ..fit.fit_process import error_of
from ..fit.fit_settings import FitSettings
from . import leftovers

_F_SETPIPE_SZ = 1031
# A session file of a small fit in one or two reads rather than sixteen (Linux' default
# pipe holds 64 KiB; an unprivileged process may raise it to 1 MiB).
MESSAGE_PIPE_BYTES = 1 << 20


class SpareFitProcess:
    """The pool process's handle: the spare's pid and the pool process's ends of its pipes
    (`to_fit`, `messages`, `stdout`, `stderr`; all but the first non-blocking)."""

    def __init__(self, pid: int, to_fit: int, messages: int, stdout: int, stderr: int):
        self.pid = pid
        self.to_fit, self.messages, self.stdout, self.stderr = to_fit, messages, stdout, stderr
        self.pidfd = _pidfd(pid)  # readable once the process has exited
        self._status: int | None = None  # set once reaped
        self._lock = threading.Lock()  # the relay and the runner both may send a cancel

    @classmethod
    def fork(
        cls,
        settings: WorkerSettings,
        rehearse: bool = True,
        forget: Callable[[], None] = lambda: None,
    ) -> SpareFitProcess:
        """`rehearse=False` when a job is expected at once (a backlog in the queue): the
        rehearsal would then only take CPU that the jobs need. `forget()` runs first in the
        child: it drops what the pool process holds that a fit must not (its Redis
        clients)."""
        job_r, job_w = os.pipe()
        messages_r, messages_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(messages_r, _F_SETPIPE_SZ, MESSAGE_PIPE_BYTES)
        pid = os.fork()
        if pid == 0:  # the spare
            code = 1
            try:
                for fd in (job_w, messages_r, stdout_r, stderr_r):
                    os.close(fd)
                ends = _ChildEnds(job_r, messages_w, stdout_w, stderr_w)
                code = _serve_one_job(settings, ends, rehearse, forget)
            finally:
                os._exit(code)
        for fd in (job_r, messages_w, stdout_w, stderr_w):
            os.close(fd)
        for fd in (messages_r, stdout_r, stderr_r):
            os.set_blocking(fd, False)
        leftovers.own_group(pid)  # the fit's group exists before it can fork anything
        return cls(pid, job_w, messages_r, stdout_r, stderr_r)

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

    def hand_over(self, job: dict, payload: bytes, saved: bytes | None = None) -> bool:
        """Give the spare its job: what it needs to fit (fitter, options, seed, encoding),
        the checkpoint to resume from if any, and the problem's payload, nothing else.
        False if it is gone."""
        try:
            if not self.alive():
                return False
            with self._lock:
                job = {**job, "resume": saved is not None}
                frames.send(self.to_fit, frames.JOB, json.dumps(job).encode())
                if saved is not None:
                    frames.send(self.to_fit, frames.RESUME, saved)
                frames.send(self.to_fit, frames.PAYLOAD, payload)
                # from now on the fit's code runs: a cancel must never wait on it
                os.set_blocking(self.to_fit, False)
            return True
        except OSError:  # BrokenPipeError: it died just now
            return False

    def cancel(self, reason: str) -> None:
        """Ask the fit to stop and keep its best point (a few bytes: a pipe takes them at
        once, or the fit is beyond asking and the time limit ends it)."""
        with self._lock, contextlib.suppress(OSError):
            frames.send(self.to_fit, frames.CANCEL, reason.encode())

    def drain(self) -> None:
        """Ask the fit for a last checkpoint, after which it exits without an outcome."""
        with self._lock, contextlib.suppress(OSError):
            frames.send(self.to_fit, frames.DRAIN)

    def close(self) -> None:
        """Close the pool process's ends (once the fit is gone)."""
        for name in ("to_fit", "messages", "stdout", "stderr", "pidfd"):
            fd = getattr(self, name)
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1 if name != "pidfd" else None)


class _ChildEnds:
    def __init__(self, job: int, messages: int, stdout: int, stderr: int):
        self.job, self.messages, self.stdout, self.stderr = job, messages, stdout, stderr

    def all(self) -> set[int]:
        return {self.job, self.messages, self.stdout, self.stderr}


def sandbox_settings(settings: WorkerSettings) -> sandbox.SandboxSettings:
    """The fit sandbox as the worker's settings ask: its limits (0: none), the sandbox's
    defaults for the rest."""
    return sandbox.SandboxSettings(
        fit_user=settings.fit_user or None,
        fit_uid_base=settings.fit_uid_base,
        max_memory_mb=settings.max_memory_mb,
        max_cpu_seconds=settings.max_cpu_seconds,
        max_processes=settings.max_processes,
        readable_paths=model_caches.worker_caches() + settings.readable_paths(),
    )


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # Linux before 5.3: the relay polls the exit instead
        return None


def _serve_one_job(
    settings: WorkerSettings, ends: _ChildEnds, rehearse: bool, forget: Callable[[], None]
) -> int:
    fit_settings = FitSettings.of(settings)
    forget()
    fit_process.become_fit_process()
    try:
        confined = sandbox.enter(sandbox_settings(settings), ends.all())
    except sandbox.SandboxError as e:
        return _refuse(ends, e)
    model_caches.use_home(confined.home)
    stdio.detach()
    if rehearse:
        _warm_up(job_waiting=lambda: bool(select.select([ends.job], [], [], 0)[0]))
    job, saved, payload = _receive_job(ends.job)
    if job is None or payload is None:  # the pool process closed the pipe without a job
        return 0
    stdio.connect(ends.stdout, ends.stderr)
    stop = CancelFlag()
    listen(ends.job, stop)
    channel = Channel(ends.messages)
    return fit_process.main(fit_settings, channel, stop, job, payload, saved)


def _receive_job(fd: int) -> tuple[dict | None, bytes | None, bytes | None]:
    """The job, the checkpoint it resumes from (if it says one follows), its payload."""
    frame = frames.receive(fd)
    if frame is None:
        return None, None, None
    job = json.loads(frame[1])
    saved = frames.receive(fd, limit=1 << 32) if job.get("resume") else None
    payload = frames.receive(fd, limit=1 << 32)
    return job, (saved[1] if saved else None), (payload[1] if payload else None)


def _refuse(ends: _ChildEnds, error: sandbox.SandboxError) -> int:
    """No sandbox, no fit: the job fails saying why, its payload unread."""
    job, _, _ = _receive_job(ends.job)
    if job is not None:
        Channel(ends.messages).outcome("failed", error=error_of(error))
    return 0


def _warm_up(job_waiting) -> None:
    """Run a tiny fit through the steps on a job's path to its result (decode, fit,
    summary) so that the pages they touch are this process's own before the job arrives.
    Nothing of it is sent; a failure here only leaves the spare cold."""
    try:
        rehearsal.rehearse(job_waiting, session=False)
    except Exception:  # noqa: BLE001, S110 - warming up is an optimisation, never an error
        pass
