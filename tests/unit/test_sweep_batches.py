"""How `submit_many` splits a sweep into POST jobs/batch requests (kernel/batches.py): parts
that double, so that the first goes out after a few members are encoded; a refused part, and
a server without the route, against a stand-in client (the logic alone: the same on a real
server in tests/kernel/test_sweep_submit.py)."""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest

from jupyter_bumps_remote.kernel import batches
from jupyter_bumps_remote.kernel.client import RemoteError, ServerUnreachable
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


class FakeServer:
    """A kernel client's stand-in for the logic of batches.submit alone: what it was sent,
    and the answers a server would give (`batch`: False for a server without the route;
    `refuse_at`: the request number refused with 429)."""

    def __init__(self, batch: bool = True, refuse_at: int | None = None, ended=(), away=False):
        self.batch, self.refuse_at, self.ended, self.away = batch, refuse_at, set(ended), away
        self.bulk_cancel = batch  # POST jobs/cancel came after POST jobs/batch
        self.cancels = 0
        self.requests: list[tuple[str, int, str | None]] = []  # (route, jobs, key)
        self.cancelled: list[str] = []
        self.made = 0

    def info(self) -> dict:
        return {"max_payload_bytes": 0}

    def _records(self, count: int) -> list[dict]:
        self.made += count
        return [{"id": f"job-{i}"} for i in range(self.made - count, self.made)]

    def submit_batch(self, body: bytes, key: str | None = None) -> list[dict]:
        if not self.batch:
            raise RemoteError(404, "no such route")
        members = json.loads(body)["jobs"]
        self.requests.append(("jobs/batch", len(members), key))
        if len(self.requests) == self.refuse_at:
            raise RemoteError(429, "jobs[1]: 6 submissions a minute is the limit")
        return self._records(len(members))

    def submit(self, body: dict, key: str | None = None) -> dict:
        self.requests.append(("jobs", 1, key))
        return self._records(1)[0]

    def cancel_many(self, job_ids: list[str]) -> dict:
        if not self.bulk_cancel:
            raise RemoteError(404, "no such route")
        self.cancels += 1
        if self.away:
            raise ServerUnreachable(0, "the Jupyter server is not reachable")
        self.cancelled += [job_id for job_id in job_ids if job_id not in self.ended]
        return {
            "jobs": [
                {"id": i, "status": "succeeded" if i in self.ended else "cancelled"}
                for i in job_ids
            ],
            "missing": [],
        }

    def cancel(self, job_id: str) -> dict:
        self.cancels += 1
        if self.away:
            raise ServerUnreachable(0, "the Jupyter server is not reachable")
        if job_id in self.ended:
            raise RemoteError(409, "already ended")
        self.cancelled.append(job_id)
        return {"id": job_id}


def bodies(count: int):
    return ({"payload": {"n": i}, "fitter": "lm"} for i in range(count))


def test_a_server_without_the_route_gets_one_request_per_job_with_numbered_keys():
    server = FakeServer(batch=False)
    records = batches.submit(server, bodies(7), "key", wait_for_worker=False)  # type: ignore[arg-type]
    assert [r["id"] for r in records] == [f"job-{i}" for i in range(7)]
    assert server.requests == [("jobs", 1, f"key#{i}") for i in range(7)]


def test_a_refused_part_cancels_the_jobs_earlier_parts_created_and_names_the_member():
    server = FakeServer(refuse_at=2, ended={"job-3"})
    with pytest.raises(RemoteError) as raised:
        batches.submit(server, bodies(20), None, wait_for_worker=False)  # type: ignore[arg-type]
    assert raised.value.status == 429
    assert raised.value.message == (
        "jobs[5]: 6 submissions a minute is the limit (the 4 jobs that earlier requests "
        "created were cancelled, but for 1 that had ended or could not be reached "
        "(list_jobs(tag=...)))"
    )
    assert server.cancelled == ["job-0", "job-1", "job-2"]
    # nothing sent after the refusal: members 12 on were not even encoded into a request
    assert [n for _, n, _ in server.requests] == [4, 8]


