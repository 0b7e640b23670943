"""Which process is which in a running worker: its main process's children are its pool
processes and its fit launcher (worker/fit/launcher.py), whose children are the fit
processes; a pool process holds a pidfd of its own (its spare, or the fit of its job)."""

from __future__ import annotations

import os

from .waiting import alive


def children(pid: int) -> list[int]:
    """Of every thread: the main process restarts a launcher from a thread of its own."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [p for p in map(int, f.read().split()) if alive(p)]
    return found


def is_launcher(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"jupyter_bumps_remote.worker.fit.launcher" in f.read()
    except OSError:
        return False


def pool_processes(main: int) -> list[int]:
    return [pid for pid in children(main) if not is_launcher(pid)]


def fits_of(pool: int) -> list[int]:
    """The live fit processes a pool process holds a pidfd of (its `Pid:` in fdinfo)."""
    found = set()
    for fd in os.listdir(f"/proc/{pool}/fdinfo"):
        try:
            with open(f"/proc/{pool}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("Pid:") and int(line.split()[1]) > 0:
                        found.add(int(line.split()[1]))
        except (OSError, ValueError):
            continue
    return sorted(pid for pid in found if alive(pid))
