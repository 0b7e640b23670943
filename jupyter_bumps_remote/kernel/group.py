"""JobGroup: the jobs of a sweep, followed together."""

from __future__ import annotations

import html
import threading
from collections import Counter

from ..shared import jobs
from .job import RemoteJob
from .widget import in_notebook

REFRESH = 1.0


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
        for job in self.jobs:
            job.wait(timeout)
        return self

    def results(self, timeout: float | None = None) -> list:
        """Each job's FitResult (or the RemoteFitError of a failed one), in submit order."""
        self.wait(timeout)
        out = []
        for job in self.jobs:
            try:
                out.append(job.result())
            except Exception as e:  # noqa: BLE001 - one failed fit must not hide the others
                out.append(e)
        return out

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
        for job in self.jobs:
            if job.status in jobs.ACTIVE:
                job.cancel()

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
