"""The rules of a pool process's takes (worker/pool/backlog.py), on a store that records
what is asked of it: nothing from a queue the worker does not consume, the task's own
message acked once before the first take, a message another consumer took skipped, a
drained job given back and the takes ended."""

from __future__ import annotations

import time

import pytest

from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.worker.pool import backlog
from jupyter_bumps_remote.worker.pool.backlog import RanJob, run_backlog
from jupyter_bumps_remote.worker.pool.runner import DRAINED

QUEUE, OTHER = "bumps-remote.bumps", "bumps-remote.session-bumps"


class RecordingStore:
    """Gives `heads` one by one as the queue's next message, records every call."""

    def __init__(self, heads: list[bytes | None]):
        self.heads = heads
        self.calls: list[tuple] = []

    def next_message(self, queue, others):
        self.calls.append(("next", queue, tuple(others)))
        return self.heads.pop(0) if self.heads else None

    def ack_taken(self, tag):
        self.calls.append(("ack", tag))

    def give_back(self, message):
        self.calls.append(("give_back", message.tag))


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
        return state["outcomes"].pop(0)

    monkeypatch.setattr(backlog, "run_job", run_job)
    monkeypatch.setattr(backlog, "draining", lambda: False)
    monkeypatch.setattr(backlog.kept_fit, "kept_for", lambda owner: owner == "alice")
    monkeypatch.setattr(backlog, "queued_fit", lambda queue, raw: Fit(*raw.decode().split()))

    def with_store(heads: list[bytes | None]) -> RecordingStore:
        store = RecordingStore(heads)
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
        ("ack", "own-tag"),
        ("ack", "tag-j2"),
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
        ("give_back", "tag-j1"),
    ]


def test_no_takes_past_the_window_or_without_a_kept_fit_process(world, monkeypatch):
    store = world["store"]([b"j1 alice"])
    late = RanJob("alice", QUEUE, "w@host", time.monotonic() - backlog.PULL_SECONDS - 1, "t")
    assert run_backlog(WorkerSettings(), late, [QUEUE]) == 0
    monkeypatch.setattr(backlog.kept_fit, "kept_for", lambda owner: False)
    assert run_backlog(WorkerSettings(), ran(), [QUEUE]) == 0
    assert store.calls == [] and world["ran"] == []
