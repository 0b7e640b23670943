"""leftovers.kill_every_process_of: every process of a fit's uid dies in one pass, those
that left the fit's session included, by either of its two helpers (setpriv and kill(1)
where installed, else a fork of the caller)."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from jupyter_bumps_remote.worker.pool import leftovers

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0,
    reason="switching to a fit's uid takes root: Linux, tests run as root",
)
DEADLINE = 30.0


def processes_of(uid: int) -> list[int]:
    """The live processes of `uid` (a zombie has died: whoever adopted it reaps it, or not,
    when this test's process is a subreaper by an earlier test)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    fields = dict(line.split(":", 1) for line in f if ":" in line)
            except OSError:
                continue  # gone meanwhile
            if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
                found.append(int(entry))
    return found


def start_processes_of(uid: int, count: int) -> int:
    """A child that becomes `uid` and forks `count - 1` more, each in a session of its own;
    returns the child's pid once all of them run."""
    ready_r, ready_w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(ready_r)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            for _ in range(count - 1):
                if os.fork() == 0:
                    os.setsid()
                    os.write(ready_w, b".")
                    signal.pause()
                    os._exit(0)
            os.write(ready_w, b".")
            signal.pause()
        finally:
            os._exit(0)
    os.close(ready_w)
    received = b""
    while len(received) < count:
        received += os.read(ready_r, count) or b"!"
        assert not received.endswith(b"!"), "a child ended before it was ready"
    os.close(ready_r)
    return child


@pytest.mark.parametrize("helper", ["setpriv", "fork"])
def test_every_process_of_the_uid_dies(monkeypatch, helper):
    if helper == "setpriv" and not (leftovers._SETPRIV and leftovers._KILL):
        pytest.skip("setpriv or kill(1) is not installed here")
    if helper == "fork":
        monkeypatch.setattr(leftovers, "_SETPRIV", None)
    uid = 1_899_000_000 + os.getpid() % 100_000
    child = start_processes_of(uid, 4)
    assert len(processes_of(uid)) == 4

    leftovers.kill_every_process_of(uid)

    assert os.waitpid(child, 0)[1] & 0x7F == signal.SIGKILL
    # the others were orphans: init (or a subreaper) reaps them, some time after they die
    deadline = time.monotonic() + DEADLINE
    while processes_of(uid) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the process table, not a guess: the deadline bounds it
    assert processes_of(uid) == []
