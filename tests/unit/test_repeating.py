"""The repeated step behind heartbeats, lease renewals and cancel polls."""

from __future__ import annotations

import threading

from jupyter_bumps_remote.worker.repeating import Repeating


def test_a_failing_step_is_tried_again_and_false_ends_it():
    calls, done = [], threading.Event()

    def step():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("Redis away")  # dropped: the next beat tries again
        if len(calls) == 3:
            done.set()
            return False
        return None

    loop = Repeating(step, 0.01, "test-step").start()
    assert done.wait(5)
    loop.stop()
    assert len(calls) == 3  # nothing after the step said False


def test_stop_ends_it_before_its_first_step_unless_at_start():
    calls = []
    Repeating(lambda: calls.append("late"), 60, "test-late").start().stop()
    first = threading.Event()
    loop = Repeating(first.set, 60, "test-first", at_start=True).start()
    assert first.wait(5)
    loop.stop()
    assert calls == []
