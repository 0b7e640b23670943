"""A real fork of the test process that enters the fit sandbox
(jupyter_bumps_remote/worker/fit/sandbox.py), runs a check as the fit would, and reports what
it found as JSON over the one descriptor it keeps."""

from __future__ import annotations

import errno
import json
import os
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jupyter_bumps_remote.worker.fit import sandbox
from jupyter_bumps_remote.worker.fit.sandbox import SandboxHandle, SandboxSettings

# 3x what a loaded 2-CPU machine takes for the slowest check (the CPU limit, about 1 s)
DEADLINE = 60.0


@dataclass
class Outcome:
    pid: int
    status: int  # os.waitpid's
    reply_fd: int  # the descriptor the child kept (its number in the child)
    answer: Any = None  # JSON
    error: str | None = None  # the child's traceback, or why there was no answer


def sandboxed(settings: SandboxSettings, check: Callable[[SandboxHandle], object]) -> Outcome:
    """Fork; in the child enter the sandbox, run `check` and send back what it returns (as
    JSON) over the one descriptor kept. The child's private directory is removed after."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            handle = sandbox.enter(settings, {write_end})
            try:
                reply = {"answer": check(handle)}
            except BaseException:  # noqa: BLE001 - reported to the test
                reply = {"error": traceback.format_exc()}
            write_all(write_end, json.dumps(reply).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        data = read_to_end(read_end)
    finally:
        os.close(read_end)
        if data is None:
            os.kill(pid, signal.SIGKILL)
        status = os.waitpid(pid, 0)[1]
        sandbox.cleanup(settings, pid)
    outcome = Outcome(pid, status, write_end)
    if not data:
        outcome.error = f"no answer (wait status {status}, {'timeout' if data is None else 'EOF'})"
    else:
        reply = json.loads(data)
        outcome.answer, outcome.error = reply.get("answer"), reply.get("error")
    return outcome


def answer_of(settings: SandboxSettings, check: Callable[[SandboxHandle], object]) -> Any:
    outcome = sandboxed(settings, check)
    assert outcome.error is None, outcome.error
    return outcome.answer


def write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def read_to_end(fd: int, timeout: float = DEADLINE) -> bytes | None:
    """Everything until end of file; None past `timeout` (the sandbox's own reader)."""
    return sandbox.read_to_end(fd, timeout)


def error_name(action: Callable[[], object]) -> str:
    """'ok', or the name of the OSError subclass `action` raised and its errno."""
    try:
        action()
    except OSError as e:
        return f"{type(e).__name__}:{errno.errorcode.get(e.errno or 0, e.errno)}"
    return "ok"
