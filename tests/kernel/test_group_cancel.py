"""A sweep cancelled from the kernel's Python API in one request (POST jobs/cancel), on a real
server, Redis and worker: every member ends cancelled, whether it ran or waited."""

from __future__ import annotations

from jupyter_bumps_remote.shared import jobs

from ..support.problems import gaussian_problem
from ..support.running_fits import LONG_DREAM

SWEEP = 12


def test_a_sweep_is_cancelled_in_one_request(api_client):
    from jupyter_bumps_remote.kernel import api

    problems = [gaussian_problem() for _ in range(SWEEP)]
    group = api_client.submit_many(problems, "dream", name="cancelled-sweep", seed=3, **LONG_DREAM)
    sent: list[tuple[str, str]] = []
    session = api.client().session
    session.hooks["response"].append(lambda r, **_: sent.append((r.request.method, r.url)))
    try:
        group.cancel()
    finally:
        session.hooks["response"].clear()
    assert len(sent) == 1 and sent[0][0] == "POST" and sent[0][1].endswith("jobs/cancel"), sent
    # each member's record is the answer's: queued ones ended, running ones flagged
    for job in group:
        record = job._record
        assert record["status"] == jobs.CANCELLED or record["cancel_requested"], record
    statuses = group.wait(120).statuses()  # a long poll: until the running fits stopped too
    assert statuses == {jobs.CANCELLED: SWEEP}, statuses
