"""The round trips of a fit's writes, against a real redis-server, with the pool process's
relay and recorder reading a stand-in fit process's pipes: a tiny fit's early progress
goes with its end, the session file with the release of the lease, in one round trip each
(worker/pool/recorder.py); nothing of what is stored changes."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.store import JobStore
from jupyter_bumps_remote.store.batch import Script
from jupyter_bumps_remote.worker.fit import frames
from jupyter_bumps_remote.worker.pool import relay as relay_module
from jupyter_bumps_remote.worker.pool.lease import LeaseKeeper
from jupyter_bumps_remote.worker.pool.recorder import Recorder, run_together
from jupyter_bumps_remote.worker.pool.relay import Relay
from jupyter_bumps_remote.worker.pool.spare import SpareFitProcess

from ..support.services import RedisServer
from ..support.waiting import wait_until

RESULT = {"chisq": 1.5, "x": [1.0], "dx": [0.1], "labels": ["a"]}


def started_job(store, owner, token="run-1"):
    record = {"id": jobs.new_job_id(), "owner": owner, "name": "fit", "fitter": "lm"}
    record |= {"options": {}, "seed": 1, "max_attempts": 3}
    created, _ = store.create(record, b'{"payload": 1}')
    outcome, record, _ = store.start_run(owner, created["id"], "w1", 3, token, 30)
    assert outcome == "started"
    return created["id"], record


def progress(step, rows, final=False):
    data = {"step": step, "max_steps": 10, "chisq": 2.0, "elapsed": 0.001, "final": final}
    return json.dumps(data | {"rows": rows}).encode()


class Run:
    """A relay and a recorder (and the lease) for a started job, on pipes a test writes."""

    def __init__(self, store, owner, job_id, record, token="run-1"):
        self.stand_in = subprocess.Popen(["sleep", "60"])  # the fit process, until killed
        pipes = [os.pipe() for _ in range(3)]
        (messages, self.to_messages), (stdout, self.to_stdout), (stderr, self.to_stderr) = pipes
        for fd in (messages, stdout, stderr):
            os.set_blocking(fd, False)
        self.process = SpareFitProcess(self.stand_in.pid, -1, messages, stdout, stderr)
        self.recorder = Recorder(store, owner, job_id, token, record=record)
        self.lease = LeaseKeeper(store, owner, job_id, token, 30, lambda: None)
        self.recorder.release_with_session = self.lease.stop_for_release
        self.relay = Relay(self.process, self.recorder, 1 << 20, 1 << 20)

    def send(self, kind, body=b""):
        frames.send(self.to_messages, kind, body)

    def end(self):
        self.stand_in.kill()
        assert self.relay.wait(30)
        self.stand_in.wait()
        for fd in (self.to_messages, self.to_stdout, self.to_stderr):
            os.close(fd)
        self.process.close()
        self.lease.stop()
        assert self.relay.error is None and self.relay.broken is None


@pytest.fixture
def quiet_store(settings):
    """A store on a Redis of its own: the session's Redis serves the session's worker and
    server too (heartbeats, sweeps: scripts of their own), so its counts are not the test's."""
    server = RedisServer(appendonly=False).start()
    try:
        yield JobStore(server.client(), **settings.store_settings())
    finally:
        server.cleanup()


