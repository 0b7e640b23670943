"""Polling, for what a test cannot block on.

Where there is an event to wait on (a job's event stream, a WebSocket message), tests wait on
it. Some things have none: a process ending, a line in a log, a record in Redis or an HTTP
answer changing. For those, these helpers check again at a short interval, so a test goes on
soon after the condition holds, and fail naming what they waited for instead of hanging.
"""

from __future__ import annotations

import time

INTERVAL = 0.05


def wait_until(predicate, timeout: float, what: str, *, interval: float = INTERVAL):
    """Until `predicate()` is truthy, and return that value; AssertionError naming `what`
    once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
    return value


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie, ended but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        # gone before the open, or between the open and the read (ESRCH)
        return False


def wait_gone(pids, timeout: float) -> None:
    """Until none of `pids` is alive; AssertionError naming those left after `timeout` s."""
    deadline = time.monotonic() + timeout
    while left := [p for p in pids if alive(p)]:
        if time.monotonic() > deadline:
            raise AssertionError(f"still alive after {timeout} s: {left}")
        time.sleep(0.02)
