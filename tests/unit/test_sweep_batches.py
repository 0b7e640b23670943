"""How `submit_many` splits a sweep into POST jobs/batch requests (kernel/batches.py): parts
that double, so that the first goes out after a few members are encoded."""

from __future__ import annotations

from jupyter_bumps_remote.kernel import batches
from jupyter_bumps_remote.kernel.client import RemoteError
from jupyter_bumps_remote.shared.jobs import MAX_IDEMPOTENCY_KEY


def test_parts_double_from_the_first_up_to_max_jobs():
    assert batches.FIRST_PART == 4 and batches.MAX_JOBS == 1000
    assert batches.chunks([10] * 200, 0) == [
        (0, 4),
        (4, 12),
        (12, 28),
        (28, 60),
        (60, 124),
        (124, 200),
    ]
    sizes = [end - start for start, end in batches.chunks([10] * 5000, 0)]
    assert sizes == [4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000, 1000, 980]
    assert batches.chunks([10] * 3, 0) == [(0, 3)]
    assert batches.chunks([], 1000) == []


def test_parts_fit_the_body_limit():
    # 64 bytes of envelope, each member its size and a comma
    assert batches.chunks([100] * 5, 64 + 2 * 101) == [(0, 2), (2, 4), (4, 5)]
    # a member over the limit alone goes alone: the server's 413 says why
    assert batches.chunks([10, 5000, 10], 1000) == [(0, 1), (1, 2), (2, 3)]


def test_each_request_has_its_own_key_of_the_callers():
    assert batches.chunk_key(None, 3) is None
    assert batches.chunk_key("k", 0) == "k" and batches.chunk_key("k", 2) == "k/2"
    long = "x" * MAX_IDEMPOTENCY_KEY
    assert len(batches.chunk_key(long, 12) or "") == MAX_IDEMPOTENCY_KEY


def test_a_refusal_names_the_sweeps_index():
    error = RemoteError(400, "jobs[3].fitter: unknown fitter")
    again = batches._in_the_sweep(error, 2000)
    assert again.status == 400
    assert again.message == "jobs[2003].fitter: unknown fitter"
