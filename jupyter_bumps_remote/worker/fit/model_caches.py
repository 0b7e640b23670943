"""Model libraries' on-disk caches, moved into the fit's own HOME once it is sandboxed.

sasmodels compiles each model into a shared library under `~/.sasmodels/compiled_models`,
a path it reads at import, in the worker, as the worker's HOME. In its sandbox a fit cannot
see the worker's home, nor write there: it compiles into its own HOME instead (a model's
first use in a fit then pays for its compilation).
"""

from __future__ import annotations

import os
import sys


def use_home(home: str) -> None:
    """Point the caches of the model libraries at `home` (the fit's private HOME)."""
    dll_path = os.path.join(home, ".sasmodels", "compiled_models")
    os.environ["SAS_DLL_PATH"] = dll_path  # for a sasmodels imported later, by the model
    kerneldll = sys.modules.get("sasmodels.kerneldll")
    if kerneldll is not None:  # imported already, by the worker's warm-up
        setattr(kerneldll, "SAS_DLL_PATH", dll_path)  # noqa: B010 - a module found at run time


def worker_caches() -> tuple[str, ...]:
    """The worker's own caches that fits read (read-only): a pickled sasmodels problem names
    the compiled model where the kernel's machine keeps it, which on the kernel's own
    machine (embedded mode) is this user's `~/.sasmodels/compiled_models`. Made if missing,
    so that one compiled after the spare was forked shows through the bind too."""
    path = os.environ.get("SAS_DLL_PATH") or os.path.join(
        os.path.expanduser("~"), ".sasmodels", "compiled_models"
    )
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return ()
    return (path,)
