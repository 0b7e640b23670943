"""A fit process forked and warmed up before its job arrives, and its pipes.

A fit process forked at delivery time paid, on every job, for the fork itself and then for
its first pass through the fit's code: every page it writes is copied from the process it
was forked from. For a tiny fit that was most of its time on the worker. A spare pays that
while the worker is idle: one is forked for each pool process when it starts and after each
job, by the worker's fit launcher (worker/fit/launcher.py: a warm process that never sees a
job nor holds a credential, so that a fit's memory holds nothing of earlier jobs), and runs
worker/fit/spare_child.py: it enters the fit sandbox (its own user, no network, nothing
inherited but its pipes: fit/sandbox.py), runs a small built-in fit through the steps before
a job's result (decode, fit, summary) unless its pool process expects the next job at once,
then waits on a pipe for its job. The launcher ran the whole rehearsal, session file
included, before it served, so even a spare that skipped its own finds bumps' lazy imports
and caches done (fit/warm.py). Each job still gets a process of its own, so a crash or a
limit kills that job only (docs/reliability.md#1-fit-process-killed, #22-hostile-problems).

While the launcher does not answer (it died and is being restarted) a pool process forks
its spare itself, after letting go of its connections in the child (forget.py), and says
so once in the log.

Four pipes join the two: the job and cancel requests go down one; what the fit sends back
(frames.py) comes up another; the fit's stdout and stderr are the last two.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable

from ...shared.settings import WorkerSettings
from ..fit import frames, process_tree, spare_child
from ..fit.fit_settings import FitSettings
from ..fit.spare_child import MESSAGE_PIPE_BYTES  # noqa: F401 - where it was
from . import leftovers

log = logging.getLogger(__name__)
# The fit launcher's socket (worker/fit/launcher.py), set by the worker's main process
# before the pool forks; None: this process forks its spares itself.
_launcher_path: str | None = None
_launcher_failing = False  # said once, loudly, until it answers again
# The launcher starts listening before it warms up (a restart after a crash): a request
# waits for it that long, then this process forks the spare itself.
LAUNCHER_CONNECT_SECONDS = 5.0
LAUNCHER_REPLY_SECONDS = 60.0
RELEASE_SECONDS = 30.0
REQUEST_SECONDS = 10.0


def use_launcher(path: str | None) -> None:
    """Fork spares from the fit launcher listening at `path` (None: from this process)."""
    global _launcher_path
    _launcher_path = path


class SpareFitProcess:
    """The pool process's handle: the spare's pid and the pool process's ends of its pipes
    (`to_fit`, `messages`, `stdout`, `stderr`; all but the first non-blocking)."""

    def __init__(
        self,
        pid: int,
        to_fit: int,
        messages: int,
        stdout: int,
        stderr: int,
        launcher: socket.socket | None = None,
    ):
        self.pid = pid
        self.to_fit, self.messages, self.stdout, self.stderr = to_fit, messages, stdout, stderr
        self.pidfd = _pidfd(pid)  # readable once the process has exited
        self._status: int | None = None  # set once reaped
        self._lock = threading.Lock()  # the relay and the runner both may send a cancel
        # the connection to the launcher that forked it (None: this process's child)
        self._launcher = launcher
        self._replies = bytearray()
        self._status_lock = threading.Lock()

    @classmethod
    def fork(
        cls,
        settings: WorkerSettings,
        rehearse: bool = True,
        forget: Callable[[], None] = lambda: None,
    ) -> SpareFitProcess:
        """`rehearse=False` when a job is expected at once (a backlog in the queue): the
        rehearsal would then only take CPU that the jobs need. Forked by the fit launcher;
        by this process only while the launcher cannot answer, and then `forget()` runs
        first in the child: it drops what the pool process holds that a fit must not (its
        Redis clients)."""
        if _launcher_path is not None:
            spare = _from_launcher(_launcher_path, rehearse)
            if spare is not None:
                return spare
        parent_ends, child_ends = spare_child.pipes()
        pid = os.fork()
        if pid == 0:  # the spare
            code = 1
            try:
                for fd in parent_ends:
                    os.close(fd)
                code = spare_child.serve_one_job(
                    FitSettings.of(settings),
                    sandbox_settings(settings),
                    child_ends,
                    rehearse,
                    forget,
                )
            finally:
                os._exit(code)
        for fd in child_ends.all():
            os.close(fd)
        for fd in parent_ends[1:]:
            os.set_blocking(fd, False)
        leftovers.own_group(pid)  # the fit's group exists before it can fork anything
        return cls(pid, *parent_ends)

    def alive(self) -> bool:
        if self._status is None:
            if self._launcher is None:
                done, status = os.waitpid(self.pid, os.WNOHANG)
                if done:
                    self._status = status
            elif self.pidfd is not None:
                if select.select([self.pidfd], [], [], 0)[0]:  # it has exited
                    self.wait()
            else:
                with self._status_lock:
                    if self._status is None:
                        self._status = self._ask_launcher("poll").get("status")
        return self._status is None

    def wait(self) -> int:
        """Its wait status (os.waitpid's) once it has exited."""
        with self._status_lock:
            if self._status is None:
                if self._launcher is None:
                    self._status = os.waitpid(self.pid, 0)[1]
                else:
                    self._status = int(self._ask_launcher("wait")["status"])
            status = self._status
        return status

    def hand_over(self, job: dict, payload: bytes, saved: bytes | None = None) -> bool:
        """Give the spare its job: what it needs to fit (fitter, options, seed, encoding),
        the checkpoint to resume from if any, and the problem's payload, nothing else.
        False if it is gone."""
        try:
            if not self.alive():
                return False
            with self._lock:
                # (a kept fit process: non-blocking since its last job, but a payload
                # larger than the pipe holds must wait for the fit to read it)
                os.set_blocking(self.to_fit, True)
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
        """Close the pool process's ends (once the fit is gone); the launcher kills and
        reaps whatever the fit left behind before it answers."""
        if self._launcher is not None:
            with contextlib.suppress(OSError, ValueError, KeyError):
                self._launcher.settimeout(RELEASE_SECONDS)
                self._ask_launcher("release")
            self._launcher.close()
            self._launcher = None
        for name in ("to_fit", "messages", "stdout", "stderr", "pidfd"):
            fd = getattr(self, name)
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1 if name != "pidfd" else None)

    def _ask_launcher(self, op: str) -> dict:
        """Send `op` to the launcher and read its answer. A launcher gone (killed, crashed)
        took its spares with it (their PR_SET_PDEATHSIG): once this one is gone too, the
        answer is that it was killed."""
        conn = self._launcher
        assert conn is not None
        try:
            if op != "release":
                conn.settimeout(None if op == "wait" else REQUEST_SECONDS)
            conn.sendall(json.dumps({"op": op}).encode() + b"\n")
            return json.loads(process_tree.read_line(conn, self._replies))
        except (OSError, ValueError) as e:
            if op == "release":
                raise
            log.error("the fit launcher did not answer about fit process %s: %s", self.pid, e)
            _wait_gone(self.pid, self.pidfd)
            return {"status": signal.SIGKILL}  # the wait status of a process SIGKILLed


