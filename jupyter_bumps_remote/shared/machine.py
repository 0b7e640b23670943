"""What this machine offers a fit, for the defaults of its limits (docs/operator-guide.md)."""

from __future__ import annotations

import os

AUTOMATIC = -1  # a limit's setting that means "this machine's default", as below


def memory_mb() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError):
        return 0


def usable_cpus() -> int:
    """The CPUs this process may run on (a Slurm job's or a cgroup's, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_max_memory_mb() -> int:
    """Half the machine's memory: one fit cannot take it all (0 if unknown: no limit)."""
    return memory_mb() // 2


def default_max_cpu_seconds() -> int:
    """What all the CPUs give in 12 h (the worker's default hard time limit)."""
    return 12 * 3600 * usable_cpus()


def default_max_processes() -> int:
    """Room for `parallel` = the worker's CPUs: that many mapper processes plus the fit
    process, each with a thread per CPU (OpenBLAS, OpenMP) and a few of Python's own."""
    cpus = usable_cpus()
    return (cpus + 1) * (cpus + 4) + 32


DEFAULTS = {
    "max_memory_mb": default_max_memory_mb,
    "max_cpu_seconds": default_max_cpu_seconds,
    "max_processes": default_max_processes,
}
