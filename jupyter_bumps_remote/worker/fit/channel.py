"""What a fit process sends its pool process, which writes it into the job's keys: the only
way out of a fit process (docs/design.md#what-a-fit-sends-back)."""

from __future__ import annotations

import ctypes
import json
import sys
import threading
from typing import Any

from . import frames


class Channel:
    def __init__(self, fd: int):
        self.fd = fd
        self._lock = threading.Lock()  # a mapper's thread may print while the fit sends
        self.last_outcome: str | None = None  # of the job that ran last

    def progress(self, data: dict[str, Any]) -> None:
        self._send(frames.PROGRESS, _json(data))

    def checkpoint(self, data: bytes) -> None:
        self._send(frames.CHECKPOINT, data)

    def result(self, summary: dict[str, Any] | bytes) -> None:
        """The summary, or its JSON already written (shared/fast_json.py)."""
        self._send(frames.RESULT, summary if isinstance(summary, bytes) else _json(summary))

    def outcome(
        self,
        outcome: str,
        max_time: bool = False,
        error: dict | None = None,
        recipe: dict[str, Any] | None = None,
    ) -> None:
        """completed, cancelled or failed (with `error`). Everything printed so far goes
        first, so that the job's output precedes its end in its event stream. `recipe`: the
        session file's (`session_recipe`), sent with it in one write, so that the pool
        process stores the job's end and the recipe in one round trip."""
        flush_output()
        self.last_outcome = outcome
        message = _json({"outcome": outcome, "max_time": max_time, "error": error})
        if recipe is None:
            self._send(frames.OUTCOME, message)
            return
        with self._lock:
            frames.send_together(
                self.fd, [(frames.OUTCOME, message), (frames.RECIPE, _recipe_json(recipe))]
            )

    def session(self, data: bytes) -> None:
        self._send(frames.SESSION, data)

    def session_recipe(self, recipe: dict[str, Any]) -> None:
        """What builds the session file later, sent instead of the file (results.py)."""
        self._send(frames.RECIPE, _recipe_json(recipe))

    def no_session(self, why: str) -> None:
        self._send(frames.NO_SESSION, why.encode())

    def done(self, clean: bool) -> None:
        """This job is over (its session file or why there is none is sent) and this
        process waits for its next; `clean`: nothing its code started runs on (no thread,
        no process) and it has room for another (spare_child.room_for_another_job), so the
        pool process may hand it another job of the same owner."""
        flush_output()
        self._send(frames.DONE, _json({"clean": clean}))

    def _send(self, kind: bytes, body: bytes) -> None:
        with self._lock:
            frames.send(self.fd, kind, body)


def _recipe_json(recipe: dict[str, Any]) -> bytes:
    # NaN and infinities as Python's json writes them: a convergence row may hold them, and
    # the worker that builds the file reads them back with Python's json
    return json.dumps(recipe, separators=(",", ":")).encode()


def flush_output() -> None:
    """Python's buffers, then C's (stdio buffers a pipe fully: a model's printf would wait
    for the process's exit)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed or replaced by the model
            pass
    if _C_FFLUSH is not None:
        _C_FFLUSH(None)


def _c_fflush() -> Any:
    """C's fflush, looked up once per process (the fit launcher's, inherited by its forks):
    `ctypes.CDLL(None)` at each call opened the C library again, twice a job (the outcome,
    then DONE), ~0.08 ms of a sweep member's fit process CPU together."""
    try:
        return ctypes.CDLL(None).fflush
    except (OSError, AttributeError):  # not a C library with stdio: nothing buffered there
        return None


_C_FFLUSH = _c_fflush()


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
