"""The rules of a pool process's takes (worker/pool/backlog.py), on a store
that records what is asked of it: nothing from a queue the worker does not consume, only
after a job its task's own message ran to its end, the task's own message acked once
before the first take, a message another consumer took skipped, a drained job given back
and the takes ended, a run that raised acked only once its job has ended; and a job taken
as the drain begins given back before its fit (runner.run_job)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.worker.pool import backlog, runner
from jupyter_bumps_remote.worker.pool.backlog import RanJob, run_backlog, run_backlog_after
from jupyter_bumps_remote.worker.pool.runner import DRAINED

QUEUE, OTHER = "bumps-remote.bumps", "bumps-remote.session-bumps"


class RecordingStore:
    """Gives `heads` one by one as the queue's next message, records every call."""

    def __init__(self, heads: list[bytes | None]):
        self.heads = heads
        self.calls: list[tuple] = []
        self.statuses: dict[str, str] = {}

    def next_message(self, queue, others):
        self.calls.append(("next", queue, tuple(others)))
        return self.heads.pop(0) if self.heads else None

    def ack_taken(self, tag):
        self.calls.append(("ack", tag))

    def give_back(self, message):
        self.calls.append(("give_back", message.tag))

    def get(self, owner, job_id):
        return {"status": self.statuses.get(job_id, "succeeded")}


class Fit:
    def __init__(self, job_id: str, owner: str = "alice"):
        self.job_id, self.owner, self.dispatch = job_id, owner, "token"
        self.message = type("Message", (), {"tag": f"tag-{job_id}"})()


@pytest.fixture
def world(monkeypatch):
    """A store, the fits its heads stand for, and the outcomes run_job gives, in order."""
    state: dict = {"outcomes": [], "ran": []}

    def run_job(settings, owner, job_id, worker, dispatch, take):
        state["ran"].append(job_id)
        state["store_now"].calls.append(("run", job_id))
        outcome = state["outcomes"].pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(backlog, "run_job", run_job)
    monkeypatch.setattr(backlog, "draining", lambda: False)
    monkeypatch.setattr(backlog.kept_fit, "kept_for", lambda owner: owner == "alice")
    monkeypatch.setattr(backlog, "queued_fit", lambda queue, raw: Fit(*raw.decode().split()))

    def with_store(heads: list[bytes | None]) -> RecordingStore:
        store = RecordingStore(heads)
        state["store_now"] = store
        monkeypatch.setattr(backlog, "store_for", lambda settings: store)
        return store

    state["store"] = with_store
    return state


def ran(queue: str = QUEUE) -> RanJob:
    return RanJob("alice", queue, "w@host", time.monotonic(), "own-tag")


def test_a_queue_the_worker_does_not_consume_is_never_looked_at(world):
    store = world["store"]([b"j1 alice"])
    assert run_backlog(WorkerSettings(), ran("someone-elses-list"), [QUEUE, OTHER]) == 0
    assert store.calls == [] and world["ran"] == []


def test_takes_ack_the_tasks_own_message_once_and_skip_what_another_took(world):
    store = world["store"]([b"j1 alice", b"j2 alice", b"j3 alice", b"j4 bob"])
    world["outcomes"] = ["gone", "done", "done"]
    assert run_backlog(WorkerSettings(), ran(), [QUEUE, OTHER]) == 2
    assert world["ran"] == ["j1", "j2", "j3"]  # bob's message ends the takes, unrun
    assert [c for c in store.calls if c[0] != "next"] == [
        ("ack", "own-tag"),  # before the first take
        ("run", "j1"),
        ("run", "j2"),
        ("ack", "tag-j2"),
        ("run", "j3"),
        ("ack", "tag-j3"),
    ]
    assert {c[1:] for c in store.calls if c[0] == "next"} == {(QUEUE, (OTHER,))}


def test_a_drained_taken_job_is_given_back_and_ends_the_takes(world):
    store = world["store"]([b"j1 alice", b"j2 alice"])
    world["outcomes"] = [DRAINED]
    assert run_backlog(WorkerSettings(), ran(), [QUEUE]) == 1
    assert world["ran"] == ["j1"]
    assert [c for c in store.calls if c[0] != "next"] == [
        ("ack", "own-tag"),
        ("run", "j1"),
        ("give_back", "tag-j1"),
    ]


def test_no_takes_past_the_window_or_without_a_kept_fit_process(world, monkeypatch):
    store = world["store"]([b"j1 alice"])
    late = RanJob("alice", QUEUE, "w@host", time.monotonic() - backlog.PULL_SECONDS - 1, "t")
    assert run_backlog(WorkerSettings(), late, [QUEUE]) == 0
    monkeypatch.setattr(backlog.kept_fit, "kept_for", lambda owner: False)
    assert run_backlog(WorkerSettings(), ran(), [QUEUE]) == 0
    assert store.calls == [] and world["ran"] == []


