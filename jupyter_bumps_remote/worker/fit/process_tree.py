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
    try:
        return children_of(me)
    except (OSError, ValueError):  # a kernel without the children files
        return [pid for pid in _all_pids() if parent_of(pid) == me]


def children_of(pid: int) -> list[int]:
    """The process's children, zombies included, from each of its threads' own list (a few
    reads instead of a scan of every process). Raises OSError if they cannot be read."""
    found: list[int] = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        found.extend(map(int, read_proc(f"/proc/{pid}/task/{tid}/children").split()))
    return found


def parent_of(pid: int) -> int | None:
    try:
        return int(read_proc(f"/proc/{pid}/stat").rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def read_proc(path: str) -> bytes:
    """A small /proc file whole: four system calls (open, read, the read that finds its
    end, close), where Python's open() and read() make ten (it asks whether the file is a
    terminal and where it is, twice). Read after each job of a kept fit process, by it and
    by its pool process."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


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
