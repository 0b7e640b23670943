"""One thread per pool process for the periodic steps of the job it runs (the lease's
renewal, the cancel poll), and one that relays each job's fit (relay.py).

Each was a thread of its own, started and joined for every job: three per job, about 0.1 ms
of the pool process's CPU and as many wake-ups, for a tiny fit whose steps never come due
(its lease is renewed after a second, its record polled after 0.2 s). The threads now live
as long as the pool process; a job adds its steps and removes them.

A step runs on the ticker's thread, one at a time, as `Repeating` ran it (worker/repeating.py):
every `interval` seconds, the first one interval after it is added, until it returns False
or is stopped; an exception in it is dropped and the next beat tries again.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections.abc import Callable


class Every:
    """A step added to the ticker: stop() takes it out."""

    def __init__(self, step: Callable[[], bool | None], interval: float):
        self.step, self.interval = step, interval
        self.due = time.monotonic() + interval
        self.stopped = False
        self.lock = threading.Lock()  # held while it runs

    def stop(self, wait: bool = True) -> None:
        """Take it out; `wait`: until a run of it under way has ended (none runs after)."""
        self.stopped = True
        if wait:
            with self.lock:
                pass


class Ticker:
    def __init__(self, name: str = "bumps-ticker"):
        self.name = name
        self._steps: list[Every] = []
        self._changed = threading.Condition()
        self._wakes_at = math.inf  # when its thread looks next (inf: when a step is added)
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def every(self, interval: float, step: Callable[[], bool | None]) -> Every:
        added = Every(step, interval)
        with self._changed:
            self._steps.append(added)
            if added.due < self._wakes_at:  # (one that wakes sooner looks at it then)
                self._wakes_at = added.due
                self._changed.notify()
        return added

    def _run(self) -> None:
        while True:
            with self._changed:
                while True:
                    self._steps = [each for each in self._steps if not each.stopped]
                    now = time.monotonic()
                    due = [each for each in self._steps if each.due <= now]
                    if due:
                        self._wakes_at = -math.inf  # running: it looks again after
                        break
                    self._wakes_at = min((each.due for each in self._steps), default=math.inf)
                    self._changed.wait(None if self._wakes_at == math.inf else self._wakes_at - now)
            for each in due:
                with each.lock:
                    if each.stopped:
                        continue
                    try:
                        again = each.step() is not False
                    except Exception:  # noqa: BLE001 - Redis away: the next beat tries again
                        again = True
                    if again:
                        each.due = time.monotonic() + each.interval
                    else:
                        each.stopped = True


class Worker:
    """Runs what it is given, one at a time, on a thread of its own."""

    def __init__(self, name: str):
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def run(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except BaseException:  # noqa: BLE001, S110 - the job's own (Relay._run keeps it)
                pass


_tickers: dict[int, Ticker] = {}
_workers: dict[tuple[int, str], Worker] = {}
_lock = threading.Lock()


def ticker() -> Ticker:
    """This process's ticker (a forked child starts its own: threads do not fork)."""
    with _lock:
        found = _tickers.get(os.getpid())
        if found is None:
            _tickers.clear()
            found = _tickers[os.getpid()] = Ticker()
        return found


def worker(name: str) -> Worker:
    """This process's worker thread `name`."""
    with _lock:
        found = _workers.get((os.getpid(), name))
        if found is None:
            for key in [key for key in _workers if key[0] != os.getpid()]:
                del _workers[key]
            found = _workers[(os.getpid(), name)] = Worker(name)
        return found
