"""Cooperative cancel: a local flag that bumps' abort_test reads every iteration for free.

The pool process watches the job record and, on a cancel request or at the soft time limit,
sends a cancel message down the pipe; a thread here reads it and sets the flag. A drain
request (the worker stops) is read here too: the fit's checkpoint monitor sends a last
checkpoint, then the flag stops the fit (checkpoint.py).
"""

from __future__ import annotations

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

    def read() -> None:
        try:
            while (frame := frames.receive(fd)) is not None:
                kind, body = frame
                if kind == frames.CANCEL:
                    flag.set(body.decode(errors="replace") or "cancelled")
                elif kind == frames.DRAIN:
                    flag.drain_requested.set()
                    if not flag.checkpoints:  # nothing to keep: stop now, start again later
                        flag.drained = True
        except (OSError, frames.ProtocolError):
            pass  # the pool process is gone: this process dies with it (PDEATHSIG)

    thread = threading.Thread(target=read, name="cancel-listener", daemon=True)
    thread.start()
    return thread
