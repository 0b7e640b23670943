"""A fit process kept after a job, to run its owner's next job.

In a sweep, or a notebook's loop of fits, most of a tiny fit's cost on the worker was its
process: the launcher's fork, entering the sandbox, writing again the pages it shares with
the launcher, and killing what it left behind; the fit itself was a few ms. Every job is
handed over with `reuse`: its fit process then says when it is done rather than exit, and
this pool process keeps it, instead of forking a spare, for the next job if that job is
the same owner's and comes within REUSE_SECONDS. Another owner's job, a later one, or a
kept process past its bounds gets a fresh process: REUSE_JOBS served, its share of its CPU
time limit used (1 % of it, within 1 and 60 s), its address space grown past half of what
was left of its limit after its first job, or (said by the fit process itself,
worker/fit/spare_child.py) half its private /tmp or open-file limit used. The kept one is
ended as any fit process is (runner.retire); one nobody took within REUSE_SECONDS is ended
then and replaced by a rehearsed spare (runner._watch_kept). Owners never share a fit
process; a crash still fails only the job it happened in (the next gets a fresh process); a
process is kept only after a completed job that left nothing running: no thread of its
code, no process it started (docs/design.md#one-fit-one-forked-process-forked-ahead).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from ..fit import process_tree
from .spare import SpareFitProcess

# The owner's next job must come this soon after the last (a backlog's comes at once).
REUSE_SECONDS = 2.0
# Jobs one process serves at most, whatever else it has left: a backstop for what no bound
# below measures (a module's global state growing). A new process costs a sweep about 20 ms
# of CPU (fork, sandbox, the warm pages written again): at 50 jobs, as until 2026-12-06,
# 0.4 ms of a tiny fit's 3.8 ms in its fit process (docs/benchmarks.md#before-and-after-a-change).
REUSE_JOBS = 500
# Its limits count over all its jobs, so a job in a kept process finds some of them used:
# what its earlier jobs left in its heap, at most this fraction of the address space its
# limit left it after its first job (RLIMIT_AS, BUMPS_REMOTE_MAX_MEMORY_MB), and of its CPU
# time limit (RLIMIT_CPU, BUMPS_REMOTE_MAX_CPU_SECONDS) a fraction between the bounds (the
# upper one with no limit). At 1 s flat, a fit of a second served one job, and a sweep of
# fits of 30 to 90 ms retired its process every 12 to 30 jobs.
REUSE_MEMORY_FRACTION = 0.5
REUSE_CPU_FRACTION = 0.01
REUSE_CPU_SECONDS_MIN = 1.0
REUSE_CPU_SECONDS_MAX = 60.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Kept:
    process: SpareFitProcess
    owner: str
    served: int  # jobs it has run
    since: float  # time.monotonic() of its last job's end


_kept: dict[int, Kept] = {}  # by the pid of the pool process that keeps it


def keep(process: SpareFitProcess, owner: str, served: int) -> None:
    _kept.clear()  # a forked child must not use its parent's
    _kept[os.getpid()] = Kept(process, owner, served, time.monotonic())


def take(owner: str) -> tuple[SpareFitProcess | None, SpareFitProcess | None, int]:
    """(the kept process if it may run `owner`'s job now, the kept process to end instead,
    how many jobs the first has served)."""
    kept = _kept.pop(os.getpid(), None)
    if kept is None:
        return None, None, 0
    if _may_run(kept, owner):
        return kept.process, None, kept.served
    return None, kept.process, 0


def _may_run(kept: Kept, owner: str) -> bool:
    fresh = time.monotonic() - kept.since <= REUSE_SECONDS
    return kept.owner == owner and fresh and kept.process.alive()


def stale_in() -> float | None:
    """Seconds left before the kept fit process may no longer serve (0: it may not now);
    None if this pool process keeps none."""
    kept = _kept.get(os.getpid())
    if kept is None:
        return None
    return max(0.0, kept.since + REUSE_SECONDS - time.monotonic())


def take_stale() -> SpareFitProcess | None:
    """The kept fit process, no longer this pool process's, if it may no longer serve;
    None (and it stays kept) if it may."""
    kept = _kept.get(os.getpid())
    if kept is None or time.monotonic() - kept.since <= REUSE_SECONDS:
        return None
    del _kept[os.getpid()]
    return kept.process


def kept_for(owner: str) -> bool:
    """Whether this pool process keeps a fit process that may run `owner`'s next job now
    (as `take` would give it)."""
    kept = _kept.get(os.getpid())
    return kept is not None and _may_run(kept, owner)


def holding() -> bool:
    """Whether this pool process keeps a fit process (which then stands for its spare)."""
    return os.getpid() in _kept


def forget() -> None:
    """In a process forked from a pool process: its kept fit process is not this one's."""
    _kept.clear()


