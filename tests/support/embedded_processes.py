"""The processes an embedded-mode server started for itself (Redis, workers, fits)."""

from __future__ import annotations

from pathlib import Path


def our_processes(home, server=None) -> list[int]:
    """Processes the server started (redis, workers, fits): they inherit its environment.
    (Command lines won't do: redis-server rewrites its own.)"""
    marker = f"JUPYTER_DATA_DIR={home / 'data'}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or (server and int(proc.name) == server.process.pid):
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found
