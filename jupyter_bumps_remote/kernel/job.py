"""RemoteJob: a handle on one remote fit, from the kernel."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator

from ..shared import jobs
from .client import Client, RemoteError, ServerUnreachable
from .output import output_of
from .replay import replay
from .result import FitResult

LONG_POLL = 30.0  # seconds one GET of the record may wait for the job to end
# How long a waiting job keeps trying to reach a Jupyter server that went away (a restart
# takes seconds) before it gives up and says so; the fit itself goes on regardless.
RECONNECT_GRACE = 300.0
LOST = "lost"
RECORD_GONE = (
    "lost: the Jupyter server no longer knows job {id} (its Redis lost the job's record: "
    "restarted without persistence?). Submit the problem again with submit(problem, ...) or "
    "%bumps_remote; job.retry() cannot, the problem is gone with the record"
)
RETRY_GONE = (
    "job {id} is gone from the server, and its problem with it: submit the problem again "
    "with submit(problem, ...) or %bumps_remote"
)


def lost_record(record: dict) -> dict:
    """What the kernel still knows of a job the server no longer has, ended as lost."""
    if record.get("status") == jobs.FAILED and record.get("reason") == LOST:
        return record
    error = {"type": "JobLost", "message": RECORD_GONE.format(id=record["id"]), "traceback": ""}
    return {**record, "status": jobs.FAILED, "reason": LOST, "error": error}


def _status_data(record: dict) -> dict:
    return {
        "job": record["id"],
        "status": record["status"],
        "name": record.get("name"),
        "fitter": record.get("fitter"),
        "reason": record.get("reason"),
        "error": record.get("error"),
    }


class RemoteFitError(RuntimeError):
    """The remote fit failed; `error` holds its type, message and traceback."""

    def __init__(self, job_id: str, error: dict):
        self.job_id = job_id
        self.error = error or {}
        super().__init__(
            f"remote fit {job_id} failed: {self.error.get('type', 'Error')}: "
            f"{self.error.get('message', 'no message')}"
        )

    def _render_traceback_(self) -> list[str]:
        """IPython shows this instead of a wall of client-side frames."""
        lines = [str(self)]
        if self.error.get("traceback"):
            lines += ["", "Remote traceback:", self.error["traceback"].rstrip()]
        return lines


class RemoteJob:
    def __init__(self, client: Client, record: dict):
        self._client = client
        self._record = record
        self._last_event = "0"
        self._result: FitResult | None = None
        self._summary: dict | None = None  # came with the record (include=result)

    # -- the record -----------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._record["id"]

    @property
    def name(self) -> str:
        return self._record.get("name", "")

    @property
    def tags(self) -> list[str]:
        return list(self._record.get("tags", []))

    @property
    def fitter(self) -> str:
        return self._record.get("fitter", "")

    @property
    def options(self) -> dict:
        return dict(self._record.get("options", {}))

    @property
    def seed(self) -> int:
        return self._record["seed"]

    @property
    def record(self) -> dict:
        return dict(self._record)

    @property
    def status(self) -> str:
        if self._record["status"] not in jobs.TERMINAL:
            self.refresh()
        return self._record["status"]

    @property
    def done(self) -> bool:
        return self.status in jobs.TERMINAL

    @property
    def progress(self) -> dict:
        if self._record["status"] not in jobs.TERMINAL:
            self.refresh()
        return dict(self._record.get("progress") or {})

    @property
    def error(self) -> dict | None:
        return self._record.get("error")

    @property
    def output(self) -> str:
        """What the fit printed so far: its stdout and stderr, interleaved as they came.

        Fetched from the server on each access (the job's events, replayed up to now), so a
        running job's output grows between two reads. The worker keeps at most a capped
        amount per job (1 MiB by default); a last line says where it cut the output off.
        Events are kept in a capped stream, so the output of a very long fit can lose its
        beginning. "" for a job that printed nothing.
        """
        return output_of(replay(self._client, self.id)).text

    def refresh(self) -> RemoteJob:
        try:
            self._record = self._client.get(self.id)
        except RemoteError as e:
            if e.status != 404:
                raise
            self._record = lost_record(self._record)
        return self

    # -- following it -----------------------------------------------------------------------------

    def events(self, since: str = "0", timeout: float | None = None) -> Iterator[dict]:
        """Every event of the job from `since` on, until its terminal status. If the Jupyter
        server goes away (restart), reconnects by itself and resumes after the last event
        seen: nothing missed, nothing twice
        (docs/reliability.md#9-jupyter-server-restarted-mid-fit)."""
        last = since
        deadline = None if timeout is None else time.monotonic() + timeout
        away = _ServerAway(self)
        while True:
            remaining = None if deadline is None else max(0.01, deadline - time.monotonic())
            try:
                for event in self._client.events(self.id, since=last, timeout=remaining):
                    away.back()
                    last = event["id"]
                    yield event
                    if event["type"] == "status" and event["data"]["status"] in jobs.TERMINAL:
                        return
            except RemoteError as e:
                if isinstance(e, ServerUnreachable) or e.status >= 500:
                    away.pause(deadline)  # gone or 5xx: the server (re)starting
                elif e.status == 404:  # the server no longer knows the job: it ends, lost
                    self._record = lost_record(self._record)
                    yield {"id": last, "type": "status", "data": _status_data(self._record)}
                    return
                else:
                    raise
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {self.id} not finished after {timeout} s")

    def wait(self, timeout: float | None = None, progress: bool = False) -> RemoteJob:
        """Block until the job ends (or `timeout` s pass: TimeoutError); `progress` prints
        a progress line as the fit goes."""
        if self._record["status"] in jobs.TERMINAL:
            return self
        if not progress:
            return self._long_poll(timeout)
        for event in self.events(self._last_event, timeout):
            self._last_event = event["id"]
            if event["type"] == "progress":
                print("\r" + progress_line(self, event["data"]), end="", file=sys.stderr)
        print(file=sys.stderr)
        return self.refresh()

    def _long_poll(self, timeout: float | None, with_result: bool = False) -> RemoteJob:
        # One request per LONG_POLL seconds at most, so that no proxy in between (JupyterHub's)
        # drops an idle request; each answers as soon as the job ends. A server restart in
        # between is waited out as in events().
        deadline = None if timeout is None else time.monotonic() + timeout
        away = _ServerAway(self)
        while True:
            remaining = LONG_POLL if deadline is None else deadline - time.monotonic()
            try:
                wait = max(0.001, min(LONG_POLL, remaining))
                record = self._client.get(self.id, wait=wait, with_result=with_result)
                self._summary = record.pop("result", None) or self._summary
                self._record = record
                away.back()
            except RemoteError as e:
                if isinstance(e, ServerUnreachable) or e.status >= 500:
                    away.pause(deadline)  # gone or 5xx: the server (re)starting
                elif e.status == 404:  # the server no longer knows the job: it ends, lost
                    self._record = lost_record(self._record)
                else:
                    raise
            if self._record["status"] in jobs.TERMINAL:
                return self
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {self.id} not finished after {timeout} s")

    def __await__(self):
        return asyncio.to_thread(self.wait).__await__()

    def result(self, timeout: float | None = None) -> FitResult:
        """The fit's result. A cancelled fit gives the best point it reached (`partial`);
        a failed one raises RemoteFitError carrying the job's error."""
        if self._result is None and self._record["status"] not in jobs.TERMINAL:
            self._long_poll(timeout, with_result=True)  # the end and the summary, one request
        status = self._record["status"]
        if status == jobs.FAILED:
            raise RemoteFitError(self.id, self.error or {})
        if status == jobs.CANCELLED and not self._record.get("has_result"):
            raise RemoteFitError(
                self.id,
                {"type": "Cancelled", "message": "cancelled before it started: no result"},
            )
        if self._result is None:
            summary = self._summary or self._client.result(self.id)
            self._result = FitResult(
                self.id,
                summary,
                lambda: self._client.session_file(self.id),
                lambda: self._client.payload(self.id),
            )
        return self._result

    # -- changing it ------------------------------------------------------------------------------

    def cancel(self) -> RemoteJob:
        self._record = self._client.cancel(self.id)
        return self

    def retry(self, **changes) -> RemoteJob:
        """A new job with the same problem and options (a new seed unless `seed=` is given)."""
        try:
            return RemoteJob(self._client, self._client.retry(self.id, **changes))
        except RemoteError as e:
            if e.status != 404:
                raise
            raise RemoteError(404, RETRY_GONE.format(id=self.id)) from e

    def resume(self, steps: int, **changes) -> RemoteJob:
        """A new job that continues this succeeded or cancelled DREAM fit for `steps` more
        steps, from its last checkpoint: its chains go on where this fit's ended (`name=`,
        `tags=` as for a submit). The new job's record names this one (`resume_of`)."""
        return RemoteJob(self._client, self._client.resume(self.id, steps, **changes))

    def delete(self) -> None:
        self._client.delete(self.id)

    # -- showing it --------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"<RemoteJob {self.id[:8]} {self.name!r} {self.fitter} {self._record['status']}>"

    def _ipython_display_(self) -> None:
        from .widget import display_job

        display_job(self)  # once per cell: the magic's own display and its result are one


def progress_line(job: RemoteJob, data: dict) -> str:
    step, total = data.get("step", 0), data.get("max_steps") or 0
    chisq = data.get("chisq")
    parts = [f"[{job.name or job.fitter}]", f"step {step}" + (f"/{total}" if total else "")]
    if chisq is not None:
        parts.append(f"χ²={chisq:.4g}")
    parts.append(f"{data.get('elapsed', 0):.1f} s")
    return " ".join(parts)


class _ServerAway:
    """How long the job's Jupyter server has been unreachable: waits between attempts to
    reach it again, and gives up with a clear message after RECONNECT_GRACE."""

    def __init__(self, job: RemoteJob):
        self.job = job
        self.since: float | None = None

    def back(self) -> None:
        self.since = None

    def pause(self, deadline: float | None) -> None:
        now = time.monotonic()
        self.since = self.since or now
        if now - self.since > RECONNECT_GRACE:
            raise ServerUnreachable(
                0,
                f"the Jupyter server at {self.job._client.server.url} has been unreachable "
                f"for {RECONNECT_GRACE:.0f} s; the fit goes on without it: call "
                f'get_job("{self.job.id}") once the server is back',
            ) from None
        if deadline is None or now < deadline:
            time.sleep(min(1.0, 0.1 + (now - self.since) / 10))  # the server restarts
