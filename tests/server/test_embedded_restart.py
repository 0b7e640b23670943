"""docs/reliability.md#9-jupyter-server-restarted-mid-fit, embedded mode: the server owns
its Redis and workers, so a server restart stops the fit that was running. The job is not
lost and does not wait for the visibility timeout (12 h): a clean stop drains the workers
and the fit resumes from its checkpoint at the next start, as the same attempt; after a
SIGKILL the restarted server queues it again, and it runs to its end as attempt 2. Either
way its result is stored once."""

from __future__ import annotations

import signal

import pytest

from jupyter_bumps_remote.shared import jobs, transport

from ..support.embedded_processes import our_processes
from ..support.problems import gaussian_problem
from ..support.services import JupyterServer
from ..support.waiting import wait_until

# fits cut short: a stopping server gives its workers' running fits 10 s to end first, after
# its own shutdown steps (several seconds in CI): the fit must outlast both
FIT = {"steps": 200_000, "burn": 10}
LASTS = {"shutdown": 22.0, "SIGKILL": 5.0}


def statuses(server, job_id) -> list[str]:
    """The job's status events, read back through the event WebSocket."""
    from jupyter_bumps_remote.kernel.client import Client
    from jupyter_bumps_remote.kernel.discovery import ServerInfo

    client = Client(ServerInfo(server.url, server.token, "test"))
    found = []
    for event in client.events(job_id, timeout=10):
        if event["type"] == "status":
            found.append(event["data"]["status"])
            if found[-1] in jobs.TERMINAL:
                return found
    return found


@pytest.mark.parametrize("how", ["shutdown", "SIGKILL"])
def test_9_embedded_a_fit_cut_by_a_server_restart_runs_again_after_it(tmp_path, how):
    home = tmp_path / "home"
    server = JupyterServer(home).start()
    try:
        wait_until(
            lambda: (r := server.api("GET", "info")).status_code == 200 and r.json()["workers"],
            timeout=60,
            what="an embedded worker",
        )
        payload = transport.encode(gaussian_problem())
        options = {**FIT, "max_time": LASTS[how]}
        created = server.api(
            "POST", "jobs", json={"payload": payload, "fitter": "dream", "options": options}
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        first = wait_until(
            lambda: (r := server.api("GET", f"jobs/{job_id}").json()).get("progress") and r,
            timeout=60,
            what="the fit's progress",
        )
        assert first["status"] == jobs.RUNNING and first["attempt"] == 1
    finally:
        if how == "shutdown":
            server.stop()
        else:
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(10)
            server._log_file.close()
    # the workers and the fit died with the server
    wait_until(lambda: not our_processes(home), timeout=30, what="our processes to exit")

    server.start()
    try:
        record = wait_until(
            lambda: (
                (r := server.api("GET", f"jobs/{job_id}")).status_code == 200
                and r.json()["status"] in jobs.TERMINAL
                and r.json()
            ),
            timeout=90,
            what="the job's end after the restart",
        )
        assert record["status"] == jobs.SUCCEEDED, record
        if how == "shutdown":
            # a clean stop drains the workers: the fit's state is checkpointed, its job given
            # back without counting the attempt, and it resumes where it was
            # (docs/reliability.md#26-a-stopped-worker-drains)
            assert record["attempt"] == 1 and record.get("drained"), record
            assert record["progress"]["resumed_from"] > 0, record
        else:  # cut short: it runs whole again once the restarted server queues it again
            assert record["attempt"] == 2, record
            assert record["finished"] - record["started"] >= LASTS[how]
            assert "queued again" in server.log.read_text()
        assert statuses(server, job_id) == ["queued", "running", "running", "succeeded"]
        result = server.api("GET", f"jobs/{job_id}/result").json()
        assert result["chisq"] == record["progress"]["chisq"]
    finally:
        server.stop()
    wait_until(lambda: not our_processes(home), timeout=30, what="our processes to exit")
