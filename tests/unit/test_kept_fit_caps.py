"""A kept fit process stops serving once it has used its share of its CPU time limit
(worker/pool/kept_fit.py): 1 % of the limit its sandbox set, read from the process itself,
at least 1 s and at most 60 s (60 s with no limit); and after 50 jobs in any case."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from jupyter_bumps_remote.worker.pool import kept_fit


def limited(seconds: int | None) -> subprocess.Popen:
    """A process that waits on its stdin, with that soft CPU time limit (None: none)."""

    def limit() -> None:
        if seconds is not None:
            resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))

    return subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        preexec_fn=limit,
    )


@pytest.mark.parametrize(
    ("limit", "cap"),
    [
        (None, 60.0),  # no limit: the upper bound
        (86_400, 60.0),  # the default on 2 CPUs (12 h each): the upper bound
        (3_000, 30.0),  # 1 % of it
        (50, 1.0),  # a tight limit: at least 1 s
    ],
)
def test_the_cpu_cap_is_a_share_of_the_process_cpu_limit(limit, cap):
    if limit is not None and resource.getrlimit(resource.RLIMIT_CPU)[1] != resource.RLIM_INFINITY:
        pytest.skip("this process's hard CPU limit may be below the one tried")
    process = limited(limit)
    try:
        assert kept_fit.cpu_limit(process.pid) == limit
        assert kept_fit.reuse_cpu_seconds(process.pid) == cap
    finally:
        process.communicate(b"")


def test_an_unreadable_limit_gives_the_least_cap():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()  # reaped: /proc has nothing of it
    assert kept_fit.cpu_limit(process.pid) == 0
    assert kept_fit.reuse_cpu_seconds(process.pid) == kept_fit.REUSE_CPU_SECONDS_MIN


def test_the_caps():
    assert kept_fit.REUSE_JOBS == 50
    assert (kept_fit.REUSE_CPU_SECONDS_MIN, kept_fit.REUSE_CPU_SECONDS_MAX) == (1.0, 60.0)
    assert kept_fit.REUSE_CPU_FRACTION == 0.01
