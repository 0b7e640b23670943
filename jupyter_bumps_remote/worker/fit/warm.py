"""Warm the fit launcher once, before it forks any spare: every fit process then starts
warm. Importing bumps.fitters is slow, and the first pass through a fit, its summary and its
session file fills caches and lazily imported modules (docs/design.md#figures-behind-the-code).
(The worker's main process runs it too if it has no launcher: worker/pool/spare.py.)"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import sys
import warnings
from typing import Any

import numpy as np

from ...shared import bumps_compat

log = logging.getLogger(__name__)

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


def _load_refl1d_kernels() -> None:
    """Where refl1d imports, evaluate tiny films through the kernels a fit's reflectivity
    calls. refl1d imports its numba kernels (refl1d.lib.numba) only at its first evaluation:
    in a fit that is after its sandbox pointed numba's cache at the fit's own, empty HOME
    (model_caches.py), and its first evaluation compiled them all, ~6 s of CPU in each refl1d
    fit process. Imported here, they keep the cache numba picks for the worker's user (beside
    refl1d's source, else the user's own numba cache; compiled there once, by this process,
    where missing) and every fit process forked after inherits them loaded. Magnetism and a
    contracted profile (`dA`, `step_interfaces`) load theirs at their first call: called
    here too."""
    names = sys.modules.get("refl1d.names")  # imported by warm_up where refl1d imports
    if names is None:
        return
    for experiment in _tiny_refl1d_experiments(names):
        experiment.reflectivity(resolution=True)
        experiment.reflectivity(resolution=False)


def _tiny_refl1d_experiments(names: Any) -> list[Any]:
    """A film on silicon at 8 angles: plain; its profile contracted; magnetic, contracted."""
    angles = np.linspace(0.1, 3.0, 8)

    def probe() -> Any:
        return names.NeutronProbe(T=angles, dT=0.01, L=4.75, dL=0.0475)

    def sample(magnetic: bool = False) -> Any:
        film = names.SLD(name="film", rho=4.0)(100, 5)
        if magnetic:
            film = names.MagneticSlab(film, rhoM=1.0, thetaM=270)
        return names.SLD(name="Si", rho=2.07)(0, 3) | film | names.SLD(name="air", rho=0.0)

    polarized = names.PolarizedNeutronProbe([probe(), None, None, probe()])
    return [
        names.Experiment(sample=sample(), probe=probe()),
        names.Experiment(sample=sample(), probe=probe(), dA=1, step_interfaces=True),
        names.Experiment(sample=sample(magnetic=True), probe=polarized, dA=1),
    ]


def _warm_model_libraries() -> None:
    """A failure here leaves only a model library's fits cold: said once, in the log."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a deprecation in the library, not the user's
            _load_refl1d_kernels()
    except Exception as error:  # noqa: BLE001 - warming up is an optimisation, never an error
        log.warning("refl1d's kernels not loaded before the fork (fits load them): %r", error)


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
    _warm_model_libraries()
    # Python's cyclic GC writes into every object it visits: in a forked fit process that
    # copies each page of the warm heap it touches. Frozen objects are never visited.
    gc.freeze()
