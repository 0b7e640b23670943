"""A kept fit process stops serving once it has used its share of its CPU time limit
(worker/pool/kept_fit.py): 1 % of the limit its sandbox set, read from the process itself,
at least 1 s and at most 60 s (60 s with no limit); once it holds half its address space
limit; and after 500 jobs in any case. A spare child's private /tmp counts too: half full,
its process serves no more (worker/fit/spare_child.py)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
from types import SimpleNamespace
from typing import cast

import pytest

from jupyter_bumps_remote.worker.fit.spare_child import temporary_space_half_used
from jupyter_bumps_remote.worker.pool import kept_fit
from jupyter_bumps_remote.worker.pool.spare import SpareFitProcess


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
    assert kept_fit.REUSE_JOBS == 500
    assert kept_fit.REUSE_MEMORY_FRACTION == 0.5
    assert (kept_fit.REUSE_CPU_SECONDS_MIN, kept_fit.REUSE_CPU_SECONDS_MAX) == (1.0, 60.0)
    assert kept_fit.REUSE_CPU_FRACTION == 0.01


GROWING = """
import sys
held = []
for line in sys.stdin:
    held.append(bytearray(int(line) << 20))  # address space taken, hardly a page touched
    print("grown", flush=True)
"""


def test_a_process_holding_half_its_address_space_limit_serves_no_more():
    if resource.getrlimit(resource.RLIMIT_AS)[1] != resource.RLIM_INFINITY:
        pytest.skip("this process's hard address space limit may be below the one tried")
    limit = 1 << 30

    def limit_address_space() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    process = subprocess.Popen(
        [sys.executable, "-c", GROWING],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=limit_address_space,
    )
    assert process.stdin is not None and process.stdout is not None
    kept = cast(SpareFitProcess, SimpleNamespace(pid=process.pid))
    try:
        usage = kept_fit.usage_of(process.pid)
        assert usage is not None and usage.address_space < limit // 2
        assert kept_fit.limits_of(process.pid, usage.started).address_space == limit
        assert kept_fit.may_serve_again(kept, served=1)
        process.stdin.write(f"{(limit // 2 - usage.address_space) // 2**20 + 16}\n")
        process.stdin.flush()
        assert process.stdout.readline() == "grown\n"
        assert not kept_fit.may_serve_again(kept, served=1)
    finally:
        process.communicate("")
    assert not kept_fit.may_serve_again(kept, served=1)  # gone: not kept either


def test_a_process_past_its_jobs_serves_no_more():
    kept = cast(SpareFitProcess, SimpleNamespace(pid=os.getpid()))
    assert kept_fit.may_serve_again(kept, served=kept_fit.REUSE_JOBS - 1) == (
        not kept_fit.children_of(os.getpid())
    )
    assert not kept_fit.may_serve_again(kept, served=kept_fit.REUSE_JOBS)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs takes root")
def test_a_private_tmp_half_full_is_told_apart_from_one_with_room():
    with tempfile.TemporaryDirectory() as where:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", where], capture_output=True
        )
        if mounted.returncode != 0:
            pytest.skip(f"no tmpfs here: {mounted.stderr.decode(errors='replace')}")
        try:
            assert not temporary_space_half_used(where)
            with open(os.path.join(where, "left-behind"), "wb") as f:
                f.write(b"x" * (1 << 20))
            assert not temporary_space_half_used(where)
            with open(os.path.join(where, "left-behind-too"), "wb") as f:
                f.write(b"x" * (1 << 20))
            assert temporary_space_half_used(where)
        finally:
            subprocess.run(["umount", where], check=True)
    assert temporary_space_half_used("/no/such/directory")


def test_a_processs_children_are_read_from_its_threads_lists():
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        assert child.pid in kept_fit.children_of(os.getpid())
    finally:
        child.communicate(b"")
    assert child.pid not in kept_fit.children_of(os.getpid())  # reaped
    assert kept_fit.children_of(child.pid) == [0]  # gone: cannot say, so not "none"
