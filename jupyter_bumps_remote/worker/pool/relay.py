"""The pool process's side of a running fit: read what its fit process sends and writes
(messages, stdout, stderr) until it exits, and store it through the job's Recorder.

It runs on a thread of its own, so that Celery's soft time limit, an exception raised in
the pool process's main thread, never interrupts a write to Redis halfway; the main thread
waits for it and turns the time limit into a cancel (runner.py).
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import threading
import time
from collections import deque

from ...store import LOST_RUN
from ..fit import frames
from ..fit.fit_process import too_large
from ..fit.progress import FIRST_EVENT_AFTER
from .output import OutputCapture
from .recorder import BadMessage, Recorder
from .spare import SpareFitProcess
from .ticker import worker

log = logging.getLogger(__name__)
READ_SIZE = 1 << 16
# What a pipe holds at most: the message pipe is raised to 1 MiB (spare.py), the output
# pipes keep Linux' 64 KiB.
MAX_DRAIN = 1 << 20
# How often the exit of a fit is polled where there is no pidfd (Linux before 5.3).
EXIT_POLL = 0.05
# Progress the fit sends this soon after the relay starts is held until then: a fit that
# ends sooner (a tiny one, a sweep's) stores it with its end, not in a round trip of its own
# (one of five per tiny fit: docs/design.md#what-a-fit-sends-back). A live panel sees a
# longer fit's first progress at most this much later. The fit's own monitor waits as long
# before its first event (progress.py), so this holds only what a fit sends on its own.
PROGRESS_HOLD = FIRST_EVENT_AFTER
# What may follow a fit's outcome, stored with it when it is already read
SESSION_KINDS = (frames.SESSION, frames.RECIPE, frames.NO_SESSION)


class Relay:
    def __init__(
        self,
        process: SpareFitProcess,
        recorder: Recorder,
        max_session_bytes: int,
        output_limit: int,
        reuse: bool = False,
    ):
        """`reuse`: the fit was told it may serve another job, and says when it is done
        with this one rather than exit."""
        self.process, self.recorder = process, recorder
        self.reuse = reuse
        self.max_session_bytes = max_session_bytes
        self.output = OutputCapture(output_limit)
        self.frames = frames.FrameReader(process.messages, self._limit)
        self.cancel_reason: str | None = None
        self.draining = False  # the worker stops: the fit checkpoints and exits
        self.lost_run = False  # the record is gone or ended under the fit: store nothing
        self.broken: str | None = None  # what the fit sent that the protocol forbids
        self.error: BaseException | None = None  # Redis away past patience, or a bug here
        self._done = False  # nothing more to read of the fit's messages
        # the fit said it is done with this job and waits for the next (its job said
        # `reuse`); `clean`: nothing of the job's code runs on in it
        self.job_done = False
        self.clean = False
        self._ending = False  # the fit's outcome is being stored: a cancel is too late
        self._hold_until = 0.0  # progress until then is held (PROGRESS_HOLD)
        self._held_due: float | None = None  # when the progress held is stored
        self._read_error: frames.ProtocolError | None = None  # read ahead of its turn
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self.started = False

    def start(self) -> Relay:
        """Relay on the pool process's relay thread (one for all its jobs: ticker.py), which
        the runner waits for before its next job (runner._run)."""
        self._hold_until = time.monotonic() + PROGRESS_HOLD
        self.started = True
        worker("bumps-relay").run(self._run)
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Until the relay has ended (True), or `timeout` seconds (False). Interruptible by
        the soft time limit's exception (an Event, not Thread.join, which on Python 3.11
        then marks the running thread as stopped)."""
        return not self.started or self._ended.wait(timeout)

    def drain(self) -> None:
        """The worker stops: ask the fit for a last checkpoint, after which it exits with no
        outcome (unless it ended meanwhile, when its outcome stands)."""
        with self._lock:
            if self._ending:
                return
            self.draining = True
        self.process.drain()

    @property
    def running(self) -> bool:
        return self.started and not self._ended.is_set()

    def cancel(self, reason: str) -> None:
        """Stop the fit, keeping its best point (a cancel request, the soft time limit), or
        for `LOST_RUN` storing nothing of it."""
        with self._lock:
            if self._ending:
                return
            if reason == LOST_RUN:
                self.lost_run = self.recorder.discard = True
            if self.cancel_reason is not None:
                return
            self.cancel_reason = reason
        self.process.cancel(reason)

    def kill(self) -> None:
        try:
            os.kill(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    # -- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._relay()
        except BaseException as e:  # noqa: BLE001 - handed to the runner, which raises it
            self.error = e
            self.kill()
            log.exception("relaying fit process %s failed", self.process.pid)
        finally:
            self._ended.set()

    def _relay(self) -> None:
        process = self.process
        streams = {process.messages: "", process.stdout: "stdout", process.stderr: "stderr"}
        exited = False
        while not exited and not self.job_done:
            now = time.monotonic()
            timeout = self.output.due_in(now)
            if self._held_due is not None:
                held_in = max(0.0, self._held_due - now)
                timeout = held_in if timeout is None else min(timeout, held_in)
            watch = list(streams)
            if process.pidfd is not None:
                watch.append(process.pidfd)
            else:
                timeout = EXIT_POLL if timeout is None else min(timeout, EXIT_POLL)
            ready = select.select(watch, [], [], timeout)[0]
            now = time.monotonic()
            for fd in ready:
                if fd == process.pidfd:
                    exited = True
                elif fd not in streams:
                    continue  # ended earlier in this round (the outcome drains stdout)
                elif fd == process.messages:
                    self._messages(streams, now)
                else:
                    self._output(fd, streams, now)
            if process.pidfd is None and not process.alive():
                exited = True
            if not exited:
                self._store_output(now)
                if self._held_due is not None and now >= self._held_due:
                    self._held_due = None
                    self.recorder.flush_held()
        # Whatever it wrote before it exited (or said it is done) is in the pipes (its
        # children may still hold them open: read what is there, wait for nothing more).
        for fd in list(streams):
            self._drain(fd, streams)
        self._store_output(time.monotonic(), everything=True)

    def _drain(self, fd: int, streams: dict[int, str]) -> None:
        """Read what the pipe holds now: a pipe holds at most MAX_DRAIN bytes, so a process
        still writing to it (a child the fit left behind) cannot keep this reading."""
        for _ in range(MAX_DRAIN // READ_SIZE + 1):
            if fd not in streams or not self._readable(fd):
                return
            if fd == self.process.messages:
                self._messages(streams, time.monotonic())
            else:
                self._output(fd, streams, time.monotonic())

    @staticmethod
    def _readable(fd: int) -> bool:
        return bool(select.select([fd], [], [], 0)[0])

    def _output(self, fd: int, streams: dict[int, str], now: float) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        if not data:
            del streams[fd]
        else:
            self.output.feed(streams[fd], data, now)

    def _store_output(self, now: float, everything: bool = False, patient: bool = False):
        events = self.output.take(now, everything)
        if events or patient:
            self.recorder.output(events, patient=patient)

    def _messages(self, streams: dict[int, str], now: float) -> None:
        try:
            pending = deque(self.frames.read())
            while pending:
                kind, body = pending.popleft()
                if self._done and not (kind == frames.DONE and self.reuse and not self.job_done):
                    raise BadMessage(f"a {kind.decode(errors='replace')!r} message after its last")
                self._message(kind, body, streams, now, pending)
                if not pending and self._read_error is not None:
                    error, self._read_error = self._read_error, None
                    raise error
        except frames.ProtocolError as e:
            if e.kind in (frames.SESSION, frames.RECIPE) and self.recorder.session_pending:
                # too large to read: the job stands, without its session file
                self.recorder.session(None, too_large(e.size, self.max_session_bytes))
                self._stop_reading(streams)
            else:
                self._break(str(e), streams)
        except BadMessage as e:
            self._break(str(e), streams)
        if self.frames.ended:
            streams.pop(self.process.messages, None)

    def _message(
        self,
        kind: bytes,
        body: bytearray,
        streams: dict[int, str],
        now: float,
        pending: deque[tuple[bytes, bytearray]],
    ):
        """`pending`: the messages read after it, not yet handled."""
        recorder = self.recorder
        if kind == frames.PROGRESS:
            if now < self._hold_until and not recorder.has_result:
                recorder.progress(body, hold=True)
                self._held_due = self._hold_until
            else:
                recorder.progress(body)
        elif kind == frames.CHECKPOINT:
            if recorder.has_result and not recorder.session_pending:
                # between the result and the outcome, or after the session file
                raise BadMessage("a checkpoint after the result")
            recorder.checkpoint(body)
        elif kind == frames.RESULT:
            if recorder.has_result or recorder.finished:
                raise BadMessage("a second result")
            recorder.result(body)
        elif kind == frames.OUTCOME:
            if recorder.finished:
                raise BadMessage("a second outcome")
            # its output goes first: read what it printed before this, store it all
            for fd in (self.process.stdout, self.process.stderr):
                self._drain(fd, streams)
            self._store_output(now, everything=True, patient=True)
            with self._lock:
                self._ending = True
            # the session file (its recipe, or why there is none) if it is here already:
            # stored with the end, in one round trip
            if not pending:
                pending.extend(self._read_ahead())
            if pending and pending[0][0] in SESSION_KINDS:
                if recorder.outcome(body, self.cancel_reason, then=pending[0]):
                    pending.popleft()  # stored
            else:
                recorder.outcome(body, self.cancel_reason)
            self._done = not recorder.session_pending
            if recorder.discard:  # the job is no longer this run's: its session file neither
                self._stop_reading(streams)
        elif kind == frames.SESSION:
            recorder.session(body)
            self._done = True
        elif kind == frames.RECIPE:
            recorder.recipe(body)
            self._done = True
        elif kind == frames.NO_SESSION:
            recorder.session(None, body.decode(errors="replace"))
            self._done = True
        elif kind == frames.DONE:
            if not self.reuse:
                raise BadMessage("a job's end, not asked for")
            if not recorder.finished or recorder.session_pending:
                raise BadMessage("a job's end before its outcome and session file")
            self._done = self.job_done = True
            self.clean = _object_of(body).get("clean") is True

    def _read_ahead(self) -> list[tuple[bytes, bytearray]]:
        """The messages the pipe holds now; an error in them (a session file over its
        limit) waits until the messages before it are handled."""
        if self.frames.ended:
            return []
        try:
            return self.frames.read()
        except frames.ProtocolError as e:
            self._read_error = e
            return []

    def _break(self, what: str, streams: dict[int, str]) -> None:
        """The fit sent what the protocol forbids: stop it; the runner records why."""
        self.broken = what
        log.warning("fit process %s stopped: it sent %s", self.process.pid, what)
        self._stop_reading(streams)

    def _stop_reading(self, streams: dict[int, str]) -> None:
        self._done = True
        streams.pop(self.process.messages, None)
        self.kill()

    def broken_error(self) -> dict | None:
        if self.broken is None:
            return None
        return {
            "type": "FitProcessMisbehaved",
            "message": f"the fit process broke the protocol of its pipe to the worker (it "
            f"sent {self.broken}) and was stopped: does the model write into descriptors it "
            f"did not open?",
            "traceback": "",
        }

    def _limit(self, kind: bytes) -> int:
        # a checkpoint: the same state; a recipe stands for the file
        if kind in (frames.SESSION, frames.CHECKPOINT, frames.RECIPE):
            return self.max_session_bytes
        return frames.MAX_MESSAGE


def _object_of(body: bytes | bytearray) -> dict:
    try:
        value = json.loads(body)
    except ValueError:
        raise BadMessage("a job's end that is not JSON") from None
    if not isinstance(value, dict):
        raise BadMessage("a job's end that is not a JSON object")
    return value
