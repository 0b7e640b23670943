"""Where a process tree spends its time: py-spy samples, summed per function of ours.

`record(pid)` runs `py-spy record --subprocesses` on a process and the processes it forks
(a worker's pool processes and their fit processes) until the block ends; `summarize()`
reads py-spy's collapsed stacks ("frame;frame;... count" per line) and gives, for every
function of jupyter_bumps_remote, the share of samples whose stack contains it (inclusive
time), and the share of the leaf frames by package. py-spy leaves out threads it judges
idle, but a wait in a socket read (a Redis reply) can count as busy: shares are of sampled
time, not strictly of CPU time.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

OURS = "jupyter_bumps_remote/"
_FRAME = re.compile(r"(?P<name>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def executable() -> str | None:
    """py-spy next to this interpreter (a venv's bin) or on the PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def record(pid: int, rate: int = 200):
    """Sample `pid` and its subprocesses while the block runs; yields a dict that holds the
    summary (see `summarize`) once the block is over."""
    spy = executable()
    if spy is None:
        raise RuntimeError("py-spy is not installed: pip install py-spy")
    fd, name = tempfile.mkstemp(prefix="bumps-remote-bench-pyspy-", suffix=".txt")
    os.close(fd)
    out: dict = {}
    process = subprocess.Popen(
        [spy, "record", "--subprocesses", "--nonblocking", "-r", str(rate), "-f", "raw",
         "-p", str(pid), "-o", name],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield out
    finally:
        process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        path = Path(name)
        if path.exists() and path.stat().st_size:
            out.update(summarize(path.read_text()))
        path.unlink(missing_ok=True)


def summarize(collapsed: str, top: int = 12) -> dict:
    """{"samples": n, "ours": [[function, share], ...], "leaves": [[package, share], ...]}."""
    total = 0
    ours: collections.Counter = collections.Counter()
    leaves: collections.Counter = collections.Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        seen = set()
        frames = [m for m in map(_FRAME.match, stack.split(";")) if m]
        for frame in frames:
            if OURS in frame["file"]:
                key = f"{frame['file'].split(OURS)[-1]}:{frame['name']}"
                if key not in seen:
                    seen.add(key)
                    ours[key] += n
        if frames:
            leaves[_package(frames[-1]["file"])] += n
    if not total:
        return {"samples": 0, "ours": [], "leaves": []}
    return {
        "samples": total,
        "ours": [[k, v / total] for k, v in ours.most_common(top)],
        "leaves": [[k, v / total] for k, v in leaves.most_common(top)],
    }


def _package(file: str) -> str:
    """py-spy names a frame's file by its import path (`redis/connection.py`)."""
    if OURS in file:
        return "jupyter_bumps_remote"
    return file.split("site-packages/")[-1].split("/")[0].removesuffix(".py")