def may_serve_again(process: SpareFitProcess, served: int) -> bool:
    """Within its bounds, and nothing of the job it ran is left: no process it started (it
    is a child subreaper, so whatever its code started and orphaned is its child)."""
    if served >= REUSE_JOBS:
        return False
    usage = usage_of(process.pid)
    if usage is None:
        return False
    bounds = bounds_of(process.pid, usage)
    if bounds is None:  # its limits cannot be read: a fresh process is sure
        return False
    if usage.cpu_seconds >= bounds.cpu_seconds or usage.address_space > bounds.address_space:
        return False
    return not children_of(process.pid)


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float  # its own, not its reaped children's
    address_space: int  # bytes (what RLIMIT_AS limits)
    started: int  # clock ticks after boot: with the pid, names this process and no later one


@dataclass(frozen=True)
class Bounds:
    """What a kept process may have used and still serve: set at its first check."""

    cpu_seconds: float
    address_space: int  # bytes


# by (pid, start time): its limits are its sandbox's, read once, not after each of its jobs
_bounds: dict[tuple[int, int], Bounds] = {}
_BOUNDS_KEPT = 64


def usage_of(pid: int) -> Usage | None:
    """What the process has used, from one read of /proc/PID/stat; None if it is gone."""
    try:
        fields = process_tree.read_proc(f"/proc/{pid}/stat").rsplit(b")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        return Usage(cpu, int(fields[20]), int(fields[19]))
    except (OSError, ValueError, IndexError):
        return None


def bounds_of(pid: int, usage: Usage) -> Bounds | None:
    """The process's bounds, from its limits and what it used at its first check: its
    address space may grow by REUSE_MEMORY_FRACTION of what was left of its limit then (a
    warm fit process already takes 0.4 to 0.6 GB; with no limit, of the machine's memory).
    None if its limits cannot be read (not remembered: asked again next time)."""
    key = (pid, usage.started)
    bounds = _bounds.get(key)
    if bounds is None:
        limits = soft_limits(pid)
        if limits is None:
            return None
        cpu, memory = limits
        room = max(0, (memory or _machine_memory()) - usage.address_space)
        if len(_bounds) >= _BOUNDS_KEPT:
            _bounds.clear()  # of processes long retired
        bounds = _bounds[key] = Bounds(
            reuse_cpu_seconds(cpu), usage.address_space + int(room * REUSE_MEMORY_FRACTION)
        )
    return bounds


def reuse_cpu_seconds(limit: int | None) -> float:
    """The CPU time past which a process serves no more jobs, for its soft CPU time limit
    (None: none): REUSE_CPU_FRACTION of it, within REUSE_CPU_SECONDS_MIN and _MAX."""
    if limit is None:
        return REUSE_CPU_SECONDS_MAX
    return min(REUSE_CPU_SECONDS_MAX, max(REUSE_CPU_SECONDS_MIN, limit * REUSE_CPU_FRACTION))


def soft_limits(pid: int) -> tuple[int | None, int | None] | None:
    """The process's soft CPU time (s) and address space (bytes) limits, None for
    unlimited; None if they cannot be read. From /proc/PID/limits, which any user may read
    (prlimit needs the process's uid)."""
    found: dict[str, int | None] = {}
    try:
        for line in process_tree.read_proc(f"/proc/{pid}/limits").decode().splitlines():
            for name in ("Max cpu time", "Max address space"):
                if line.startswith(name):
                    soft = line[len(name) :].split()[0]
                    found[name] = None if soft == "unlimited" else int(soft)
    except (OSError, ValueError, IndexError):
        return None
    if len(found) != 2:
        return None
    return found["Max cpu time"], found["Max address space"]


def _machine_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 1 << 34  # 16 GiB: a bound all the same


def children_of(pid: int) -> list[int]:
    """The process's children, zombies included; [0] (not none) if they cannot be read."""
    try:
        return process_tree.children_of(pid)
    except (OSError, ValueError):
        return [0]
