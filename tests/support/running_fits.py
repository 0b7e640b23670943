"""A fit that keeps running until something stops it, and waiting until it is under way."""

from __future__ import annotations

import time

# DREAM options no test fit reaches the end of: cancelled, killed or timed out first
LONG_DREAM = {"steps": 200_000, "burn": 10}


def wait_for_progress(remote, job_id, timeout=30):
    """Until the job has sent its first progress event (read from its event stream)."""
    deadline = time.monotonic() + timeout
    since = "0"
    while time.monotonic() < deadline:
        stream = remote.store.keys.events(remote.owner, job_id)
        found = remote.store.wait_events({stream: since}, block_ms=500).get(stream, [])
        for event in found:
            since = event["id"]
            if event["type"] == "progress":
                return event
    raise TimeoutError("no progress")
