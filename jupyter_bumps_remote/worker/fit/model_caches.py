"""Model libraries' on-disk caches, moved into the fit's own HOME once it is sandboxed.

sasmodels compiles each model into a shared library under `~/.sasmodels/compiled_models`,
a path it reads at import, in the worker, as the worker's HOME. In its sandbox a fit cannot
see the worker's home, nor write there: it compiles into its own HOME instead (a model's
first use in a fit then pays for its compilation).

numba (bumps' DREAM and refl1d compile with `cache=True`) picks a function's cache directory
when the function is defined: for what the worker imported before the fit was forked, the
`__pycache__` beside the library's source, writable by the worker's user only. A fit reads
what is there; what it compiles itself stays in its memory, or in its own HOME for functions
it defines. A fit never writes a cache that another fit, or the worker, would load.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any

# a directory owned by another user, or one the sandbox binds read-only
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def use_home(home: str) -> None:
    """Point the caches of the model libraries at `home` (the fit's private HOME)."""
    dll_path = os.path.join(home, ".sasmodels", "compiled_models")
    os.environ["SAS_DLL_PATH"] = dll_path  # for a sasmodels imported later, by the model
    kerneldll = sys.modules.get("sasmodels.kerneldll")
    if kerneldll is not None:  # imported already, by the worker's warm-up
        setattr(kerneldll, "SAS_DLL_PATH", dll_path)  # noqa: B010 - a module found at run time
    _numba_caches_in(home)


def _numba_caches_in(home: str) -> None:
    cache_dir = os.path.join(home, ".cache", "numba")
    os.environ["NUMBA_CACHE_DIR"] = cache_dir  # read when numba (re)loads its configuration
    config = sys.modules.get("numba.core.config")
    if config is not None:
        setattr(config, "CACHE_DIR", cache_dir)  # noqa: B010 - a module found at run time
    caching = sys.modules.get("numba.core.caching")
    if caching is not None:
        caching.Cache.save_overload = _save_unless_read_only(caching.Cache.save_overload)


def _save_unless_read_only(numba_save_overload: Any) -> Any:
    """numba's `Cache.save_overload`, except that a cache directory this fit may not write
    (a library's `__pycache__`, chosen by the worker) keeps the compiled code in memory only:
    numba raises there, and the fit would fail on its first compilation."""

    def save_overload(cache: Any, sig: Any, data: Any) -> None:
        try:
            numba_save_overload(cache, sig, data)
        except OSError as error:
            if error.errno not in _NOT_WRITABLE:
                raise

    return save_overload


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
