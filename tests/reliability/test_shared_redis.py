"""Shared part of docs/reliability.md#21-redis-access: a shared Redis reached with an ACL
user and password, and over TLS only (rediss://), by a real worker and a real Jupyter server
configured as the operator guide says; a wrong password or scheme is a clear error that
names the setting."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jupyter_bumps_remote.shared import jobs, transport

from ..support.problems import gaussian_problem
from ..support.services import REPO, JupyterServer, RedisServer, TLSFiles, Worker
from ..support.waiting import wait_until

USER, PASSWORD, WRONG = "bumps", "s3cret-Pa55word", "Wr0ng-Pa55word"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return TLSFiles(tmp_path_factory.mktemp("tls"))


@pytest.fixture(params=["acl", "acl+tls"])
def shared_redis(request, tls_files):
    tls = tls_files if "tls" in request.param else None
    server = RedisServer(appendonly=False, user=USER, password=PASSWORD, tls=tls).start()
    yield server
    server.cleanup()


@pytest.fixture
def tls_only_redis(tls_files):
    server = RedisServer(appendonly=False, user=USER, password=PASSWORD, tls=tls_files).start()
    yield server
    server.cleanup()


@pytest.fixture
def servers(tmp_path):
    """Start Jupyter servers for a test, and stop them after it."""
    started = []

    def start(redis_url: str) -> JupyterServer:
        server = JupyterServer(
            tmp_path / f"home-{len(started)}", args=[f"--BumpsRemote.redis_url={redis_url}"]
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


def test_21_a_fit_runs_end_to_end_through_a_shared_redis_with_a_password(shared_redis, servers):
    assert shared_redis.url.startswith("rediss://" if shared_redis.tls else "redis://")
    worker = Worker(shared_redis.url, concurrency=1).start()
    try:
        server = servers(shared_redis.url)
        info = wait_until(
            lambda: (
                (r := server.api("GET", "info")).status_code == 200
                and r.json()["workers"]
                and r.json()
            ),
            timeout=60,
            what="the worker in GET info",
        )
        assert info["mode"] == "shared"
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
        assert server.api("GET", f"jobs/{job_id}/result").json()["chisq"] > 0
    finally:
        worker.stop()
    # the logs show where Redis is, never the password; kombu checks the certificate too
    for log in (worker.log.read_text(), server.log.read_text()):
        assert PASSWORD not in log and "insecure SSL" not in log
    assert f"{USER}:**@127.0.0.1:{shared_redis.port}" in worker.log.read_text()
    scheme = "rediss" if shared_redis.tls else "redis"
    assert f"Redis at {scheme}://{USER}:**@127.0.0.1" in server.log.read_text()


def wrong_urls(redis: RedisServer) -> dict[str, tuple[str, str]]:
    """URL → what the message must say."""
    return {
        "wrong password": (redis.url_with(password=WRONG), "refused the credentials"),
        "plain to TLS": (redis.url_with(scheme="redis"), "use rediss://"),
        "unknown CA": (redis.url_with().split("?")[0], "ssl_ca_certs="),
    }


@pytest.mark.parametrize("case", ["wrong password", "plain to TLS", "unknown CA"])
def test_21_a_wrong_url_is_a_503_naming_the_setting(tls_only_redis, servers, case):
    url, says = wrong_urls(tls_only_redis)[case]
    server = servers(url)
    # the server checks Redis at start-up and logs what is wrong
    wait_until(lambda: says in server.log.read_text(), timeout=30, what="the start-up check")
    answer = server.api("GET", "jobs")
    assert answer.status_code == 503, answer.text
    message = answer.json()["message"]
    assert says in message and "c.BumpsRemote.redis_url" in message, message
    assert PASSWORD not in message and WRONG not in message
    log = server.log.read_text()
    assert "Traceback" not in log and PASSWORD not in log and WRONG not in log


@pytest.mark.parametrize("case", ["wrong password", "plain to TLS", "unknown CA"])
def test_21_a_worker_with_a_wrong_url_refuses_to_start_and_says_why(tls_only_redis, case):
    url, says = wrong_urls(tls_only_redis)[case]
    worker = subprocess.run(
        [sys.executable, "-m", "jupyter_bumps_remote.cli", "worker", "--redis-url", url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert worker.returncode == 2, worker.stderr
    assert worker.stderr.startswith("bumps-remote worker: not starting:"), worker.stderr
    assert says in worker.stderr and "BUMPS_REMOTE_REDIS_URL" in worker.stderr
    assert "Traceback" not in worker.stderr and len(worker.stderr.splitlines()) == 1
    assert WRONG not in worker.stderr and PASSWORD not in worker.stderr


def test_21_a_worker_whose_acl_user_may_not_use_pub_sub_refuses_to_start():
    """Redis 7 gives a new ACL user no pub/sub channels; Celery's control and event messages
    need them (the worker would start, then die on NoPermissionError)."""
    redis = RedisServer(appendonly=False, user=USER, password=PASSWORD, channels=False).start()
    try:
        worker = subprocess.run(
            [
                sys.executable,
                "-m",
                "jupyter_bumps_remote.cli",
                "worker",
                "--redis-url",
                redis.url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
    finally:
        redis.cleanup()
    assert worker.returncode == 2, worker.stderr
    assert "&*" in worker.stderr and "BUMPS_REMOTE_REDIS_URL" in worker.stderr, worker.stderr
    assert "Traceback" not in worker.stderr and PASSWORD not in worker.stderr
