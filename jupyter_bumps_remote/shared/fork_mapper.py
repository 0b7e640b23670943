"""Population evaluation in forked processes that already hold the problem.

bumps' MPMapper sends a Manager proxy with every point, and each pool process reconnects
to the manager to read it: for a fast model, parallel=2 was barely faster than serial
(docs/design.md#figures-behind-the-code). Forking the evaluators after the problem is built
means only points and values cross process boundaries, one chunk per process per
generation. Results are in input order, so fits are identical to serial ones.

The evaluators are plain forks, one pipe each, rather than a `multiprocessing.Pool`:
- they ignore SIGTERM: Slurm (walltime, scancel) sends it to every process of its job at
  once, and a fit that drains must still end its generation to send its last checkpoint (a
  Pool process killed with a chunk in hand left `Pool.map` waiting for good);
- closing kills them with SIGKILL, which nothing delays (`Pool.terminate()`'s SIGTERM once
  waited forever on a process that caught it just before sleeping on its queue's lock);
- an evaluator that dies (out of memory, killed) fails the fit with that reason, where a
  Pool would quietly start another and wait for the lost chunk;
- no threads in the fit process (a Pool runs three).
"""

from __future__ import annotations

import ctypes
import math
import os
import signal
from multiprocessing.connection import Connection, Pipe
from typing import Any

from .machine import usable_cpus

_PR_SET_PDEATHSIG = 1
_QUIET = {signal.SIGTERM, signal.SIGINT}  # the fit process's to act on, not an evaluator's


class EvaluatorDied(RuntimeError):
    """A process evaluating the population (parallel=N) ended before sending its values."""


def pool_size(processes: int) -> int:
    """0 means every CPU this process may run on (as bumps' own `parallel=0`); more than
    those CPUs is capped at them: a fit cannot take a worker's other slots, and more
    processes than CPUs only slow each generation down."""
    cpus = usable_cpus()
    return min(processes, cpus) if processes > 0 else cpus


class ForkPoolMapper:
    def __init__(self, problem: Any, processes: int):
        self.processes = pool_size(processes)
        self._evaluators: list[tuple[int, Connection]] = []
        try:
            for _ in range(self.processes):
                self._evaluators.append(_start(problem, self._evaluators))
        except BaseException:
            self.close()
            raise

    @property
    def pids(self) -> list[int]:
        return [pid for pid, _ in self._evaluators]

    def __call__(self, points) -> list[float]:
        if not hasattr(points, "__getitem__"):
            points = list(points)
        chunk = max(1, math.ceil(len(points) / len(self._evaluators)))
        parts = [points[start : start + chunk] for start in range(0, len(points), chunk)]
        busy = self._evaluators[: len(parts)]
        for (pid, connection), part in zip(busy, parts, strict=True):
            try:
                connection.send(part)
            except OSError:  # it died since the last call (a full pipe's EPIPE, say)
                raise EvaluatorDied(_death_of(pid)) from None
        values: list[float] = []
        failure: BaseException | None = None
        for pid, connection in busy:  # every answer read, so the next call starts in step
            try:
                ok, answer = connection.recv()
            except (EOFError, OSError):
                raise EvaluatorDied(_death_of(pid)) from None
            if ok:
                values.extend(answer)
            elif failure is None:
                failure = answer
        if failure is not None:
            raise failure
        return values

    def close(self) -> None:
        for pid, connection in self._evaluators:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            connection.close()
        for pid, _ in self._evaluators:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:  # reaped elsewhere
                pass
        self._evaluators = []


def _start(problem: Any, siblings: list[tuple[int, Connection]]) -> tuple[int, Connection]:
    ours, theirs = Pipe()
    parent = os.getpid()
    # blocked across the fork, so that a SIGTERM sent before the evaluator ignores it waits
    # and is then dropped, rather than killing it with the default or the fit's handler
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _QUIET)
    try:
        pid = os.fork()
        if pid == 0:  # the evaluator; it never returns
            code = 1
            try:
                for signum in _QUIET:
                    signal.signal(signum, signal.SIG_IGN)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                _die_with(parent)
                ours.close()
                for _, sibling in siblings:
                    sibling.close()
                _serve(problem, theirs)
                code = 0
            finally:
                os._exit(code)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    theirs.close()
    return pid, ours


def _serve(problem: Any, connection: Connection) -> None:
    while True:
        try:
            points = connection.recv()
        except (EOFError, OSError):  # the fit closed its end: it is over
            return
        try:
            answer: tuple[bool, Any] = (True, [problem.nllf(point) for point in points])
        except Exception as e:  # noqa: BLE001 - the model's error, raised in the fit instead
            answer = (False, e)
        try:
            connection.send(answer)
        except Exception as e:  # noqa: BLE001 - an exception that does not pickle: its text
            connection.send((False, RuntimeError(f"{type(e).__name__}: {e}")))


def _die_with(parent: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the closed pipe still ends the evaluator
        pass
    if os.getppid() != parent:  # the fit died before the line above
        os._exit(1)


def _death_of(pid: int) -> str:
    try:
        done, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return f"a process evaluating the population (parallel=N, pid {pid}) ended"
    code = os.waitstatus_to_exitcode(status)
    how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
    hint = " (signal 9: often the fit's memory limit)" if code == -signal.SIGKILL else ""
    return f"a process evaluating the population (parallel=N, pid {pid}) {how}{hint}"
