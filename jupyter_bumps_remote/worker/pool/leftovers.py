"""Nothing a fit started outlives it: kill the fit's process group and every descendant.

The fit process leads a process group of its own. When it ends, whatever it forked (a
mapper pool it did not stop, a fork bomb) may still run, as the worker's user, holding the
process slots the next fits need. The pool process that forked the fit is a child
subreaper, so such orphans are re-parented to it rather than to init (which, in a
container, may never reap them: a zombie still counts against RLIMIT_NPROC); it kills and
reaps them here, including any that left the group with setsid().
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import time

from ..fit import process_tree

log = logging.getLogger(__name__)
_PR_SET_CHILD_SUBREAPER = 36


def _system_program(name: str) -> str | None:
    """Its path in the system's own directories (never through PATH, which the worker's
    environment sets)."""
    for directory in ("/usr/bin", "/bin"):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    return None


_SETPRIV = _system_program("setpriv")
_KILL = _system_program("kill")


def become_subreaper() -> None:
    """Orphaned descendants of this process become its children (Linux; else a no-op)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1)


def own_group(pid: int) -> None:
    """Put the fit in its own group from this side too: whichever of the two runs first, the
    group exists before the fit can fork."""
    with contextlib.suppress(OSError):  # it already did, or has already ended
        os.setpgid(pid, pid)


def kill_all(
    group: int, uid: int | None = None, timeout: float = 10.0, uid_killed: bool = False
) -> int:
    """SIGKILL the fit's group, every process of the fit's own `uid` (when the sandbox gave
    it one: nothing else runs as it) and this process's remaining children, reap them, and
    repeat until none is left (a fork bomb forks while it is being killed). Returns how many
    processes were reaped. `uid_killed`: the caller has just killed every process of `uid`,
    so the first pass leaves that out (it costs a process)."""
    reaped = 0
    deadline = time.monotonic() + timeout
    while True:
        if uid is not None and not uid_killed:
            kill_every_process_of(uid)
        uid_killed = False
        with contextlib.suppress(OSError):  # ESRCH: the group is empty
            os.killpg(group, signal.SIGKILL)
        children = process_tree.children()
        for child in children:
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGKILL)
        reaped += _reap()
        if not children and not process_tree.group_alive(group):
            if reaped:
                log.warning("killed %d processes the fit left behind", reaped)
            return reaped
        if time.monotonic() > deadline:
            log.error(
                "processes of a fit still alive after %g s: %s", timeout, process_tree.children()
            )
            return reaped
        time.sleep(0.01)


def kill_every_process_of(uid: int) -> None:
    """SIGKILL every process of `uid` in one pass. Killing children one generation at a time
    loses to a fork bomb whose children leave the session (setsid): each freed slot is
    refilled. kill(-1) as that uid signals all its processes while the kernel holds its task
    list, so no fork can add one meanwhile. Run by a short-lived child that becomes `uid`:
    util-linux's setpriv running kill(1) where both are installed (spawned without copying
    this process: about 5 ms, where a fork of a pool process took about 20), else a fork."""
    if _SETPRIV and _KILL:
        try:
            helper = os.posix_spawn(
                _SETPRIV,
                [
                    _SETPRIV,
                    f"--reuid={uid}",
                    f"--regid={uid}",
                    "--clear-groups",
                    _KILL,
                    "-KILL",
                    "-1",
                ],
                {},
            )
        except OSError:
            pass
        else:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(helper, 0)
            return
    try:
        helper = os.fork()
    except OSError:
        return  # no process to spare: the generation-by-generation kill goes on
    if helper == 0:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)  # every process of uid but this one
        finally:
            os._exit(0)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(helper, 0)


def _reap() -> int:
    count = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return count
        if pid == 0:
            return count
        count += 1
