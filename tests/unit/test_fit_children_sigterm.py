"""What a fit process forks dies of SIGTERM at once: a parallel=N mapper's `Pool.terminate()`
once waited forever on a pool process that had caught SIGTERM in Python's handler and gone
back to sleep on its queue's lock (a DREAM fit stayed `running`)."""

from __future__ import annotations

import os
import signal
import time

from jupyter_bumps_remote.shared.fork_mapper import ForkPoolMapper
from jupyter_bumps_remote.worker.fit import fit_process

ROUNDS = 40


class _Sum:
    def nllf(self, point):
        return float(sum(point))


def _catches_sigterm(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    raise AssertionError(f"no SigCgt line for {pid}")


def _sigterm_blocked() -> bool:
    return signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, set())


def _as_a_fit_process() -> int:
    """Runs in a forked child; its exit code says what went wrong (0: nothing)."""
    fit_process.become_fit_process()
    if not _catches_sigterm(os.getpid()):
        return 10  # the fit process itself keeps its handler: the pool process decides
    for _ in range(ROUNDS):
        mapper = ForkPoolMapper(_Sum(), 2)
        if mapper([[1.0, 2.0]] * 8) != [3.0] * 8:
            return 11
        workers = [p.pid for p in mapper.pool._pool]  # pyright: ignore[reportAttributeAccessIssue]
        if any(_catches_sigterm(pid) for pid in workers):
            return 12
        mapper.close()  # terminate() right after a map: the moment the hang needed
        if _sigterm_blocked():
            return 13  # blocked across the fork only, not after it
    return 0


def test_a_fit_process_s_mapper_pool_terminates_every_time():
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _as_a_fit_process()
        finally:
            os._exit(code)
    deadline = time.monotonic() + 120  # 40 pools took 0.5 s here
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)  # polling the child's state, not a guessed wait
    os.killpg(pid, signal.SIGKILL)  # the fit process and its pool: a group of their own
    os.waitpid(pid, 0)
    raise AssertionError(f"{ROUNDS} mapper pools did not all terminate within 120 s")
