"""A record is data from Redis that a tampered job could have written: every field of it, and
of its events, reaches the live panel's HTML escaped (the sidebar's side: jest, escaping.spec)."""

from __future__ import annotations

from collections import Counter

import ipywidgets as w

from jupyter_bumps_remote.kernel.group import GroupPanel
from jupyter_bumps_remote.kernel.widget import JobPanel
from jupyter_bumps_remote.shared import jobs

HOSTILE = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def hostile_record(status: str = HOSTILE) -> dict:
    error = {"type": HOSTILE, "message": HOSTILE, "traceback": HOSTILE}
    return {"id": HOSTILE, "name": HOSTILE, "fitter": HOSTILE, "status": status, "error": error}


class HostileJob:
    """What JobPanel reads of a RemoteJob, each string field a tag; its events too."""

    def __init__(self):
        self.id = "f" * 32
        self.record = hostile_record()

    def events(self):
        yield {"id": "1-0", "type": "status", "data": {"status": HOSTILE, "reason": HOSTILE}}
        yield {"id": "2-0", "type": "progress", "data": {"step": HOSTILE, "rows": []}}
        yield {"id": "3-0", "type": "output", "data": {"stream": "stdout", "text": HOSTILE}}
        yield {"id": "4-0", "type": "output", "data": {"stream": HOSTILE, "text": HOSTILE}}
        failed = {"status": jobs.FAILED, "error": {"type": HOSTILE, "message": HOSTILE}}
        yield {"id": "5-0", "type": "status", "data": failed}

    def refresh(self):
        self.record = hostile_record(jobs.FAILED)
        return self


def html_of(widget) -> list[str]:
    """Every HTML value and title in a widget tree."""
    found = [widget.value] if isinstance(widget, w.HTML) else []
    found += list(getattr(widget, "titles", ()))
    for child in getattr(widget, "children", ()):
        found += html_of(child)
    return found


def assert_escaped(values: list[str]) -> None:
    raw = [v for v in values if "<img" in v]
    assert not raw, f"a raw tag reached the panel: {raw}"
    assert any(ESCAPED in v for v in values), "the hostile text is not shown at all"


def test_the_record_as_first_shown_is_escaped():
    panel = JobPanel(HostileJob())
    assert_escaped(html_of(panel.box))
    assert ESCAPED in panel.title.value and ESCAPED in panel.status.value


def test_every_event_as_followed_is_escaped():
    panel = JobPanel(HostileJob())
    panel._follow()  # the thread's work, here: the fake job's events end at once
    values = html_of(panel.box)
    assert_escaped(values)
    assert panel.numbers.value == f"step {ESCAPED} · elapsed 0.0 s"
    assert panel.output_text.value.count(ESCAPED) == 2


def test_a_group_panel_escapes_its_statuses_and_names():
    class HostileGroup:
        name, tag = HOSTILE, HOSTILE

        def __len__(self):
            return 2

        def statuses(self):
            return Counter({HOSTILE: 1, jobs.SUCCEEDED: 1})

    panel = GroupPanel(HostileGroup())  # pyright: ignore[reportArgumentType]
    panel._render()
    assert_escaped(html_of(panel.box))


def test_a_fit_results_table_escapes_what_its_summary_says():
    from jupyter_bumps_remote.kernel.result import FitResult

    summary = {
        "x": [1.0],
        "labels": [HOSTILE],
        "method": HOSTILE,
        "seed": HOSTILE,
        "chisq": HOSTILE,
        "stderr": [0.1],
    }
    page = FitResult("f" * 32, summary, lambda: b"")._repr_html_()
    assert HOSTILE not in page
    assert page.count(ESCAPED) == 4
