"""Every bumps name whose home moved between releases, imported from one place.

bumps 1.0.x keeps the fit-thread and session-state helpers under `bumps.webview.server`;
bumps' main branch (the next release) moved them to `bumps.fit_thread` and `bumps.state`,
and the command line's option parsers (`yesno`, `parse_int`, with the FIT_FIELDS table
that names them) from `bumps.options` to `bumps.gui.old_options`. Each name is looked up at
its new home first, so a new bumps release needs no change here.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import threading
from collections.abc import Iterator
from typing import Any

# new home first, then the bumps 1.0.x one
_HOMES: dict[str, tuple[str, ...]] = {
    "fit_thread": ("bumps.fit_thread", "bumps.webview.server.fit_thread"),
    "state": ("bumps.state", "bumps.webview.server.state_hdf5_backed"),
    # bumps.options of the next release keeps FIT_FIELDS (deprecated) but not its parsers
    "options": ("bumps.gui.old_options", "bumps.options"),
}


def _module(kind: str):
    # found once: looking up a home that is not there (bumps.fit_thread on bumps 1.0.x)
    # searched sys.path at each call, ~0.1 ms of each job's fit process (two calls a job)
    found = _found.get(kind)
    if found is None:
        found = _found[kind] = _look_up(kind)
    return found


_found: dict[str, Any] = {}


def _look_up(kind: str):
    errors = []
    for name in _HOMES[kind]:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is None or not (name == e.name or name.startswith(e.name + ".")):
                raise  # the module is there but something it imports is not: say that
            errors.append(f"{name}: {e}")
    raise ImportError(
        f"this bumps has none of {', '.join(_HOMES[kind])} ({'; '.join(errors)}); "
        "install a supported bumps (see docs/compatibility.md)"
    )


def module_names() -> list[str]:
    """The modules actually used here (the worker imports them before it forks)."""
    return [_module(kind).__name__ for kind in _HOMES]


def option_parsers():
    """The module with bumps' command-line option table `FIT_FIELDS` ({name: (label,
    parser)}) and the parsers it names: `yesno` (booleans) and `parse_int`."""
    return _module("options")


def convergence_monitor(problem) -> Any:
    """bumps' ConvergenceMonitor: the per-step quantiles its webview plots."""
    return _module("fit_thread").ConvergenceMonitor(problem)


def now_string() -> str:
    """The timestamp bumps writes into a fit result and its session file."""
    return _module("state").now_string()


def session_state():
    """The module with bumps' session-file classes (State, ProblemState, FitResult)."""
    return _module("state")


# -- chisq without its unused chi2.ppf -------------------------------------------------------
# bumps' FitProblem.chisq() calls fitproblem.nllf_scale(dof, npars) at each call, which also
# computes scipy's chi2.ppf (~0.11 ms), an uncertainty that chisq() drops; an encode calls
# chisq() five times (0.5 of its 2.7 ms for a tiny problem), a decode twice. nllf_scale is a
# pure function of its arguments, so within `memoized_chisq_scale()` the same arguments give
# the value computed before. A bumps whose nllf_scale takes the problem itself (0.9) is left
# as it is.
#
# The memo outlives the block: it is kept for the nllf_scale it wraps (the same function
# object; a bumps reloaded or patched meanwhile gets a memo of its own), so each encode of
# a sweep reads the value the first one computed instead of computing chi2.ppf again, and
# the signature of nllf_scale is read once (~0.15 ms of a tiny problem's encode, both).
_scale_lock = threading.Lock()
_scale_users = 0
_scale_original: Any = None
# (nllf_scale, its memo, or None for one that does not take (dof, npars)) of the last block
_scale_memo: tuple[Any, Any] | None = None


@contextlib.contextmanager
def memoized_chisq_scale() -> Iterator[None]:
    """Within the block (nested, or in several threads at once), bumps' nllf_scale is
    memoized; the original is back once the last block ends."""
    global _scale_users, _scale_original
    from bumps import fitproblem

    with _scale_lock:
        if _scale_users == 0:
            original = fitproblem.nllf_scale
            memo = _memo_of(original)
            if memo is not None:
                _scale_original = original
                fitproblem.nllf_scale = memo
        _scale_users += 1
    try:
        yield
    finally:
        with _scale_lock:
            _scale_users -= 1
            if _scale_users == 0 and _scale_original is not None:
                fitproblem.nllf_scale = _scale_original
                _scale_original = None


def _memo_of(original: Any) -> Any:
    """The memoized `original` (kept from an earlier block if it wraps the same function),
    or None if `original` does not take (dof, npars). Called under `_scale_lock`."""
    global _scale_memo
    kept = _scale_memo
    if kept is not None and kept[0] is original:
        return kept[1]
    memo = None
    if list(inspect.signature(original).parameters)[:2] == ["dof", "npars"]:
        memo = functools.lru_cache(maxsize=256)(original)
    _scale_memo = (original, memo)
    return memo
