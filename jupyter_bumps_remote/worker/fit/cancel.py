"""Cooperative cancel: a local flag that bumps' abort_test reads every iteration for free.

The pool process watches the job record and, on a cancel request or at the soft time limit,
sends a cancel message down the pipe; a thread here reads it and sets the flag. A drain
request (the worker stops) is read here too: the fit's checkpoint monitor sends a last
checkpoint, then the flag stops the fit (checkpoint.py).
"""

from __future__ import annotations

import json
import queue
import threading

from . import frames


class CancelFlag:
    def __init__(self):
        self._flag = threading.Event()
        self.reason: str | None = None
        # the worker drains: the fit checkpoints, stops, and sends no outcome
        self.drain_requested = threading.Event()
        self.drained = False  # the last checkpoint is sent: the fit stops now
        self.checkpoints = False  # whether the fit checkpoints (DREAM, DE)

    def __call__(self) -> bool:
        return self._flag.is_set() or self.drained

    def set(self, reason: str) -> None:
        if not self._flag.is_set():
            self.reason = reason
            self._flag.set()


def listen(fd: int, flag: CancelFlag) -> threading.Thread:
    """Read cancel messages from the pool process's pipe for the rest of the fit."""
    return JobPipe(fd, flag).thread


class JobPipe:
    """The pipe from the pool process, read on a thread for the rest of the process's life:
    cancel and drain requests set the running job's flag; a next job (a fit process that
    serves several of one owner in a row) is queued for `next_job`, with a fresh flag that
    later requests go to."""

    def __init__(self, fd: int, flag: CancelFlag):
        self.fd = fd
        self.flag = flag  # the running job's
        self._jobs: queue.SimpleQueue[tuple[dict, bytes | None, bytes, CancelFlag] | None] = (
            queue.SimpleQueue()
        )
        self.thread = threading.Thread(target=self._read, name="cancel-listener", daemon=True)
        self.thread.start()

    def next_job(self) -> tuple[dict, bytes | None, bytes, CancelFlag] | None:
        """(job, checkpoint to resume from, payload, its flag), once it has come; None when
        the pool process closed the pipe (it lets this process go)."""
        return self._jobs.get()

    def _read(self) -> None:
        try:
            while (frame := frames.receive(self.fd)) is not None:
                kind, body = frame
                flag = self.flag
                if kind == frames.CANCEL:
                    flag.set(body.decode(errors="replace") or "cancelled")
                elif kind == frames.DRAIN:
                    flag.drain_requested.set()
                    if not flag.checkpoints:  # nothing to keep: stop now, start again later
                        flag.drained = True
                elif kind == frames.JOB and not self._next(json.loads(body)):
                    break
        except (OSError, ValueError, frames.ProtocolError):
            pass  # the pool process is gone: this process dies with it (PDEATHSIG)
        self._jobs.put(None)

    def _next(self, job: dict) -> bool:
        """Read the rest of the next job (its checkpoint if it says one follows, its
        payload) and queue it; False if the pipe ended first."""
        saved = frames.receive(self.fd, limit=1 << 32) if job.get("resume") else None
        payload = frames.receive(self.fd, limit=1 << 32)
        if payload is None or (job.get("resume") and saved is None):
            return False
        self.flag = CancelFlag()  # requests from now on are the next job's
        self._jobs.put((job, saved[1] if saved else None, payload[1], self.flag))
        return True
