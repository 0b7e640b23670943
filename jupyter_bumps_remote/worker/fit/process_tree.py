"""This process's children and a fit's process group, read from /proc: what the pool
process (worker/pool/leftovers.py) and the fit launcher (launcher.py) each need to find and
kill what an ended fit left behind. Also the one-line messages of the launcher's socket."""

from __future__ import annotations

import os
import socket


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except OSError:
        return False
    return True


def children() -> list[int]:
    """Pids whose parent is this process (from /proc; empty where there is none)."""
    me = os.getpid()
    try:  # each thread's own list: a few reads instead of a scan of every process
        found = []
        for tid in os.listdir(f"/proc/{me}/task"):
            with open(f"/proc/{me}/task/{tid}/children") as f:
                found.extend(map(int, f.read().split()))
        return found
    except (OSError, ValueError):  # a kernel without the children files
        return [pid for pid in _all_pids() if parent_of(pid) == me]


def parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _all_pids() -> list[int]:
    try:
        return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return []


def read_line(conn: socket.socket, buffer: bytearray) -> bytes:
    """One newline-ended message from `conn`; what came after it stays in `buffer`."""
    while b"\n" not in buffer:
        data = conn.recv(4096)
        if not data:
            raise ConnectionError("the other side closed the connection")
        buffer += data
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line
