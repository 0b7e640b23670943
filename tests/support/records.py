"""Job records made by hand, for tests that play the server's part on a store."""

from __future__ import annotations


def queued_record(job_id: str, owner: str, queue: str) -> dict:
    """The least a job record needs to be created: an lm fit on `queue`, nothing run yet."""
    return {
        "id": job_id,
        "owner": owner,
        "name": "fit",
        "tags": [],
        "fitter": "lm",
        "options": {},
        "seed": 1,
        "queue": queue,
    }
