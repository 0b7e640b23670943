"""Every bumps name whose home moved between releases, imported from one place.

bumps 1.0.x keeps the fit-thread and session-state helpers under `bumps.webview.server`;
bumps' main branch (the next release) moved them to `bumps.fit_thread` and `bumps.state`,
and the command line's option parsers (`yesno`, `parse_int`, with the FIT_FIELDS table
that names them) from `bumps.options` to `bumps.gui.old_options`. Each name is looked up at
its new home first, so a new bumps release needs no change here.
"""

from __future__ import annotations

import importlib
from typing import Any

# new home first, then the bumps 1.0.x one
_HOMES: dict[str, tuple[str, ...]] = {
    "fit_thread": ("bumps.fit_thread", "bumps.webview.server.fit_thread"),
    "state": ("bumps.state", "bumps.webview.server.state_hdf5_backed"),
    # bumps.options of the next release keeps FIT_FIELDS (deprecated) but not its parsers
    "options": ("bumps.gui.old_options", "bumps.options"),
}


def _module(kind: str):
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
