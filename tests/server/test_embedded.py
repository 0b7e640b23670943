"""Embedded mode end to end: a `jupyter server` with no configuration runs fits by itself."""

from __future__ import annotations

import os
import signal

import pytest

from jupyter_bumps_remote.shared import jobs, transport

from ..support.embedded_processes import our_processes
from ..support.problems import gaussian_problem
from ..support.services import JupyterServer
from ..support.waiting import wait_until


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


def test_a_server_with_no_configuration_runs_fits_and_keeps_them(home):
    server = JupyterServer(home).start()
    try:
        info = wait_until(
            lambda: (
                (r := server.api("GET", "info")).status_code == 200
                and r.json()["workers"]
                and r.json()
            ),
            timeout=60,
            what="an embedded worker",
        )
        assert info["mode"] == "embedded"
        socket_dir = home / "runtime" / "bumps-remote"
        assert (socket_dir / "redis.sock").is_socket()
        assert socket_dir.stat().st_mode & 0o777 == 0o700
        payload = transport.encode(gaussian_problem())
        created = server.api("POST", "jobs", json={"payload": payload, "fitter": "lm"})
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        record = wait_until(
            lambda: (
                (r := server.api("GET", f"jobs/{job_id}").json())["status"] in jobs.TERMINAL and r
            ),
            timeout=60,
            what="the fit",
        )
        assert record["status"] == jobs.SUCCEEDED, record
        chisq = server.api("GET", f"jobs/{job_id}/result").json()["chisq"]

        # a local worker that dies is replaced, and the replacement serves
        (first,) = info["workers"]
        os.kill(first["pid"], signal.SIGKILL)
        wait_until(
            lambda: any(
                w["pid"] != first["pid"] for w in server.api("GET", "workers").json()["workers"]
            ),
            timeout=60,
            what="a restarted worker",
        )
        again = server.api("POST", "jobs", json={"payload": payload, "fitter": "lm"}).json()
        wait_until(
            lambda: server.api("GET", f"jobs/{again['id']}").json()["status"] == jobs.SUCCEEDED,
            timeout=60,
            what="a fit on the restarted worker",
        )
        assert len(our_processes(home, server)) >= 3, "redis-server, worker and pool run"
    finally:
        server.stop()
    # nothing of ours outlives the server
    wait_until(lambda: not our_processes(home), timeout=20, what="our processes to exit")

    restarted = JupyterServer(home).start()
    try:
        listed = wait_until(
            lambda: (r := restarted.api("GET", "jobs")).status_code == 200 and r.json(),
            timeout=60,
            what="the job store after restart",
        )
        assert [j["id"] for j in listed["jobs"]] == [again["id"], job_id]
        assert listed["jobs"][1]["status"] == jobs.SUCCEEDED
        assert restarted.api("GET", f"jobs/{job_id}/result").json()["chisq"] == chisq
    finally:
        restarted.stop()
    wait_until(lambda: not our_processes(home), timeout=20, what="our processes to exit")


def test_without_redis_server_the_api_says_how_to_get_one(home, tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    server = JupyterServer(home, env={"PATH": str(empty_bin)}).start()
    try:
        answer = wait_until(
            lambda: (r := server.api("GET", "info")).status_code == 503 and r.json(),
            timeout=60,
            what="a 503",
        )
        assert "redis-server, which is not installed" in answer["message"]
        assert "c.BumpsRemote.redis_url" in answer["message"]
        assert server.api("GET", "jobs").status_code == 503
        assert server.process.poll() is None  # the server itself runs on
    finally:
        server.stop()
    # said once at start-up (jupyter_server also logs each 503 answer as a warning)
    errors = [line for line in server.log.read_text().splitlines() if line.startswith("[E")]
    assert len([e for e in errors if "redis-server, which is not installed" in e]) == 1
