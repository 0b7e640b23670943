"""`submit_many` sends a sweep in parts while it encodes the rest (POST jobs/batch), on a real
server, Redis and worker: parts of 4, 8, 16, … members, the jobs in order; the first part
goes out before the last member is encoded; the same Idempotency-Key returns the same jobs;
a member that does not encode, or a part the server refuses, cancels what earlier parts
created before the error is raised."""

from __future__ import annotations

import threading
import uuid

import pytest

from jupyter_bumps_remote.kernel import api, batches
from jupyter_bumps_remote.kernel.client import RemoteError
from jupyter_bumps_remote.shared import jobs, transport

from ..support.problems import gaussian_problem, lossy_problem
from ..support.services import JupyterServer

# a fit that lasts minutes: whatever the machine's load, it is still running when cancelled
LONG = {"fitter": "dream", "steps": 200_000}
WAIT = 120  # s: for the cancelled jobs to end


def counting():
    """The requests the kernel's client sends from now on (method, path), and an event set
    once the first POST jobs/batch has its answer."""
    sent: list[tuple[str | None, str]] = []
    first_part = threading.Event()
    session = api.client().session

    def hook(response, **_):
        sent.append((response.request.method, response.url.rsplit("/api/", 1)[1]))
        if sent[-1] == ("POST", "jobs/batch"):
            first_part.set()

    session.hooks["response"].append(hook)
    return sent, session, first_part


def encoding_waits_at(index: int, first_part: threading.Event, monkeypatch, then=None):
    """Member `index` is encoded only once the first part has its answer (`then`: what its
    encoding does instead): a sweep encoded whole before its first request would wait here
    for good."""
    prepare, calls = api.prepare, [0]

    def waiting(problem, *order, **sweep):
        calls[0] += 1
        if calls[0] == index + 1:
            assert first_part.wait(60), "the first part was not sent while the sweep encoded"
            if then is not None:
                return then(problem)
        return prepare(problem, *order, **sweep)

    monkeypatch.setattr(api, "prepare", waiting)


def test_a_sweep_goes_in_parts_sent_while_it_encodes(api_client, monkeypatch):
    problems = [gaussian_problem(n=30 + i) for i in range(25)]
    sent, session, first_part = counting()
    encoding_waits_at(12, first_part, monkeypatch)
    try:
        group = api_client.submit_many(problems, "lm", name="in parts", seed=4, tags=["t"])
    finally:
        session.hooks["response"].clear()
    assert sent == [("GET", "info")] + [("POST", "jobs/batch")] * 3  # 4, 8 and 13 members
    assert [job.name for job in group] == [f"in parts [{i}]" for i in range(25)]
    assert {job.record["encoding"] for job in group} == {transport.PICKLE_ENCODING}
    assert all(job.tags == [group.tag, "t"] and job.seed == 4 for job in group)
    results = group.results(timeout=120)
    assert all(group[i].status == jobs.SUCCEEDED for i in range(25)), results
    # each its own problem: the fit of problem i has its number of points
    assert [r.to_dict()["numpoints"] for r in results] == [30 + i for i in range(25)]


def test_a_member_the_pickle_cannot_carry_goes_as_bumps_document(api_client):
    """A sweep's members go pickled first; one holding an object that does not pickle (where
    bumps' document does not look) goes as the document, and both fit."""
    held = gaussian_problem(n=40)
    next(iter(held.models)).lock = threading.Lock()  # not a field bumps.serialize writes
    group = api_client.submit_many([gaussian_problem(n=30), held], "lm", seed=2)
    assert [job.record["encoding"] for job in group] == [
        transport.PICKLE_ENCODING,
        transport.ENCODING,
    ]
    results = group.results(timeout=120)
    assert [r.to_dict()["numpoints"] for r in results] == [30, 40], results


