"""The polling helpers: what they return, and what they say when time runs out."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .waiting import alive, wait_gone, wait_until


def test_wait_until_returns_the_predicates_value_once_truthy():
    answers = iter([None, 0, [], {"done": True}])
    assert wait_until(lambda: next(answers), 5, "an answer", interval=0) == {"done": True}


def test_wait_until_names_what_it_waited_for_and_how_long():
    with pytest.raises(AssertionError, match=r"timed out after 0\.1 s waiting for the moon"):
        wait_until(lambda: False, 0.1, "the moon")


def test_wait_gone_returns_once_the_processes_end_and_names_those_left():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(AssertionError, match=rf"still alive after 0\.1 s: \[{child.pid}\]"):
            wait_gone([child.pid, 2**22 + 1], 0.1)
        child.kill()  # a zombie until reaped: not alive
        wait_gone([child.pid], 5)
    finally:
        child.kill()
        child.wait()
    assert alive(os.getpid()) and not alive(child.pid)
