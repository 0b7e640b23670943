"""Import what every fit needs once, in the worker's main process, before the pool forks:
each fit process then starts warm (importing bumps.fitters alone costs about a second)."""

from __future__ import annotations

import importlib

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
    "bumps.webview.server.fit_thread",
    "bumps.webview.server.state_hdf5_backed",
)


def warm_up() -> None:
    for name in MODULES:
        importlib.import_module(name)