def sandbox_settings(settings: WorkerSettings):
    """The fit sandbox as the worker's settings ask: its limits (0: none), the sandbox's
    defaults for the rest."""
    return spare_child.sandbox_settings(**sandbox_fields(settings))


def sandbox_fields(settings: WorkerSettings) -> dict:
    """What of the worker's settings the fit sandbox takes (JSON: the launcher reads it)."""
    return {
        "fit_user": settings.fit_user or None,
        "fit_uid_base": settings.fit_uid_base,
        "max_memory_mb": settings.max_memory_mb,
        "max_cpu_seconds": settings.max_cpu_seconds,
        "max_processes": settings.max_processes,
        "readable_paths": list(settings.readable_paths()),
    }


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # Linux before 5.3: the relay polls the exit instead
        return None


def _from_launcher(path: str, rehearse: bool) -> SpareFitProcess | None:
    """A spare forked by the fit launcher, or None (said once, loudly) if it cannot answer:
    the caller then forks the spare itself, so that jobs keep running, with what this
    process's memory holds."""
    global _launcher_failing
    fds: list[int] = []
    conn = None
    try:
        conn = _connect(path, time.monotonic() + LAUNCHER_CONNECT_SECONDS)
        conn.settimeout(LAUNCHER_REPLY_SECONDS)
        conn.sendall(json.dumps({"op": "fork", "rehearse": rehearse}).encode() + b"\n")
        data, fds, _, _ = socket.recv_fds(conn, 4096, 4)
        reply = json.loads(data)
        if "pid" not in reply or len(fds) != 4:
            raise OSError(reply.get("error") or f"an answer without a fit process: {reply!r}")
    except (OSError, ValueError) as e:
        for fd in fds:
            os.close(fd)
        if conn is not None:
            conn.close()
        if not _launcher_failing:
            log.error(
                "the fit launcher does not answer (%s): this pool process forks its fit "
                "processes itself until it does, and a fit's memory is then a copy of this "
                "process's, earlier jobs' data included (docs/design.md#what-a-fit-process-holds)",
                e,
            )
            _launcher_failing = True
        return None
    if _launcher_failing:
        log.warning("the fit launcher answers again: fit processes fork from it")
        _launcher_failing = False
    for fd in fds[1:]:
        os.set_blocking(fd, False)
    return SpareFitProcess(reply["pid"], *fds, launcher=conn)


def _connect(path: str, deadline: float) -> socket.socket:
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(path)
            return conn
        except OSError as e:
            conn.close()
            # no socket yet, or none listening on it: a launcher being restarted
            if e.errno not in (errno.ENOENT, errno.ECONNREFUSED) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _wait_gone(pid: int, pidfd: int | None) -> None:
    """Until the process `pid` (not a child of this one) has exited."""
    if pidfd is not None:
        select.select([pidfd], [], [])
        return
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:  # alive, as another user
            pass
        time.sleep(0.05)
