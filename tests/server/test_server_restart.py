"""The Jupyter server restarted mid-fit, shared mode
(docs/reliability.md#9-jupyter-server-restarted-mid-fit).

The fit belongs to the workers and Redis, not to the server: it goes on while the server is
down, the server shows its state again once it is back, the event streams replay what
happened meanwhile from the id a client last saw, and a kernel-side `RemoteJob` that was
waiting reconnects by itself and gets the result.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

import jupyter_bumps_remote as remote
from jupyter_bumps_remote.kernel import api
from jupyter_bumps_remote.kernel.client import Client
from jupyter_bumps_remote.kernel.discovery import ServerInfo
from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.store import JobStore

from ..support.problems import gaussian_problem
from ..support.services import JupyterServer
from ..support.waiting import wait_until

# dream stopped by max_time: long enough to restart a server in the middle of it (a SIGTERM
# shutdown of the server alone took several seconds in CI, and 10 s ran out before the check)
FIT = {"steps": 200_000, "burn": 10, "max_time": 20.0}


class Waiting:
    """`job.result()` in a thread, as a notebook cell blocked on it."""

    def __init__(self, job):
        self.result = self.error = None
        self._thread = threading.Thread(target=self._run, args=(job,), daemon=True)
        self._thread.start()

    def _run(self, job):
        try:
            self.result = job.result(timeout=120)
        except Exception as e:  # noqa: BLE001 - handed to the test
            self.error = e

    def join(self, timeout: float):
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "job.result() still waiting"
        if self.error is not None:
            raise self.error
        return self.result


def read_until(stream, done) -> list[dict]:
    found = []
    for event in stream:
        found.append(event)
        if done(event):
            return found
    raise AssertionError(f"stream ended before the expected event: {found[-3:]}")


def terminal(job_id):
    return lambda e: (
        e["type"] == "status"
        and e["data"].get("job", job_id) == job_id
        and e["data"]["status"] in jobs.TERMINAL
    )


@pytest.fixture
def shared_server(redis_server, worker, tmp_path):
    server = JupyterServer(
        tmp_path / "home", args=[f"--BumpsRemote.redis_url={redis_server.url}"]
    ).start()
    remote.connect(server.url, server.token)
    yield server
    api._client = None
    server.stop()


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_9_a_fit_goes_on_through_a_server_restart_and_the_kernel_gets_its_result(
    shared_server, redis_server, worker, how
):
    server = shared_server
    job = remote.submit(gaussian_problem(), "dream", seed=9, **FIT)
    waiting = Waiting(job)
    client = Client(ServerInfo(server.url, server.token, "test"))
    # a sidebar's view before the restart: events up to the first progress
    seen = read_until(client.events(job.id, timeout=30), lambda e: e["type"] == "progress")
    before = seen[-1]["id"]

    store = JobStore(redis_server.client())
    owner = job.record["owner"]
    step = store.get(owner, job.id)["progress"]["step"]
    signalled = time.monotonic()
    server.process.send_signal(how)
    server.process.wait(30)
    down = time.monotonic() - signalled
    # the fit goes on without the server: its progress keeps coming into Redis after the
    # exit, or (a slow shutdown outlasted it) it ended past the step seen before the signal.
    # This check failed twice in CI after 10 s, cause not found: the window is wide now, and
    # a failure says what it saw.
    at_exit = store.get(owner, job.id)["progress"]["step"]

    def went_on():
        record = store.get(owner, job.id)
        done = record["status"] == jobs.SUCCEEDED and record["progress"]["step"] > step
        return record["progress"]["step"] > at_exit or done

    try:
        wait_until(went_on, 30, "more progress")
    except AssertionError as e:
        raise AssertionError(
            f"{e}; the server took {down:.1f} s to exit; the record: {store.get(owner, job.id)}; "
            f"the worker's log ends:\n{worker.log.read_text()[-4000:]}\nRedis' log ends:\n"
            f"{(redis_server.dir / 'redis.log').read_text()[-2000:]}"
        ) from None
    assert store.get(owner, job.id)["status"] in (jobs.RUNNING, jobs.SUCCEEDED)

    server.start()
    record = server.api("GET", f"jobs/{job.id}").json()
    assert record["status"] in (jobs.RUNNING, jobs.SUCCEEDED), record
    assert record["attempt"] == 1 and record["progress"]["step"] > step, record
    listed = {j["id"]: j for j in server.api("GET", "jobs").json()["jobs"]}
    assert listed[job.id]["status"] in (jobs.RUNNING, jobs.SUCCEEDED)

    # replay from the last id seen before the restart: exactly what Redis holds after it,
    # events sent while the server was down included; no gap, no duplicate
    replay = read_until(client.events(job.id, since=before, timeout=60), terminal(job.id))
    assert replay[-1]["data"]["status"] == jobs.SUCCEEDED, replay[-1]
    expected = store.events(owner, job.id, since=before)
    assert [e["id"] for e in replay] == [e["id"] for e in expected]
    assert sum(e["type"] == "progress" for e in replay) > 1

    # the sidebar's owner stream replays the job's end too
    owner_events = read_until(client.events(None, since="0", timeout=30), terminal(job.id))
    assert owner_events[-1]["data"]["status"] == jobs.SUCCEEDED

    # the notebook's RemoteJob.result() reconnected by itself and got the result
    result = waiting.join(timeout=60)
    assert result.chisq == pytest.approx(store.result(owner, job.id)["chisq"], rel=1e-12)
    assert job.status == jobs.SUCCEEDED and job.record["attempt"] == 1
