"""Start the worker's fit launcher (worker/fit/launcher.py) before the pool forks, and keep
it running.

The launcher is a fresh Python (exec'd), with the worker's environment less its secrets
and the fit settings on its stdin, listening on a unix socket in a 0700 directory made
here. Pool processes find its path in worker/pool/spare.py, set here before they fork. If it
exits, it is started again (after 0.5 s, doubling up to 30 s while it keeps failing at
once); meanwhile a pool process that needs a spare waits a few seconds for it, then forks
the spare itself (and says so in the log). If it cannot start at all, the worker warms its
own main process instead and its pool processes fork their spares, as before the launcher.

The launcher says which fitters its fits offer as it becomes ready (launcher.ready_line);
the heartbeat advertises those (`offered_fitters`), so that this process never imports
bumps.fitters, and with it scipy and h5py (~30 MB of an idle worker's PSS).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from ...shared.settings import WorkerSettings
from ..fit import launcher
from ..fit.fit_settings import FitSettings
from ..pool import spare
from .warm import before_fork

log = logging.getLogger(__name__)
# its imports and rehearsal, and numba compiling DREAM's kernels (~10 s on 2 loaded CPUs)
STARTUP_SECONDS = 120.0
RESTART_DELAYS = (0.5, 30.0)  # the first, and the longest
# a launcher that ran this long before it exited is restarted after the first delay again
STABLE_SECONDS = 60.0
DIRECTORY_PREFIX = "bumps-remote-launcher-"
# the fitters the last launcher to become ready offers, kept while a later one starts (or
# fails to): the fit processes come from it, and the heartbeat lists them
_offered_fitters: list[str] | None = None


def offered_fitters() -> list[str]:
    """The ids of the fitters this worker's fits offer, sorted: those its launcher said;
    without a launcher, bumps' own, here (this process then warmed itself up, bumps.fitters
    imported, to fork its fit processes)."""
    if _offered_fitters is not None:
        return list(_offered_fitters)
    from ...shared import jobs

    return sorted(jobs.fitters())


def _remember(fitters: list[str]) -> None:
    global _offered_fitters
    _offered_fitters = fitters


class FitLauncher:
    def __init__(self, settings: WorkerSettings):
        _remove_stale_directories()
        # mode 0700; named after this process, so that a later worker can tell it is stale
        self.directory = tempfile.mkdtemp(prefix=f"{DIRECTORY_PREFIX}{os.getpid()}-")
        self.path = os.path.join(self.directory, "launcher.sock")
        self.config = launcher.config_of(FitSettings.of(settings), spare.sandbox_fields(settings))
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self, meanwhile: Callable[[], None] = lambda: None) -> bool:
        """Start it and wait until it serves; False (and nothing left running) if it did not
        within STARTUP_SECONDS. `meanwhile` runs here while the launcher warms up."""
        process = self._spawn()
        meanwhile()
        fitters = _ready(process, STARTUP_SECONDS)
        if fitters is None:
            _end(process)
            return False
        _remember(fitters)
        self.process = process
        spare.use_launcher(self.path)
        self._watcher = threading.Thread(target=self._watch, name="fit-launcher", daemon=True)
        self._watcher.start()
        log.info("fit launcher %d serves %s", process.pid, self.path)
        return True

    def stop(self) -> None:
        self._stopping.set()
        if self.process is not None:
            _end(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)

    def _spawn(self) -> subprocess.Popen:
        # -P: the worker's current directory is not on the launcher's path (nor a fit's)
        safe_path = ["-P"] if sys.version_info >= (3, 11) else []
        command = [sys.executable, *safe_path, "-m", launcher.__name__, self.path]
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=launcher.environment()
        )
        assert process.stdin is not None
        with contextlib.suppress(OSError):
            process.stdin.write(self.config)
        with contextlib.suppress(OSError):
            process.stdin.close()
        return process

    def _watch(self) -> None:
        # (a launcher started here dies when this thread ends, by its PR_SET_PDEATHSIG:
        # the thread ends only with stop(), which ends the launcher anyway)
        delay = RESTART_DELAYS[0]
        while not self._stopping.is_set():
            assert self.process is not None
            started = time.monotonic()
            code = self.process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > STABLE_SECONDS:
                delay = RESTART_DELAYS[0]
            log.error(
                "the fit launcher (pid %d) exited with %s: starting it again in %g s; its "
                "fits were killed with it, and pool processes fork their spares themselves "
                "meanwhile",
                self.process.pid,
                code,
                delay,
            )
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, RESTART_DELAYS[1])
            process = self._spawn()
            self.process = process
            fitters = _ready(process, STARTUP_SECONDS)
            if fitters is not None:
                _remember(fitters)
                log.warning("fit launcher %d serves again", process.pid)


def _remove_stale_directories() -> None:
    """The socket directories of this user's workers that were killed (SIGKILL leaves no
    time to remove them): those named after a process that is gone."""
    top = tempfile.gettempdir()
    with contextlib.suppress(OSError):
        for name in os.listdir(top):
            pid = name[len(DIRECTORY_PREFIX) :].split("-", 1)[0]
            if not name.startswith(DIRECTORY_PREFIX) or not pid.isdigit():
                continue
            path = os.path.join(top, name)
            with contextlib.suppress(OSError):
                if os.lstat(path).st_uid == os.geteuid() and not os.path.exists(f"/proc/{pid}"):
                    shutil.rmtree(path)


def _ready(process: subprocess.Popen, timeout: float) -> list[str] | None:
    """The fitters of the launcher's `ready` line once it has written it; None if it did not
    within `timeout`, or exited."""
    assert process.stdout is not None
    line = b""
    deadline = time.monotonic() + timeout
    fd = process.stdout.fileno()
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            log.error("the fit launcher did not start within %g s", timeout)
            return None
        data = os.read(fd, 4096)
        if not data:
            log.error("the fit launcher exited while starting (%s)", process.poll())
            return None
        line += data
    process.stdout.close()
    return _fitters_of(line)


def _fitters_of(line: bytes) -> list[str] | None:
    """The fitter ids of a `ready` line (launcher.ready_line); None if it is not one."""
    word, _, rest = line.rstrip(b"\n").partition(b" ")
    with contextlib.suppress(ValueError):
        fitters = json.loads(rest) if word == launcher.READY else None
        if isinstance(fitters, list) and all(isinstance(f, str) for f in fitters):
            return fitters
    log.error("the fit launcher said %r instead of ready and its fitters", line[:200])
    return None


def _end(process: subprocess.Popen) -> None:
    # SIGKILL: it ignores SIGTERM (a drain's fits are its children), and by now the pool has
    # stopped: its spares, which die with it, hold no job
    if process.poll() is None:
        process.kill()
        process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def start(settings: WorkerSettings) -> FitLauncher | None:
    """The running launcher, or None: then this process warms itself up (the pool
    processes fork spares from their own, warm memory)."""
    fit_launcher = FitLauncher(settings)
    try:
        # this process readies itself for the pool's fork meanwhile (warm.before_fork)
        if fit_launcher.start(meanwhile=before_fork):
            return fit_launcher
    except OSError as e:
        log.error("the fit launcher could not start: %s", e)
    fit_launcher.stop()
    log.error(
        "no fit launcher: pool processes fork their fit processes themselves, and a fit's "
        "memory is then a copy of its pool process's, earlier jobs' data included "
        "(docs/design.md#what-a-fit-process-holds)"
    )
    from .warm import warm_up

    warm_up()  # (freezes this process's heap again, the fit's imports and rehearsal in it)
    return None
