"""Memory and CPU time of processes, read from Linux's /proc.

RSS counts every page a process maps, shared ones included, so the RSS of a prefork
worker's processes added up counts the pages they share with their parent several times;
PSS (from smaps_rollup) divides each shared page among the processes that map it, so that
the PSS of a group of processes adds up to what the group costs the machine.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

MB = 1024 * 1024
_TICK = os.sysconf("SC_CLK_TCK")


def memory(pid: int) -> dict:
    """{"rss": bytes, "pss": bytes} of one process."""
    out = {"rss": 0, "pss": 0}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            out[name.lower()] = int(rest.split()[0]) * 1024
    return out


def total_memory(pids: list[int]) -> dict:
    """RSS and PSS of every process in `pids` added up, and each apart."""
    each = {pid: memory(pid) for pid in pids}
    return {
        "rss": sum(m["rss"] for m in each.values()),
        "pss": sum(m["pss"] for m in each.values()),
        "processes": {str(pid): m for pid, m in each.items()},
    }


def session_pids(leader: int) -> list[int]:
    """The leader and every process of its session (the bench starts each service in one)."""
    out = subprocess.run(["pgrep", "-s", str(leader)], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()]
    return [leader] + [p for p in pids if p != leader]


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its children that it has reaped (utime + stime +
    cutime + cstime): a pool process's fit children count once they have ended."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of stat(5)); utime..cstime are fields 14-17
    return sum(int(v) for v in fields[11:15]) / _TICK


def session_cpu(leader: int) -> float:
    """CPU seconds of every live process in the leader's session (reaped children included)."""
    total = 0.0
    for pid in session_pids(leader):
        try:
            total += cpu_seconds(pid)
        except FileNotFoundError:  # ended meanwhile: its time went to its parent
            pass
    return total


def mapped_packages(pid: int) -> set[str]:
    """Top-level packages under site-packages whose compiled modules (or the libraries they
    ship) the process has mapped: which native extensions it has imported."""
    found = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
        _, sep, rest = path.partition("site-packages/")
        if sep and "/" in rest:
            found.add(rest.split("/", 1)[0].removesuffix(".libs"))
    return found
