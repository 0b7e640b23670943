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
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

import orjson

from ...shared import jobs
from ...store import JobStore
from ...store.events import output as output_op
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

    # -- while the fit runs ---------------------------------------------------------------

    def progress(self, body: bytes | bytearray) -> None:
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
        if self.has_result and self._last_progress is None:  # the fit's last: with its end
            self._last_progress = (data, summary)
            return
        self._write_pending()  # (a fit that sends more after it: in order)
        self._write_progress(data, summary)

    def _write_progress(self, data: dict[str, Any], summary: dict[str, Any]) -> None:
        try:
            self.store.progress(self.owner, self.job_id, data, summary, run=self.token)
        except REDIS_DOWN:
            self._rows = self._rows + data["rows"]  # sent with the next event

    def _write_pending(self) -> None:
        """Store the result and the progress event that wait for the outcome, each alone:
        the fit will send no outcome (a drain), or sent more progress after its last."""
        result, self._result = self._result, None
        last, self._last_progress = self._last_progress, None
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

    def _end(self, status: str, **fields: Any) -> bool:
        """The job's end, with what waits for it, in one round trip (retried while Redis
        is away): whether the store took it."""
        result, self._result = self._result, None
        last, self._last_progress = self._last_progress, None
        return retrying(
            self.store.finish,
            self.owner,
            self.job_id,
            status,
            run=self.token,
            record=self.record,
            result=result,
            last_progress=last,
            **fields,
        )

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

    def outcome(self, body: bytes | bytearray, cancel_reason: str | None) -> None:
        """The fit's end: its status, reason and error as the pool process sees them (a
        cancel's reason is the one the pool process sent)."""
        message = _object(body, "outcome")
        status = OUTCOMES.get(message.get("outcome"))  # type: ignore[arg-type]
        if status is None:
            raise BadMessage(f"an outcome {message.get('outcome')!r}")
        self.finished = True
        if self.discard:
            return
        if status == jobs.FAILED:
            self.refused = not self._end(jobs.FAILED, error=_error(message.get("error")))
            return
        if status == jobs.CANCELLED:
            reason = cancel_reason or "cancelled"
        else:
            reason = "stopped at max_time" if message.get("max_time") is True else None
        if self.summary is None:
            raise BadMessage("an outcome without a result before it")
        self.session_pending = True
        summary, self.summary = self.summary, None  # stored: no later fork inherits it
        self.refused = not self._end(
            status,
            reason=reason,
            partial=status == jobs.CANCELLED,
            summary=summary,
            session_follows=True,
        )

    def session(self, data: bytes | bytearray | None, error: str = "") -> None:
        """The session file, or why there is none."""
        if not self.session_pending:
            raise BadMessage("a session file before the outcome")
        self.session_pending = False
        if not self.discard:
            retrying(
                self.store.put_session,
                self.owner,
                self.job_id,
                data,
                error[:2000],
                run=self.token,
            )

    def recipe(self, body: bytes | bytearray) -> None:
        """What builds the session file on request, sent instead of the file by a fit whose
        state is not worth storing: stored in the file's place (`session: deferred`), as
        sent, for the build's own fit process to read (worker/pool/session_build.py)."""
        if not self.session_pending:
            raise BadMessage("a session recipe before the outcome")
        try:
            value = json.loads(body)  # Python's json: a convergence row may hold NaN
        except (ValueError, RecursionError) as e:
            raise BadMessage(f"a session recipe that is not JSON ({e})") from None
        if not isinstance(value, dict):
            raise BadMessage("a session recipe that is not a JSON object")
        self.session_pending = False
        if not self.discard:
            retrying(
                self.store.put_session,
                self.owner,
                self.job_id,
                bytes(body),
                run=self.token,
                deferred=True,
            )

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
        last, self._last_progress = self._last_progress, None
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
