"""A kept fit process serves its owner's next job only within its bounds
(worker/pool/kept_fit.py): 1 % of the CPU time limit its sandbox set, read from the process
itself, at least 1 s and at most 60 s (60 s with no limit); its address space grown by at
most half of what its limit left it at its first check; 500 jobs in any case. And, said by
the fit process of itself (worker/fit/spare_child.py): less than half its private /tmp and
of its open-file limit used. Each process here is a real one with real limits."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from types import SimpleNamespace
from typing import cast

import pytest

from jupyter_bumps_remote.worker.fit.spare_child import (
    JOBS_WITHOUT_PRIVATE_TMP,
    descriptors_half_used,
    room_for_another_job,
    temporary_space_half_used,
)
from jupyter_bumps_remote.worker.pool import kept_fit
from jupyter_bumps_remote.worker.pool.spare import SpareFitProcess

# a process that says when it is up, then waits on its stdin; each line it reads, N,
# reserves N MiB more of address space without touching it (an anonymous mapping: no
# memory written, as a heap that grew)
GROWING = """
import mmap, sys
held = []
print("ready", flush=True)
for line in sys.stdin:
    held.append(mmap.mmap(-1, int(line) << 20))
    print("grown", flush=True)
"""


def started(cpu: int | None = None, address_space: int | None = None) -> subprocess.Popen:
    """A fresh process (no child, hardly any CPU used) with these soft limits, once it is up:
    its address space no longer grows as Python starts (a first check made while it still
    started up found up to 6 MB less than the next, on a loaded machine)."""

    def limit() -> None:
        if cpu is not None:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    process = subprocess.Popen(
        [sys.executable, "-c", GROWING],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=limit,
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


def as_kept(process: subprocess.Popen) -> SpareFitProcess:
    return cast(SpareFitProcess, SimpleNamespace(pid=process.pid))


def no_hard_limit(which: int) -> bool:
    return resource.getrlimit(which)[1] == resource.RLIM_INFINITY


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
    if limit is not None and not no_hard_limit(resource.RLIMIT_CPU):
        pytest.skip("this process's hard CPU limit may be below the one tried")
    process = started(cpu=limit)
    try:
        usage = kept_fit.usage_of(process.pid)
        assert usage is not None
        limits = kept_fit.soft_limits(process.pid)
        assert limits is not None and limits[0] == limit
        bounds = kept_fit.bounds_of(process.pid, usage)
        assert bounds is not None and bounds.cpu_seconds == cap
    finally:
        process.communicate("")


def test_a_process_whose_limits_cannot_be_read_is_not_kept():
    process = started()
    usage = kept_fit.usage_of(process.pid)
    process.communicate("")  # reaped: /proc has nothing of it
    assert usage is not None
    assert kept_fit.soft_limits(process.pid) is None
    assert kept_fit.bounds_of(process.pid, usage) is None
    assert not kept_fit.may_serve_again(as_kept(process), served=1)


def test_the_caps():
    assert kept_fit.REUSE_JOBS == 500
    assert kept_fit.REUSE_MEMORY_FRACTION == 0.5
    assert (kept_fit.REUSE_CPU_SECONDS_MIN, kept_fit.REUSE_CPU_SECONDS_MAX) == (1.0, 60.0)
    assert kept_fit.REUSE_CPU_FRACTION == 0.01


@pytest.mark.parametrize("limited", [True, False])
def test_a_process_whose_address_space_grew_past_half_its_room_serves_no_more(limited):
    if limited and not no_hard_limit(resource.RLIMIT_AS):
        pytest.skip("this process's hard address space limit may be below the one tried")
    limit = 4 << 30
    process = started(address_space=limit if limited else None)
    assert process.stdin is not None and process.stdout is not None
    kept = as_kept(process)
    try:
        assert kept_fit.may_serve_again(kept, served=1)  # its first check: what it holds now
        usage = kept_fit.usage_of(process.pid)
        assert usage is not None
        bounds = kept_fit.bounds_of(process.pid, usage)
        assert bounds is not None
        room = (limit if limited else kept_fit._machine_memory()) - usage.address_space
        assert abs(bounds.address_space - (usage.address_space + room // 2)) <= 1 << 20
        grow = (bounds.address_space - usage.address_space) // 2**20
        process.stdin.write(f"{grow - 16}\n")  # just within
        process.stdin.flush()
        assert process.stdout.readline() == "grown\n"
        assert kept_fit.may_serve_again(kept, served=1)
        process.stdin.write("32\n")  # just past
        process.stdin.flush()
        assert process.stdout.readline() == "grown\n"
        assert not kept_fit.may_serve_again(kept, served=1)
    finally:
        process.communicate("")
    assert not kept_fit.may_serve_again(kept, served=1)  # gone: not kept either


def test_a_process_past_its_jobs_serves_no_more():
    process = started()
    try:
        assert kept_fit.may_serve_again(as_kept(process), served=kept_fit.REUSE_JOBS - 1)
        assert not kept_fit.may_serve_again(as_kept(process), served=kept_fit.REUSE_JOBS)
    finally:
        process.communicate("")


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


# Run in a mount namespace of its own: the tmpfs goes with it, whatever happens to the test.
IN_A_TMPFS = """
import os, sys
from jupyter_bumps_remote.worker.fit.spare_child import temporary_space_half_used
where = sys.argv[1]
seen = [temporary_space_half_used(where)]
for name in ("left-behind", "left-behind-too"):
    with open(os.path.join(where, name), "wb") as f:
        f.write(b"x" * (1 << 20))
    seen.append(temporary_space_half_used(where))
print(seen)
"""


UNSHARED = ["unshare", "--mount", "--propagation", "private", "sh", "-c"]


@pytest.mark.skipif(os.geteuid() != 0, reason="a mount namespace and a tmpfs take root")
def test_a_private_tmp_half_full_is_told_apart_from_one_with_room(tmp_path):
    for size, expected in (("4m", "[False, False, True]"), ("0", "[False, False, False]")):
        script = f"mount -t tmpfs -o size={size} tmpfs {tmp_path} && exec {sys.executable} -c "
        command = [*UNSHARED, script + '"$1" "$2"', "sh", IN_A_TMPFS, str(tmp_path)]
        ran = subprocess.run(command, capture_output=True, text=True)
        if ran.returncode != 0 and "mount" in ran.stderr:
            pytest.skip(f"no tmpfs here: {ran.stderr}")
        assert ran.stdout.strip() == expected, (size, ran.stderr)  # size 0: no set size
    assert temporary_space_half_used("/no/such/directory")


def test_room_for_another_job_counts_jobs_where_tmp_is_on_the_hosts_disk():
    assert room_for_another_job(False, JOBS_WITHOUT_PRIVATE_TMP - 1) == (
        not descriptors_half_used()
    )
    assert not room_for_another_job(False, JOBS_WITHOUT_PRIVATE_TMP)


DESCRIPTORS = """
import os, resource
from jupyter_bumps_remote.worker.fit.spare_child import descriptors_half_used
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
seen = [descriptors_half_used()]
held = [os.open(os.devnull, os.O_RDONLY) for _ in range(33 - len(os.listdir("/proc/self/fd")))]
seen.append(descriptors_half_used())
print(seen)
"""


def test_half_the_open_file_limit_held_is_told_apart():
    ran = subprocess.run(
        [sys.executable, "-c", DESCRIPTORS], capture_output=True, text=True, check=True
    )
    assert ran.stdout.strip() == "[False, True]"
