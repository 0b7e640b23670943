"""JobGroup: the jobs of a sweep, followed together."""

from __future__ import annotations

import html
import threading
import time
from collections import Counter

from ..shared import jobs
from .client import RemoteError, ServerUnreachable
from .job import LONG_POLL, RemoteJob, _ServerAway, lost_record
from .widget import in_notebook

REFRESH = 1.0
MAX_IDS = 1000  # the jobs one POST jobs/results may name


class JobGroup:
    def __init__(self, name: str, tag: str, members: list[RemoteJob]):
        self.name = name
        self.tag = tag
        self.jobs = members

    def __len__(self) -> int:
        return len(self.jobs)

    def __iter__(self):
        return iter(self.jobs)

    def __getitem__(self, index) -> RemoteJob:
        return self.jobs[index]

    def statuses(self) -> Counter:
        """How many jobs are in each state (one listing by the group's tag, not N requests)."""
        client, ids, seen, offset = self.jobs[0]._client, {j.id for j in self.jobs}, {}, 0
        while True:
            page = client.list(tag=self.tag, offset=offset, limit=200)
            seen.update((r["id"], r["status"]) for r in page["jobs"] if r["id"] in ids)
            if page["next_offset"] is None:
                return Counter(seen.values())
            offset = page["next_offset"]

    def wait(self, timeout: float | None = None) -> JobGroup:
        """Block until every job has ended (TimeoutError after `timeout` s in all): one long
        poll for up to 1000 jobs at a time, which also brings their results."""
        self._collect(timeout)
        return self

    def results(self, timeout: float | None = None) -> list:
        """Each job's FitResult (or the RemoteFitError of a failed one), in submit order.

        The records and result summaries of the whole group come in one request (one per
        1000 jobs) once all have ended; each session file is fetched only when its result's
        `problem`, `state` or `save()` needs it."""
        self._collect(timeout)
        out = []
        for job in self.jobs:
            try:
                out.append(job.result())  # no request: its record and summary are here
            except Exception as e:  # noqa: BLE001 - one failed fit must not hide the others
                out.append(e)
        return out

    def _collect(self, timeout: float | None) -> None:
        """Every job's final record and summary, by POST jobs/results: each request waits
        (up to LONG_POLL s) until its jobs have ended, then brings them all."""
        deadline = None if timeout is None else time.monotonic() + timeout
        client, away = self.jobs[0]._client, _ServerAway(self.jobs[0])
        ended_before: int | None = None  # how many were left when all had ended
        while True:
            todo = [job for job in self.jobs if not _collected(job)]
            if not todo or ended_before == len(todo):
                return  # all here, or summaries that no longer come: job.result() says why
            if all(job._record["status"] in jobs.TERMINAL for job in todo):
                ended_before = len(todo)
            for start in range(0, len(todo), MAX_IDS):
                chunk = {job.id: job for job in todo[start : start + MAX_IDS]}
                ended = all(job._record["status"] in jobs.TERMINAL for job in chunk.values())
                remaining = LONG_POLL if deadline is None else deadline - time.monotonic()
                wait = 0 if ended else max(0.001, min(LONG_POLL, remaining))
                try:
                    answer = client.results(list(chunk), wait=wait)
                    away.back()
                except RemoteError as e:
                    if e.status in (404, 405):  # a server without this route: one by one
                        for job in todo:
                            job.wait(None if deadline is None else deadline - time.monotonic())
                        return
                    if not (isinstance(e, ServerUnreachable) or e.status >= 500):
                        raise
                    away.pause(deadline)  # gone or 5xx: the server (re)starting
                    ended_before = None  # no answer is no sign of summaries that never come
                    continue
                for record in answer["jobs"]:
                    job = chunk[record["id"]]
                    job._summary = record.pop("result", None) or job._summary
                    job._record = record
                for job_id in answer["missing"]:  # the server no longer knows it: lost
                    chunk[job_id]._record = lost_record(chunk[job_id]._record)
            late = [job for job in self.jobs if job._record["status"] not in jobs.TERMINAL]
            if late and deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{len(late)} of {len(self.jobs)} jobs not finished after {timeout} s"
                )

    def table(self, timeout: float | None = None) -> list[dict]:
        """One row per job: name, status, chisq and each parameter with its uncertainty."""
        rows = []
        for job, result in zip(self.jobs, self.results(timeout), strict=True):
            row = {"name": job.name, "id": job.id, "status": job.status}
            if not isinstance(result, Exception):
                row["chisq"] = result.chisq
                for label, value, error in result.parameters():
                    row[label] = value
                    row[f"d{label}"] = error
            rows.append(row)
        return rows

    def cancel(self) -> None:
        """Cancel every job that has not ended, in one request per 1000 jobs: a queued one
        ends now, a running one stops at its fit's next step; one that ended meanwhile is
        left as it was."""
        client = self.jobs[0]._client
        todo = [job for job in self.jobs if job._record["status"] not in jobs.TERMINAL]
        for start in range(0, len(todo), MAX_IDS):
            chunk = {job.id: job for job in todo[start : start + MAX_IDS]}
            try:
                answer = client.cancel_many(list(chunk))
            except RemoteError as e:
                if e.status not in (404, 405):
                    raise
                for job in todo[start:]:  # a server without POST jobs/cancel: one by one
                    if job.status in jobs.ACTIVE:
                        job.cancel()
                return
            for record in answer["jobs"]:
                chunk[record["id"]]._record = record
            for job_id in answer["missing"]:  # the server no longer knows it: lost
                chunk[job_id]._record = lost_record(chunk[job_id]._record)

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses().items()))
        return f"<JobGroup {self.name!r}: {len(self.jobs)} jobs ({counts})>"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if not in_notebook():
            print(repr(self))
            return
        panel = GroupPanel(self)
        self._panel = panel
        display(panel.box)
        panel.start()


def _collected(job: RemoteJob) -> bool:
    """Its record is final and its result needs no more request."""
    record = job._record
    if record["status"] not in jobs.TERMINAL:
        return False
    return (
        record["status"] == jobs.FAILED
        or not record.get("has_result")
        or job._summary is not None
        or job._result is not None
    )


class GroupPanel:
    """Overall progress of a sweep: how many jobs have finished, and how."""

    def __init__(self, group: JobGroup):
        import ipywidgets as w

        from .widget import _current_parent

        self.group = group
        self.bar = w.IntProgress(min=0, max=len(group), value=0, layout={"width": "360px"})
        self.label = w.HTML()
        self.box = w.VBox(
            [
                w.HTML(
                    f"<b>{html.escape(str(group.name))}</b> · "
                    f"tag <code>{html.escape(str(group.tag))}</code>"
                ),
                self.bar,
                self.label,
            ]
        )
        self.finished = threading.Event()
        self._parent = _current_parent()

    def start(self) -> None:
        threading.Thread(target=self._follow, daemon=True, name="bumps-group").start()

    def join(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)

    def _follow(self) -> None:
        from .widget import _adopt_parent

        _adopt_parent(self._parent)
        try:
            while not self._render():
                self.finished.wait(REFRESH)  # a display refresh rate, not a wait for a result
        finally:
            self.finished.set()

    def _render(self) -> bool:
        counts = self.group.statuses()
        done = sum(counts[s] for s in jobs.TERMINAL)
        self.bar.value = done
        self.bar.bar_style = (
            "danger" if counts[jobs.FAILED] else ("success" if done == len(self.group) else "")
        )
        # statuses come from the records: escaped
        self.label.value = html.escape(" · ".join(f"{n} {s}" for s, n in sorted(counts.items())))
        return done == len(self.group)