def test_a_tiny_fits_progress_goes_with_its_end_and_its_recipe_with_the_release(quiet_store, owner):
    store = quiet_store
    job_id, record = started_job(store, owner)
    store.keep_lease(owner, job_id, "run-1", 30)
    run = Run(store, owner, job_id, record)
    # all of it sent before the relay's first read: well within the hold
    run.send(frames.PROGRESS, progress(1, [[1, 3.0]]))
    run.send(frames.RESULT, json.dumps(RESULT).encode())
    run.send(frames.PROGRESS, progress(2, [[2, 2.0]], final=True))
    run.send(frames.OUTCOME, b'{"outcome": "completed"}')
    run.send(frames.RECIPE, b'{"point": [1.0]}')
    load_scripts(store)  # (a first call of each loads it: not counted)
    sent = store.redis.info("commandstats")
    run.relay.start()
    wait_until(lambda: not run.recorder.session_pending and run.recorder.finished, 30, "stored")
    run.end()
    calls = store.redis.info("commandstats")
    # the end (one script), then the recipe and the release (one pipeline): no progress alone
    # (the counts are of the whole server: nothing else uses this test's own Redis)
    assert calls["cmdstat_evalsha"]["calls"] - sent["cmdstat_evalsha"]["calls"] == 3
    assert (
        "cmdstat_script|exists" not in calls
        or calls["cmdstat_script|exists"]["calls"]
        == sent.get("cmdstat_script|exists", {"calls": 0})["calls"]
    )
    events = store.events(owner, job_id)
    kinds = [e["type"] for e in events]
    assert kinds[-2:] == ["progress", "status"] and kinds.count("progress") == 1
    last = events[-2]["data"]
    assert last["final"] and last["rows"] == [[1, 3.0], [2, 2.0]]  # no row lost
    ended = store.get(owner, job_id)
    assert ended["status"] == jobs.SUCCEEDED and ended["session"] == "deferred"
    assert ended["progress"]["step"] == 2
    assert store.lease_left(owner, job_id) is None  # given up with the recipe
    assert run.lease.released


def load_scripts(store) -> None:
    """Every script of the store loaded in its Redis, as a worker's first calls leave them:
    a pipeline of EVALSHA on a Redis without them has each written alone (NOSCRIPT)."""
    for script in store.scripts.values():
        store.redis.script_load(script.script)


def counted(store) -> list[int]:
    """The number of commands of each round trip of writes (scripts) the store sends from
    now on (the test's own reads are not counted), its scripts loaded first."""
    load_scripts(store)
    sent: list[int] = []
    execute = store._execute

    def counting(batch):
        if any(isinstance(c, Script) or c[0] == "EVALSHA" for c in batch.commands):
            sent.append(len(batch.commands))
        return execute(batch)

    store._execute = counting
    return sent


def test_the_end_the_recipe_and_the_release_in_one_round_trip_when_read_together(store, owner):
    job_id, record = started_job(store, owner)
    store.keep_lease(owner, job_id, "run-1", 30)
    run = Run(store, owner, job_id, record)
    run.send(frames.RESULT, json.dumps(RESULT).encode())
    run.send(frames.OUTCOME, b'{"outcome": "completed"}')
    run.send(frames.RECIPE, b'{"point": [1.0]}')
    sent = counted(store)
    run.relay.start()
    wait_until(lambda: not run.recorder.session_pending and run.recorder.finished, 30, "stored")
    run.end()
    assert sent == [3]
    ended = store.get(owner, job_id)
    assert (ended["status"], ended["session"]) == (jobs.SUCCEEDED, "deferred")
    assert ended["has_result"] and store.lease_left(owner, job_id) is None
    assert [e["type"] for e in store.events(owner, job_id)][-1] == "status"


def test_a_recipe_that_comes_after_the_end_is_stored_with_the_release(store, owner):
    job_id, record = started_job(store, owner)
    store.keep_lease(owner, job_id, "run-1", 30)
    run = Run(store, owner, job_id, record)
    sent = counted(store)
    run.relay.start()
    run.send(frames.RESULT, json.dumps(RESULT).encode())
    run.send(frames.OUTCOME, b'{"outcome": "completed"}')
    wait_until(lambda: store.get(owner, job_id)["status"] == jobs.SUCCEEDED, 30, "the end")
    assert store.get(owner, job_id)["session"] == "writing"
    assert store.lease_left(owner, job_id) is not None  # held until the run's last write
    run.send(frames.NO_SESSION, b"bumps could not write it")
    wait_until(lambda: not run.recorder.session_pending, 30, "the session's end")
    run.end()
    assert sent == [1, 2]
    ended = store.get(owner, job_id)
    assert (ended["session"], ended["session_error"]) == ("failed", "bumps could not write it")
    assert store.lease_left(owner, job_id) is None


