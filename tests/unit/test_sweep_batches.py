"""How `submit_many` splits a sweep into POST jobs/batch requests (kernel/batches.py)."""

from __future__ import annotations

from jupyter_bumps_remote.kernel import batches
from jupyter_bumps_remote.kernel.client import RemoteError
from jupyter_bumps_remote.shared.jobs import MAX_IDEMPOTENCY_KEY


def test_requests_hold_at_most_max_jobs_and_fit_the_body_limit():
    assert batches.chunks([10] * 2500, 0) == [(0, 1000), (1000, 2000), (2000, 2500)]
    # 64 bytes of envelope, each member its size and a comma
    assert batches.chunks([100] * 5, 64 + 2 * 101) == [(0, 2), (2, 4), (4, 5)]
    # a member over the limit alone goes alone: the server's 413 says why
    assert batches.chunks([10, 5000, 10], 1000) == [(0, 1), (1, 2), (2, 3)]
    assert batches.chunks([], 1000) == []


def test_each_request_has_its_own_key_of_the_callers():
    assert batches.chunk_key(None, 3) is None
    assert batches.chunk_key("k", 0) == "k" and batches.chunk_key("k", 2) == "k/2"
    long = "x" * MAX_IDEMPOTENCY_KEY
    assert len(batches.chunk_key(long, 12) or "") == MAX_IDEMPOTENCY_KEY


def test_a_refusal_names_the_sweeps_index_and_what_was_created():
    error = RemoteError(400, "jobs[3].fitter: unknown fitter")
    again = batches._in_the_sweep(error, 2000, 2000, 2500)
    assert again.status == 400
    assert again.message.startswith("jobs[2003].fitter: unknown fitter (2000 of the sweep's")
