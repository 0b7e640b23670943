"""Writes what a fit process sends into its job's keys, and into no other.

The pool process calls it with the owner and job id it was delivered: nothing the fit
process sends names a key. Every field is checked or rebuilt here before it is stored, as it
comes from the user's code. While Redis is away a progress event is kept (its convergence
rows go with the next one) and output waits for the next write; the writes that end the job
are retried (redis_outage.py).

The fit's end costs one round trip: its result and the last progress event that follows it
wait for its outcome, and go with it in one script (store.finish, lua/end_run.lua); the
record kept from the job's start names the job in its status event. A fit that ends without
an outcome has them stored with its failure; a drained one before it goes back to its queue.
Progress that comes early in a run may be held (`progress(body, hold=True)`) until the relay
says it is due: a fit that ends meanwhile (a tiny one) stores it with its end, its rows in
the last event, instead of in a round trip of its own. The session file (or its recipe, or
why there is none), the run's last write, goes in one round trip with the release of the
run's lease (`release_with_session`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any, cast

import orjson
import redis.exceptions

from ...shared import jobs
from ...store import JobStore, transitions
from ...store.batch import Batch, OpGen, Script
from ...store.events import output as output_op
from ..fit import frames
from .redis_outage import REDIS_DOWN, retrying

log = logging.getLogger(__name__)
OUTCOMES = {"completed": jobs.SUCCEEDED, "cancelled": jobs.CANCELLED, "failed": jobs.FAILED}
# bounds of what a fit's error may put in the record
MAX_ERROR_TEXT = {"type": 200, "message": 20_000, "traceback": 200_000}


class BadMessage(ValueError):
    """A message of the fit process that is not what the protocol says."""


class Recorder:
    def __init__(
        self,
        store: JobStore,
        owner: str,
        job_id: str,
        token: str = "",
        checkpoint_gap=1.0,
        record: dict[str, Any] | None = None,
    ):
        self.store, self.owner, self.job_id = store, owner, job_id
        # the record as the run started it: its status events name the job (None: read)
        self.record = record
        # the run's token: what it writes is refused once another run has taken the job
        # over (lua/include/fence.lua); its checkpoints are stored under its lease only
        self.token = token
        self.checkpoint_gap = checkpoint_gap
        self._checkpointed = -math.inf
        self._pending_checkpoint: bytes | None = None
        self._end_checkpoint = False  # the one after the outcome is stored
        self.discard = False  # the job is no longer this run's: store nothing more
        self.refused = False  # the store refused the job's end: ended, or another run's
        self.summary: dict[str, Any] | None = None  # between the result and the outcome
        self.has_result = False
        self.finished = False  # the job's end is recorded
        self.session_pending = False  # ... and its session file is to follow
        self._rows: list = []  # convergence rows of progress events not stored
        self._output: list[dict[str, Any]] = []  # output events not stored
        # sent with the outcome: the result, and the progress event after it (data, summary)
        self._result: dict[str, Any] | None = None
        self._last_progress: tuple[dict[str, Any], dict[str, Any]] | None = None
        # a progress event held (`progress(hold=True)`) until `flush_held` or the fit's end;
        # its rows are in self._rows too, so that the next event carries them
        self._held: tuple[dict[str, Any], dict[str, Any]] | None = None
        # set by the runner: stops the lease's renewal and returns what makes the operation
        # that releases it (None: not this run's to release), sent with the session file
        self.release_with_session: Callable[[], Callable[[], OpGen[Any]] | None] | None = None

    # -- while the fit runs ---------------------------------------------------------------

    def progress(self, body: bytes | bytearray, hold: bool = False) -> None:
        """`hold`: keep it until `flush_held`, or the fit's end, which stores it with its
        last event (or as its last event); a later event takes its rows and replaces it."""
        data = _object(body, "progress")
        rows = data.get("rows")
        rows = rows if isinstance(rows, list) else []
        data["rows"] = self._rows + rows
        summary = {key: _number(data.get(key)) for key in ("step", "max_steps", "chisq")}
        summary["elapsed"] = _number(data.get("elapsed"))
        summary["final"] = data.get("final") is True
        if "resumed_from" in data:
            data["resumed_from"] = summary["resumed_from"] = _number(data["resumed_from"])
        if self.discard or self.finished:
            return
        self._rows = []
        self._held = None  # (its rows are in this one's)
        if self.has_result and self._last_progress is None:  # the fit's last: with its end
            self._last_progress = (data, summary)
            return
        if hold and not self.has_result:
            self._held, self._rows = (data, summary), list(data["rows"])
            return
        self._write_pending()  # (a fit that sends more after it: in order)
        self._write_progress(data, summary)

    def flush_held(self) -> None:
        """Store the progress event held, if any (its time is up)."""
        held, self._held = self._held, None
        if held is not None and not (self.discard or self.finished):
            self._rows = []
            self._write_progress(*held)

    def _last_progress_of_end(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """What the fit's end stores as its last progress event: its last, or the one held."""
        last, self._last_progress = self._last_progress, None
        held, self._held = self._held, None
        if last is None and held is not None:
            self._rows = []
            return held
        return last

    def _write_progress(self, data: dict[str, Any], summary: dict[str, Any]) -> None:
        try:
            self.store.progress(self.owner, self.job_id, data, summary, run=self.token)
        except REDIS_DOWN:
            self._rows = self._rows + data["rows"]  # sent with the next event

    def _write_pending(self) -> None:
        """Store the result and the progress event that wait for the outcome, each alone:
        the fit will send no outcome (a drain), or sent more progress after its last."""
        result, self._result = self._result, None
        last = self._last_progress_of_end()
        if self.discard:
            return
        if result is not None:
            retrying(self.store.put_result, self.owner, self.job_id, result, run=self.token)
        if last is not None:
            self._write_progress(*last)

    def flush_pending(self) -> None:
        """Before the job goes back to its queue without an outcome (a drain)."""
        if not self.finished:
            self._write_pending()

    def _end(self, status: str, session: dict[str, Any] | None = None, **fields: Any) -> bool:
        """The job's end, with what waits for it, in one round trip (retried while Redis
        is away): whether the store took it. `session`: `_put_session`'s arguments, the
        session file that follows, stored in the same round trip."""
        result, self._result = self._result, None
        ending: dict[str, Any] = {
            "run": self.token,
            "record": self.record,
            "result": result,
            "last_progress": self._last_progress_of_end(),
            **fields,
        }
        if session is None or self.record is None:  # (without the record, finish reads it)
            if session is not None:
                self.session_pending = True
            ended = retrying(self.store.finish, self.owner, self.job_id, status, **ending)
            if session is not None:
                self._put_session(**session)
            return ended

        def end() -> OpGen[bool]:
            return transitions.finish(
                self.store.settings, self.owner, self.job_id, status, **ending
            )

        return self._put_session(**session, after=end)[0]

    def checkpoint(self, body: bytes | bytearray, now: float | None = None) -> None:
        """The fitter's state, pickled: stored as bytes, never read here, for this job and
        this run only (lua/checkpoint.lua). At most one every `checkpoint_gap` seconds (a
        fit that sends more only replaces the one that waits: `flush_checkpoint`). One lost
        to a Redis outage waits for the next."""
        if self.discard or (self.finished and not self.session_pending):
            return
        now = time.monotonic() if now is None else now
        if self.finished and self._end_checkpoint:
            raise BadMessage("a second checkpoint after the outcome")
        self._pending_checkpoint = bytes(body)
        if self.finished:  # the fit's end state comes after its outcome, once
            self._end_checkpoint = True
            self.flush_checkpoint(now)
        elif now - self._checkpointed >= self.checkpoint_gap:
            self.flush_checkpoint(now)

    def flush_checkpoint(self, now: float | None = None) -> None:
        """Store the checkpoint that waits, if any (before the result, and when draining)."""
        data, self._pending_checkpoint = self._pending_checkpoint, None
        if data is None or self.discard:
            return
        self._checkpointed = time.monotonic() if now is None else now
        try:
            self.store.put_checkpoint(self.owner, self.job_id, self.token, data)
        except REDIS_DOWN:
            log.warning("job %s: checkpoint not stored (Redis away)", self.job_id)

    def output(self, events: list[dict[str, Any]], patient: bool = False) -> None:
        """Output events, in order; kept for the next call while Redis is away, or retried
        until it is back with `patient` (before the job's end)."""
        if self.discard or self.finished:
            return
        self._output += events
        if not self._output:
            return

        def write() -> None:
            self.store.run(
                output_op(
                    self.store.settings, self.owner, self.job_id, self._output, run=self.token
                )
            )

        try:
            retrying(write) if patient else write()
            self._output = []
        except REDIS_DOWN:
            if patient:
                raise

    # -- at its end -----------------------------------------------------------------------

    def result(self, body: bytes | bytearray) -> None:
        self.flush_checkpoint()  # the fit's last periodic one, before its end
        self.summary = _object(body, "result")
        self.has_result = True
        self._result = self.summary  # stored with the outcome, first

    def outcome(
        self,
        body: bytes | bytearray,
        cancel_reason: str | None,
        then: tuple[bytes, bytes | bytearray] | None = None,
    ) -> bool:
        """The fit's end: its status, reason and error as the pool process sees them (a
        cancel's reason is the one the pool process sent). `then`: the message that follows
        it, already read (kind, body): a session file, its recipe or why there is none is
        stored in the same round trip as the end; whether it was (else the caller passes it
        on as it comes)."""
        message = _object(body, "outcome")
        status = OUTCOMES.get(message.get("outcome"))  # type: ignore[arg-type]
        if status is None:
            raise BadMessage(f"an outcome {message.get('outcome')!r}")
        self.finished = True
        if self.discard:
            return False
        if status == jobs.FAILED:
            self.refused = not self._end(jobs.FAILED, error=_error(message.get("error")))
            return False
        if status == jobs.CANCELLED:
            reason = cancel_reason or "cancelled"
        else:
            reason = "stopped at max_time" if message.get("max_time") is True else None
        if self.summary is None:
            raise BadMessage("an outcome without a result before it")
        self.session_pending = True
        summary, self.summary = self.summary, None  # stored: no later fork inherits it
        session = self._session_of(*then) if then is not None else None
        self.refused = not self._end(
            status,
            session=session,
            reason=reason,
            partial=status == jobs.CANCELLED,
            summary=summary,
            session_follows=True,
        )
        if session is not None:
            self.session_pending = False
        return session is not None

    def _session_of(self, kind: bytes, body: bytes | bytearray) -> dict[str, Any] | None:
        """What `_put_session` stores for the message (kind, body) that follows the outcome;
        None for one to pass on as it comes (not a session file, or not a valid recipe)."""
        if kind == frames.SESSION:
            return {"data": body}
        if kind == frames.NO_SESSION:
            return {"data": None, "error": body.decode(errors="replace")[:2000]}
        if kind == frames.RECIPE:
            try:
                _recipe(body)
            except BadMessage:
                return None
            return {"data": bytes(body), "deferred": True}
        return None

    def session(self, data: bytes | bytearray | None, error: str = "") -> None:
        """The session file, or why there is none."""
        if not self.session_pending:
            raise BadMessage("a session file before the outcome")
        self.session_pending = False
        if not self.discard:
            self._put_session(data, error[:2000])

    def recipe(self, body: bytes | bytearray) -> None:
        """What builds the session file on request, sent instead of the file by a fit whose
        state is not worth storing: stored in the file's place (`session: deferred`), as
        sent, for the build's own fit process to read (worker/pool/session_build.py)."""
        if not self.session_pending:
            raise BadMessage("a session recipe before the outcome")
        _recipe(body)
        self.session_pending = False
        if not self.discard:
            self._put_session(bytes(body), deferred=True)

    def _put_session(
        self,
        data: bytes | bytearray | None,
        error: str = "",
        deferred=False,
        after: Callable[[], OpGen[Any]] | None = None,
    ) -> list[Any]:
        """The session file, the run's last write, in one round trip with the release of
        its lease where the runner asked for it (retried while Redis is away), and `after`
        the operation before it (the job's end); their results."""
        release = self.release_with_session() if self.release_with_session else None

        def put() -> OpGen[Any]:
            settings, owner, job_id = self.store.settings, self.owner, self.job_id
            file = cast("bytes | None", data)  # (a bytearray as read: redis-py sends either)
            return transitions.put_session(
                settings, owner, job_id, file, error, run=self.token, deferred=deferred
            )

        ops = [op for op in (after, put, release) if op is not None]
        if len(ops) == 1:
            return [retrying(lambda: self.store.run(put()))]
        return retrying(run_together, self.store, *ops)

    def fail(self, error: dict[str, Any]) -> None:
        """The fit process ended without an outcome: how (it died, broke the protocol)."""
        if self.discard:
            return
        if self.finished:
            if self.session_pending:
                self.lose_session(error["message"])
            return
        self.finished = True
        result, self._result = self._result, None
        last = self._last_progress_of_end()
        ended = self.store.finish(
            self.owner,
            self.job_id,
            jobs.FAILED,
            error=error,
            run=self.token,
            record=self.record,
            result=result,
            last_progress=last,
        )
        if not ended:
            self.lose_session(error["message"])

    def lose_session(self, cause: str) -> None:
        """The fit process ended after the job's status, while writing the session file."""
        self.session_pending = False
        record = self.store.get(self.owner, self.job_id)
        if record and record.get("session") == "writing":
            self.store.put_session(self.owner, self.job_id, None, cause, run=self.token)