def test_a_server_gone_away_is_asked_to_cancel_once_not_once_per_job():
    server = FakeServer(refuse_at=3)
    server.away = True
    with pytest.raises(RemoteError) as raised:
        batches.submit(server, bodies(40), None, wait_for_worker=False)  # type: ignore[arg-type]
    assert server.cancels == 1
    assert raised.value.message.endswith(
        "(the 12 jobs that earlier requests created were cancelled, but for 12 that had ended "
        "or could not be reached (list_jobs(tag=...)))"
    )


def test_a_second_interrupt_ends_the_wait_but_not_the_cancels(monkeypatch):
    """Ctrl-C while a failed sweep's jobs are being cancelled (a thousand cancels take
    seconds): the call returns at once with the sweep's own error, and a thread goes on
    cancelling, so that no job of the sweep stays queued."""
    server = FakeServer()
    cancelling, release = threading.Event(), threading.Event()
    plain_cancel = server.cancel_many

    def held_cancel(job_ids: list[str]) -> dict:
        cancelling.set()
        assert release.wait(60), "the test never released the cancels"
        return plain_cancel(job_ids)

    waiting = []
    plain_wait = batches._Withdrawal.wait

    def seen_wait(withdrawal) -> str:
        waiting.append(withdrawal)
        return plain_wait(withdrawal)

    server.cancel_many = held_cancel  # type: ignore[method-assign]

    answered = threading.Event()
    plain_batch = server.submit_batch

    def seen_batch(body: bytes, key: str | None = None) -> list[dict]:
        records = plain_batch(body, key)
        answered.set()
        return records

    server.submit_batch = seen_batch  # type: ignore[method-assign]

    def encoded_then_broken():
        yield from bodies(10)
        # once the first part's jobs exist: there are jobs to cancel
        assert answered.wait(60), "the first part was never sent"
        raise ValueError("member 10 does not encode")

    def interrupt_the_wait() -> None:
        # once the caller waits for the cancels (a Ctrl-C before it would end the sweep's
        # thread-starting too, not the wait this test is about)
        assert cancelling.wait(60), "no cancel was sent"
        deadline = time.monotonic() + 60
        while not (waiting and waiting[0].waiting.wait(0.01)):
            assert time.monotonic() < deadline, "the caller never waited"
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_the_wait)
    interrupter.start()
    monkeypatch.setattr(batches._Withdrawal, "wait", seen_wait)
    try:
        with pytest.raises(ValueError) as raised:
            batches.submit(server, encoded_then_broken(), None, wait_for_worker=False)  # type: ignore[arg-type]
    finally:
        release.set()
        interrupter.join(60)
    assert getattr(raised.value, "__notes__", None) == [
        "raised by member 10 of the sweep; " + batches._Withdrawal.INTERRUPTED
    ]
    withdrawals = [t for t in threading.enumerate() if t.name == "bumps-remote-withdraw"]
    for thread in withdrawals:
        thread.join(60)
    created = [f"job-{i}" for i in range(server.made)]
    assert server.made >= 4 and server.cancelled == created


def test_a_failed_sweeps_jobs_are_cancelled_in_one_request():
    server = FakeServer(refuse_at=3)
    with pytest.raises(RemoteError):
        batches.submit(server, bodies(40), None, wait_for_worker=False)  # type: ignore[arg-type]
    assert server.cancels == 1 and server.cancelled == [f"job-{i}" for i in range(12)]


def test_a_server_without_bulk_cancel_gets_one_cancel_per_job():
    server = FakeServer(refuse_at=3, ended={"job-5"})
    server.bulk_cancel = False
    with pytest.raises(RemoteError) as raised:
        batches.submit(server, bodies(40), None, wait_for_worker=False)  # type: ignore[arg-type]
    assert server.cancelled == [f"job-{i}" for i in range(12) if i != 5]
    assert raised.value.message.endswith(
        "but for 1 that had ended or could not be reached (list_jobs(tag=...)))"
    )