def test_a_member_checked_only_by_the_worker_fails_alone_saying_why(api_client):
    """A sweep checks the round trip of its first problem of a kind; a later one that the
    pickle changes (its model's scale lost) fails on the worker, alone, naming the cause and
    what to do, while its kind's others fit."""
    group = api_client.submit_many(
        [lossy_problem(1.0), lossy_problem(2.0), lossy_problem(1.0)], "lm", seed=3
    )
    group.wait(120)
    assert [job.status for job in group] == [jobs.SUCCEEDED, jobs.FAILED, jobs.SUCCEEDED]
    message = group[1].error["message"]
    assert "the kernel computed" in message and "not in the kernel" in message, message


def test_a_larger_sweep_goes_in_order_in_several_requests(api_client, monkeypatch):
    monkeypatch.setattr(batches, "MAX_JOBS", 4)
    key = f"sweep-{uuid.uuid4()}"
    problems = [gaussian_problem(n=30 + i) for i in range(10)]
    sent, session, _ = counting()
    try:
        group = api_client.submit_many(problems, "lm", idempotency_key=key)
    finally:
        session.hooks["response"].clear()
    assert [path for _, path in sent] == ["info"] + ["jobs/batch"] * 3
    again = api_client.submit_many(problems, "lm", idempotency_key=key)
    assert [job.id for job in again] == [job.id for job in group]
    assert [job.name for job in group] == [f"sweep of 10 [{i}]" for i in range(10)]
    assert all(r.to_dict()["numpoints"] == 30 + i for i, r in enumerate(group.results(120)))


def ended_as(remote, tag: str, count: int) -> set[str]:
    """The states of the `count` jobs tagged `tag`, once every one has ended."""
    found = remote.list_jobs(tag=tag)
    assert len(found) == count, [job.record for job in found]
    return {job.wait(timeout=WAIT).status for job in found}


def test_a_member_that_does_not_encode_cancels_what_earlier_parts_created(api_client, monkeypatch):
    tag = f"broken-{uuid.uuid4().hex[:8]}"
    _, session, first_part = counting()

    def unsendable(problem):
        raise TypeError("expected a bumps FitProblem, got str")

    encoding_waits_at(6, first_part, monkeypatch, then=unsendable)
    try:
        with pytest.raises(TypeError) as raised:
            api_client.submit_many([gaussian_problem() for _ in range(10)], tags=[tag], **LONG)
    finally:
        session.hooks["response"].clear()
    assert getattr(raised.value, "__notes__", []) == [
        "raised by member 6 of the sweep; the 4 jobs that earlier requests created were cancelled"
    ]
    assert ended_as(api_client, tag, 4) == {jobs.CANCELLED}


@pytest.fixture(scope="module")
def limited_server(redis_server, worker, tmp_path_factory):
    """A server on the session's Redis and worker that takes 6 submissions a minute, for an
    owner of its own (no other test's submissions count)."""
    server = JupyterServer(
        tmp_path_factory.mktemp("limited-server"),
        args=[
            f"--BumpsRemote.redis_url={redis_server.url}",
            f"--BumpsRemote.owner=limited-{uuid.uuid4().hex[:8]}",
            "--BumpsRemote.max_submissions_per_minute=6",
        ],
    ).start()
    yield server
    server.stop()


def test_a_refused_part_cancels_what_earlier_parts_created(limited_server):
    import jupyter_bumps_remote as remote

    remote.connect(limited_server.url, limited_server.token)
    try:
        tag = f"refused-{uuid.uuid4().hex[:8]}"
        with pytest.raises(RemoteError) as raised:
            # 4 members in the first part, within the limit; the 6 of the second are over it
            remote.submit_many([gaussian_problem() for _ in range(10)], tags=[tag], **LONG)
        assert raised.value.status == 429
        assert "max_submissions_per_minute" in raised.value.message
        assert raised.value.message.endswith(
            "(the 4 jobs that earlier requests created were cancelled)"
        )
        assert ended_as(remote, tag, 4) == {jobs.CANCELLED}
    finally:
        api._client = None
