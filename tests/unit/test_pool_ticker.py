"""The pool process's ticker and relay thread (worker/pool/ticker.py): periodic steps of the
running job on one thread that lives as long as the process, as Repeating ran each on its
own (first one interval after it is added, until it returns False or is stopped, its
exceptions dropped), and jobs run one at a time on a thread of their own."""

from __future__ import annotations

import threading
import time

from jupyter_bumps_remote.worker.pool.ticker import Ticker, Worker, ticker, worker

from ..support.waiting import wait_until


def test_a_step_runs_every_interval_from_one_interval_after_it_is_added():
    runs: list[float] = []
    added = time.monotonic()
    every = Ticker().every(0.05, lambda: runs.append(time.monotonic()))
    wait_until(lambda: len(runs) >= 3, 30, "three runs")
    every.stop()
    assert runs[0] - added >= 0.05
    assert all(b - a >= 0.05 for a, b in zip(runs, runs[1:], strict=False))


def test_none_runs_once_stopped_and_stop_waits_for_a_run_under_way():
    running, release = threading.Event(), threading.Event()
    runs: list[int] = []

    def step():
        runs.append(1)
        running.set()
        release.wait(30)

    every = Ticker().every(0.01, step)
    assert running.wait(30)
    stopped = threading.Event()
    threading.Thread(target=lambda: (every.stop(), stopped.set()), daemon=True).start()
    assert not stopped.wait(0.05)  # the run under way holds it
    release.set()
    assert stopped.wait(30)
    count = len(runs)
    # a step added after it, due at once and again, runs; the stopped one does not
    later = threading.Event()
    Ticker().every(0.01, later.set)
    assert later.wait(30)
    assert len(runs) == count


def test_a_step_that_returns_false_ends_and_one_that_raises_goes_on():
    ticks = Ticker()
    ended, raised = [], []

    def once():
        ended.append(1)
        return False

    def failing():
        raised.append(1)
        raise ConnectionError("Redis away")

    ticks.every(0.01, once)
    every = ticks.every(0.01, failing)
    wait_until(lambda: len(raised) >= 3, 30, "the failing step run again")
    every.stop()
    assert ended == [1]


def test_a_step_added_while_the_thread_waits_long_runs_on_its_own_time():
    ticks = Ticker()
    slow = ticks.every(3600, lambda: None)  # the thread now waits an hour
    ran = threading.Event()
    added = time.monotonic()
    fast = ticks.every(0.02, ran.set)
    assert ran.wait(30)
    assert time.monotonic() - added < 30
    fast.stop()
    slow.stop()


def test_the_worker_runs_jobs_in_order_past_one_that_raises():
    done: list[int] = []
    finished = threading.Event()

    def boom():
        raise RuntimeError("a relay's own error")

    jobs = Worker("test-worker")
    jobs.run(lambda: done.append(1))
    jobs.run(boom)
    jobs.run(lambda: done.append(2))
    jobs.run(finished.set)
    assert finished.wait(30)
    assert done == [1, 2]


def test_one_ticker_and_one_worker_per_process():
    assert ticker() is ticker()
    assert worker("bumps-relay") is worker("bumps-relay")
    assert worker("bumps-relay") is not worker("other")