def _recipe(body: bytes | bytearray) -> None:
    """Raise BadMessage unless `body` is a recipe: a JSON object."""
    try:
        value = json.loads(body)  # Python's json: a convergence row may hold NaN
    except (ValueError, RecursionError) as e:
        raise BadMessage(f"a session recipe that is not JSON ({e})") from None
    if not isinstance(value, dict):
        raise BadMessage("a session recipe that is not a JSON object")


def run_together(store: JobStore, *ops: Callable[[], OpGen[Any]]) -> list[Any]:
    """Store operations (each made by a call of one of `ops`) run at once: their first
    batches in one round trip, then whatever batches each yields after, one by one; their
    results. A Redis that lost its scripts (restarted) has each run alone, loading them."""
    try:
        return store.run(together(store, *(op() for op in ops)))
    except redis.exceptions.NoScriptError:
        # (each op's writes are idempotent: one that ran before another's refusal is the same
        # when run again)
        return [store.run(op()) for op in ops]


def together(store: JobStore, *ops: OpGen[Any]) -> OpGen[list[Any]]:
    """The operations' first batches as one pipeline of plain commands, in order: scripts by
    EVALSHA (redis-py checks a pipeline's scripts with SCRIPT EXISTS first, a round trip of
    its own: NoScriptError instead, see run_together)."""
    firsts: list[Batch] = [next(op) for op in ops]
    if any(batch.transaction for batch in firsts):  # (not one of the worker's writes)
        raise ValueError("together() sends no MULTI/EXEC batch")
    commands = [
        ("EVALSHA", store.scripts[c.name].sha, len(c.keys), *c.keys, *c.args)
        if isinstance(c, Script)
        else c
        for batch in firsts
        for c in batch.commands
    ]
    replies = yield Batch(commands)
    results, at = [], 0
    for op, batch in zip(ops, firsts, strict=True):
        reply, at = replies[at : at + len(batch.commands)], at + len(batch.commands)
        try:
            while True:
                reply = yield op.send(reply)
        except StopIteration as stop:
            results.append(stop.value)
    return results


def _object(body: bytes | bytearray, what: str) -> dict[str, Any]:
    try:
        # orjson first: a DREAM summary is 240 kB of floats (json: ~10 ms). It refuses what
        # json reads otherwise: NaN and infinities, which are no JSON a browser reads and
        # become null, lone surrogates, nesting past its limit
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        value = None
    try:
        if value is None:
            value = json.loads(body, parse_constant=lambda _: None)
    except (ValueError, RecursionError) as e:
        raise BadMessage(f"a {what} message that is not JSON ({e})") from None
    if not isinstance(value, dict):
        raise BadMessage(f"a {what} message that is not a JSON object")
    return value


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _error(value: Any) -> dict[str, str]:
    value = value if isinstance(value, dict) else {}
    error = {}
    for key, limit in MAX_ERROR_TEXT.items():
        text = value.get(key)
        error[key] = text[:limit] if isinstance(text, str) else ""
    error["type"] = error["type"] or "FitFailed"
    error["message"] = error["message"] or "the fit failed without saying why"
    return error
