"""The main process before its pool forks (fit_launcher.py).

The fit's warm-up moved to the fit launcher (worker/fit/warm.py, worker/fit/launcher.py);
the worker's main process runs it itself only when it has no launcher. With a launcher, the
main process still imports what it and every pool process import once the pool runs, then
freezes its heap (`before_fork`): without it, each pool process's first full collection
wrote into every object it inherited (Python's cyclic GC keeps its state in each object's
header) and so copied the main process's heap page by page, and each process imported the
job's modules into memory of its own. Measured on an idle worker of 2 processes: the main
and pool processes' PSS 163 -> 113 MB (docs/design.md#one-fit-one-forked-process-forked-ahead).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys

from ..fit.warm import MODULES, warm_up

__all__ = ["AFTER_FORK", "MODULES", "before_fork", "warm_up"]

# Imported after the fork otherwise: a job's modules by each pool process as it readies its
# first spare (pool/runner.py) and by the main process's consumer; the heartbeat and the
# lost-jobs sweep by the main process once the worker is ready. (Imported by the main process
# after the fork, a module's objects still fill free space in pages the pool processes share,
# which copies them.) Not bumps.fitters (scipy and h5py, ~30 MB): no pool process imports it,
# and the fitters the heartbeat lists come from the fit launcher (fit_launcher.py).
AFTER_FORK = (
    "jupyter_bumps_remote.worker.pool.runner",
    "jupyter_bumps_remote.worker.main.heartbeat",
    "jupyter_bumps_remote.worker.main.lost_jobs",
)


def before_fork() -> None:
    """Import AFTER_FORK, then move every object so far out of the cyclic GC's reach
    (gc.freeze): the pool processes share those pages with this process instead of copying
    them. Frozen objects are never collected; at this point they are the modules and the
    app, which live as long as the process."""
    for name in AFTER_FORK:
        importlib.import_module(name)
    _cffi_parser()
    gc.freeze()


def _cffi_parser() -> None:
    """Each pool process, as it starts, has billiard set its parent-death signal through
    cffi where cffi is imported (billiard.util.set_pdeathsig): cffi builds pycparser's C
    parser for that one declaration, ~4.7 MB of objects, once per process and kept
    (cffi.cparser's cache). Built here first, the pool processes share this one."""
    if "cffi" not in sys.modules:  # billiard then uses ctypes
        return
    with contextlib.suppress(Exception):  # only memory is at stake
        import cffi

        cffi.FFI().cdef("int prctl (int __option, ...);")
