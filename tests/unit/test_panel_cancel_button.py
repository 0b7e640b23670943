"""The live panel's Cancel button is there while a job can still be cancelled, and gone once
it has ended (a disabled button keeps its orange look and reads as active)."""

from __future__ import annotations

import pytest

from jupyter_bumps_remote.kernel.widget import JobPanel
from jupyter_bumps_remote.shared import jobs


class EndedOrNotJob:
    """Just what JobPanel reads of a RemoteJob before its thread starts."""

    def __init__(self, status: str):
        self.id = "f" * 32
        self.record = {"id": self.id, "name": "fit", "fitter": "lm", "status": status}


@pytest.mark.parametrize("status", [jobs.QUEUED, jobs.RUNNING])
def test_an_active_job_shows_an_enabled_cancel_button(status):
    panel = JobPanel(EndedOrNotJob(status))
    assert not panel.cancel.disabled and panel.cancel.layout.display is None


@pytest.mark.parametrize("status", sorted(jobs.TERMINAL))
def test_an_ended_job_shows_no_cancel_button(status):
    panel = JobPanel(EndedOrNotJob(status))
    assert panel.cancel.disabled and panel.cancel.layout.display == "none"


def test_the_button_goes_when_the_job_ends_while_shown():
    panel = JobPanel(EndedOrNotJob(jobs.RUNNING))
    panel._render_status(jobs.SUCCEEDED, {})
    assert panel.cancel.disabled and panel.cancel.layout.display == "none"