def test_another_owners_message_first_takes_nothing_and_acks_nothing(world):
    store = world["store"]([b"j1 bob"])
    assert run_backlog(WorkerSettings(), ran(), [QUEUE]) == 0
    assert [c[0] for c in store.calls] == ["next"] and world["ran"] == []


def test_a_taken_run_that_raised_is_acked_only_once_its_job_has_ended(world):
    store = world["store"]([b"j1 alice"])
    world["outcomes"] = [RuntimeError("Redis went away")]
    with pytest.raises(RuntimeError):
        run_backlog(WorkerSettings(), ran(), [QUEUE])
    assert store.calls[-1] == ("ack", "tag-j1")  # ended: acked, as Celery acks a failed task
    store = world["store"]([b"j2 alice"])
    store.statuses["j2"] = "running"
    world["outcomes"] = [RuntimeError("Redis went away")]
    with pytest.raises(RuntimeError):
        run_backlog(WorkerSettings(), ran(), [QUEUE])
    assert store.calls[-1] == ("run", "j2")  # running: left unacked, for the lost-run sweep


class FakeTask:
    """What run_backlog_after reads of a Celery task."""

    def __init__(self, consumed: list[str], exchange: str = ""):
        info = {"exchange": exchange, "routing_key": QUEUE}
        self.request = SimpleNamespace(
            id="j0", delivery_info=info, properties={"delivery_tag": "own-tag"}
        )
        queues = SimpleNamespace(consume_from={name: None for name in consumed})
        self.app = SimpleNamespace(amqp=SimpleNamespace(queues=queues))


@pytest.fixture
def backlog_calls(monkeypatch):
    calls: list[tuple] = []

    def run_backlog(settings, ran, consumed):
        calls.append((ran, list(consumed)))
        if ran.worker == "raises":
            raise RuntimeError("Redis went away")
        return 0

    monkeypatch.setattr(backlog, "run_backlog", run_backlog)
    return calls


def test_takes_follow_only_a_job_that_ran_to_its_end_when_the_worker_takes(backlog_calls):
    on, off = WorkerSettings(), WorkerSettings(take_backlog=False)
    task = FakeTask([QUEUE, OTHER])
    for outcome in ("forged", "missing", "terminal", "duplicate", "cancelled", "failed", "lost"):
        run_backlog_after(task, on, outcome, "alice", "w@host", 0.0)
    run_backlog_after(task, off, "done", "alice", "w@host", 0.0)
    assert backlog_calls == []
    run_backlog_after(task, on, "done", "alice", "w@host", 1.5)
    ((ran_job, consumed),) = backlog_calls
    assert ran_job == RanJob("alice", QUEUE, "w@host", 1.5, "own-tag")
    assert consumed == [QUEUE, OTHER]
    # a message sent through a named exchange: no queue it came from that a take may trust
    run_backlog_after(FakeTask([QUEUE], exchange="amq.direct"), on, "done", "a", "w", 0.0)
    assert backlog_calls[-1][0].queue == ""


def test_what_goes_wrong_in_the_takes_is_logged_not_raised(backlog_calls, caplog):
    run_backlog_after(FakeTask([QUEUE]), WorkerSettings(), "done", "alice", "raises", 0.0)
    assert "Redis went away" in caplog.text


def test_a_job_taken_as_the_drain_begins_is_given_back_before_its_fit(monkeypatch):
    """runner.run_job: the start took the job, the drain came meanwhile: no fit runs."""
    given: list[tuple] = []

    class Store:
        def drained(self, owner, job_id, token, event):
            given.append((owner, job_id, token, event["reason"]))

    record = {"status": "running", "created": time.time()}
    monkeypatch.setattr(runner, "store_for", lambda settings: Store())
    monkeypatch.setattr(runner, "defer_sigterm", lambda draining: None)
    monkeypatch.setattr(runner, "claim", lambda *args: ("started", record, b"payload"))
    monkeypatch.setattr(runner, "draining", lambda: True)

    def no_fit(*args, **kwargs):
        raise AssertionError("a fit ran")

    monkeypatch.setattr(runner, "_run", no_fit)
    taken = object()
    outcome = runner.run_job(WorkerSettings(), "alice", "j1", "w@host", "t", take=taken)  # type: ignore[arg-type]
    assert outcome == DRAINED
    ((owner, job_id, token, reason),) = given
    assert (owner, job_id, reason) == ("alice", "j1", "drained")
    assert token.startswith("w@host/")  # the run's own token, which holds the lease
