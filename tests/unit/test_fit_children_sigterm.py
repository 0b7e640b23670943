"""What a fit process forks takes SIGTERM's default at once, not the fit process's Python
handler: an inherited handler runs only when the interpreter next checks, and a child that
caught SIGTERM just before a blocking call never died (a mapper pool's `terminate()` once
waited for it for good, and a parallel=N DREAM fit stayed `running`)."""

from __future__ import annotations

import os
import signal

from jupyter_bumps_remote.worker.fit import fit_process

from ..support.waiting import wait_until


def _signal_bit(pid: int, field: str, signum: int) -> bool:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    raise AssertionError(f"no {field} line for {pid}")


def _sigterm_blocked() -> bool:
    return signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, set())


def _as_a_fit_process() -> int:
    """Runs in a forked child; its exit code says what went wrong (0: nothing)."""
    fit_process.become_fit_process()
    if not _signal_bit(os.getpid(), "SigCgt", signal.SIGTERM):
        return 10  # the fit process itself keeps its handler: the pool process decides
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        caught = _signal_bit(os.getpid(), "SigCgt", signal.SIGTERM)
        blocked = _sigterm_blocked()
        os.write(write, bytes([caught, blocked]))
        signal.pause()  # until the SIGTERM below, which must end it
        os._exit(3)
    os.close(write)
    caught, blocked = os.read(read, 2)
    if caught or blocked or _sigterm_blocked():
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        # 11: the child has the fit's handler, or SIGTERM blocked past the fork;
        # 12: SIGTERM left blocked in the fit process (across the fork only, not after it)
        return 11 if caught or blocked else 12
    os.kill(child, signal.SIGTERM)
    _, status = os.waitpid(child, 0)
    return 0 if os.waitstatus_to_exitcode(status) == -signal.SIGTERM else 13


def test_a_fit_process_s_children_die_of_sigterm():
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _as_a_fit_process()
        finally:
            os._exit(code)
    ended: dict[str, int] = {}

    def reaped() -> bool:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            ended["code"] = os.waitstatus_to_exitcode(status)
        return bool(done)

    try:
        wait_until(reaped, timeout=60, what="the fit process's child to die of SIGTERM")
    except AssertionError:
        os.killpg(pid, signal.SIGKILL)  # the fit process and its child: a group of their own
        os.waitpid(pid, 0)
        raise
    assert ended["code"] == 0
