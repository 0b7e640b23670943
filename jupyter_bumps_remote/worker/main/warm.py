"""Warm the worker's main process once, before the pool forks: every fit process then starts
warm. Importing bumps.fitters is slow, and the first pass through a fit, its summary and its
session file fills caches and lazily imported modules (docs/design.md#figures-behind-the-code)."""

from __future__ import annotations

import gc
import importlib

from ...shared import bumps_compat

MODULES = (
    "numpy",
    "scipy.optimize",
    "h5py",
    "cloudpickle",
    "bumps.fitters",
    "bumps.serialize",
    "bumps.curve",
    "bumps.fitproblem",
    "bumps.dream.stats",
    "bumps.lsqerror",
    "bumps.mapper",
)


def warm_up() -> None:
    for name in MODULES:
        importlib.import_module(name)
    bumps_compat.module_names()  # the fit-thread and session-state modules, wherever they live
    from ..fit.rehearsal import rehearse

    try:
        rehearse()
    except Exception:  # noqa: BLE001, S110 - warming up is an optimisation, never an error
        pass
    # Python's cyclic GC writes into every object it visits: in a forked fit process that
    # copies each page of the warm heap it touches. Frozen objects are never visited.
    gc.freeze()