def test_a_bad_recipe_read_with_the_outcome_stops_the_fit_after_its_end(store, owner):
    job_id, record = started_job(store, owner)
    run = Run(store, owner, job_id, record)
    run.send(frames.RESULT, json.dumps(RESULT).encode())
    run.send(frames.OUTCOME, b'{"outcome": "completed"}')
    run.send(frames.RECIPE, b"[1, 2]")
    run.relay.start()
    assert run.relay.wait(30)  # it kills the stand-in
    assert run.relay.broken == "a session recipe that is not a JSON object"
    assert store.get(owner, job_id)["status"] == jobs.SUCCEEDED  # the end stands
    assert run.recorder.session_pending  # what the runner records as the session's loss
    run.recorder.fail({"type": "FitProcessMisbehaved", "message": "stopped", "traceback": ""})
    assert store.get(owner, job_id)["session"] == "failed"


def test_a_session_file_over_its_limit_read_with_the_outcome(store, owner):
    job_id, record = started_job(store, owner)
    run = Run(store, owner, job_id, record)
    run.send(frames.RESULT, json.dumps(RESULT).encode())
    run.send(frames.OUTCOME, b'{"outcome": "completed"}')
    read = run.relay.frames.read

    def first_read():
        # the session file's header comes once the outcome is read: its read ahead meets it
        run.relay.frames.read = read
        found = read()
        os.write(run.to_messages, frames.HEADER.pack(frames.SESSION, 2 << 20))  # no body
        return found

    run.relay.frames.read = first_read
    run.relay.start()
    assert run.relay.wait(30)  # it kills the stand-in: nothing more is read
    assert run.relay.broken is None and run.relay.error is None
    ended = store.get(owner, job_id)
    assert (ended["status"], ended["session"]) == (jobs.SUCCEEDED, "failed")
    assert "over the workers' limit" in ended["session_error"]


def test_progress_held_is_stored_while_the_fit_runs_once_due(store, owner):
    job_id, record = started_job(store, owner)
    run = Run(store, owner, job_id, record)
    run.relay.start()
    run.send(frames.PROGRESS, progress(1, [[1, 3.0]]))
    # stored after the hold, with no message after it
    wait_until(
        lambda: any(e["type"] == "progress" for e in store.events(owner, job_id)),
        30 + relay_module.PROGRESS_HOLD,
        "the held progress stored",
    )
    run.send(frames.PROGRESS, progress(2, [[2, 2.0]]))  # past the hold: stored at once
    wait_until(
        lambda: (
            [e["data"]["rows"] for e in store.events(owner, job_id) if e["type"] == "progress"]
            == [[[1, 3.0]], [[2, 2.0]]]
        ),
        30,
        "both progress events, each with its own rows",
    )
    assert store.get(owner, job_id)["status"] == jobs.RUNNING
    run.end()


def test_a_fit_that_dies_after_a_held_progress_fails_with_it(store, owner):
    job_id, record = started_job(store, owner)
    run = Run(store, owner, job_id, record)
    run.send(frames.PROGRESS, progress(1, [[1, 3.0]]))
    run.relay.start()
    wait_until(lambda: run.recorder._held is not None, 30, "the progress held")
    run.end()  # the stand-in killed: no outcome
    run.recorder.fail({"type": "FitProcessDied", "message": "killed", "traceback": ""})
    events = store.events(owner, job_id)
    assert [e["type"] for e in events][-2:] == ["progress", "status"]
    assert events[-2]["data"]["rows"] == [[1, 3.0]]
    assert store.get(owner, job_id)["status"] == jobs.FAILED


def test_the_session_and_the_release_after_redis_lost_its_scripts(store, owner):
    from jupyter_bumps_remote.store import transitions

    job_id, record = started_job(store, owner)
    store.keep_lease(owner, job_id, "run-1", 30)
    assert store.finish(owner, job_id, jobs.SUCCEEDED, run="run-1", session_follows=True)
    store.redis.script_flush()  # as a restart without persistence leaves it
    settings = store.settings
    replies = run_together(
        store,
        lambda: transitions.put_session(settings, owner, job_id, b"{}", run="run-1", deferred=True),
        lambda: transitions.release_lease(settings, owner, job_id, "run-1"),
    )
    assert replies == [True, None]
    assert store.get(owner, job_id)["session"] == "deferred"
    assert store.lease_left(owner, job_id) is None
