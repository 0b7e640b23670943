"""Warm the fit launcher once, before it forks any spare: every fit process then starts
warm. Importing bumps.fitters is slow, and the first pass through a fit, its summary and its
session file fills caches and lazily imported modules (docs/design.md#figures-behind-the-code).
(The worker's main process runs it too if it has no launcher: worker/pool/spare.py.)"""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys

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
# What a model library's problem imports as it decodes, imported here where the library is
# installed and imports: otherwise each fit process of such a job imports it after its fork.
# Measured in a fork of the warm launcher (refl1d 1.0.1, a two-experiment refl1d problem):
# unpacking its payload 210 -> 12 ms (the launcher 310 ms and 7.6 MB more, shared by its
# forks); a sasmodels sphere 47 -> 21 ms (40 ms, 0.5 MB).
MODEL_LIBRARY_MODULES = (
    "refl1d.names",
    "sasmodels.core",
    "sasmodels.bumps_model",
    "sasmodels.direct_model",
)


def _compile_dream_kernels() -> None:
    """Where numba is installed (refl1d requires it), bumps' DREAM compiles its proposal and
    bounds steps on first use: ~10 s on a 2-core machine, ~0.4 s loaded from numba's disk
    cache. A fit cannot write that cache (worker/fit/model_caches.py), so each DREAM fit
    would compile again; compiled here, every fit process forked after inherits the code."""
    if "numba" not in sys.modules:  # imported by bumps.dream where installed
        return
    from ...shared.fitting import run_fit
    from .rehearsal import tiny_problem

    run_fit(tiny_problem(), "dream", {"steps": 20, "burn": 20, "pop": 10}, seed=0)


# what warm_up enters and never leaves (the launcher's state, inherited by every fork)
_KEPT = contextlib.ExitStack()


def warm_up() -> None:
    for name in MODULES:
        importlib.import_module(name)
    for name in MODEL_LIBRARY_MODULES:
        # not installed, or installed but broken (refl1d 0.8 on numpy 2): its jobs go to
        # workers where it imports (shared/versions.py served_environment)
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    bumps_compat.module_names()  # the fit-thread and session-state modules, wherever they live
    # for good in every fork: each job's decode, fit monitors and summary call chisq()
    _KEPT.enter_context(bumps_compat.memoized_chisq_scale())
    from .rehearsal import rehearse

    try:
        rehearse()
        _compile_dream_kernels()
    except Exception:  # noqa: BLE001, S110 - warming up is an optimisation, never an error
        pass
    # Python's cyclic GC writes into every object it visits: in a forked fit process that
    # copies each page of the warm heap it touches. Frozen objects are never visited.
    gc.freeze()
