"""Problems whose model code misbehaves on the worker (it travels by value, as a notebook's)."""

from __future__ import annotations

from ..support.problems import GAUSSIAN_SOURCE, gaussian_fit_of, user_module

HOSTILE_SOURCE = (
    GAUSSIAN_SOURCE
    + """
import os
import signal

def hostile_gaussian(x, A, mu, sigma):
    # after AFTER evaluations (the kernel's preflight stays below), misbehave
    CALLS[0] += 1
    if CALLS[0] > AFTER:
        if HOW == "kill worker":  # take the whole worker down: it leads its session
            os.kill(os.getsid(0), signal.SIGKILL)
            time.sleep(3600)  # until this fit dies too: a next call would find no leader
        elif HOW == "allocate":
            blob = bytearray(100 * 1024**3)  # 100 GB
            blob[-1] = 1
        elif HOW == "spin":
            while True:
                pass
        elif HOW == "fork bomb":
            fork_bomb()
        elif HOW == "hang":  # blocked in one call: the cooperative stop can't reach it
            time.sleep(3600)
    return gaussian(x, A, mu, sigma)

def fork_bomb():
    # Every process forks without end, and so does every child. Only the fit process itself
    # gives up (when fork fails, so that the fit can fail); its children keep their process
    # slots and retry for ever: they never exit on their own.
    if os.getuid() == 0:  # root is exempt from RLIMIT_NPROC: this would take the machine down
        raise RuntimeError("refusing to fork-bomb as root")
    fit_process = os.getpid()
    while True:
        try:
            os.fork()
        except OSError:
            if os.getpid() == fit_process:
                raise
            time.sleep(0.05)

AFTER = 3
HOW = ""
"""
)


def hostile_problem(how: str, after: int = 3):
    module = user_module(HOSTILE_SOURCE, name="hostile_notebook_code")
    vars(module).update(HOW=how, AFTER=after)
    return gaussian_fit_of(module.hostile_gaussian)
