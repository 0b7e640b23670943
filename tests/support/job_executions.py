"""How many times a job ran and who ran it: its status events, and what each execution of
the fit task returned."""

from __future__ import annotations

import re


def statuses(remote, job_id) -> list[tuple[str, str | None]]:
    """The job's status events, each with the worker that wrote it (None for the server's)."""
    return [
        (e["data"]["status"], e["data"].get("worker"))
        for e in remote.events(job_id)
        if e["type"] == "status"
    ]


def task_returns(worker) -> list[str]:
    """What each execution of the fit task returned, from the worker's INFO log."""
    return re.findall(
        r"Task bumps_remote\.fit\[[^\]]+\] succeeded in [\d.e-]+s: '(\w+)'", worker.log.read_text()
    )
