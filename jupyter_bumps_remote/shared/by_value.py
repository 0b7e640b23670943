"""Which modules travel by value: the user's own, not installed anywhere a worker could be.

A model function imported from a plain `mymodel.py` beside the notebook (or from a folder the
user put on `sys.path`) cannot be imported on a worker; cloudpickle would send a reference to
it and the worker would fail. While a payload is being encoded, every such module is
registered with cloudpickle's `register_pickle_by_value`, so its functions and classes travel
as code, in both encodings (`bumps.serialize` pickles model functions with cloudpickle too).

A module counts as installed (and so travels by reference, as today) if it is in the standard
library, lives in a folder where distributions are installed (site-packages, or any folder on
`sys.path` holding `*.dist-info`), or belongs to an editable install. An installed package
missing on the worker keeps its clear error there ("install 'X' where the workers run").
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import operator
import os
import re
import site
import sys
import sysconfig
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass, field

# Workers always have this package; its own code never needs to travel.
_ALWAYS_INSTALLED = frozenset(("jupyter_bumps_remote", "__main__", "__mp_main__"))
_lock = threading.Lock()


def modules_to_send_by_value(modules: dict | None = None) -> list[str]:
    """The top-level modules in `modules` (default `sys.modules`) that are not installed.

    For `sys.modules` the answer is kept while nothing it depends on changes: the exact
    sequence of (name, module object) in `sys.modules` (an import, a deletion, a module
    replaced under its name or re-imported all change it; comparing is an identity check
    per entry, ~0.05 ms for 750 modules and ~0.15 for 2,750, where the scan takes
    ~0.2-0.5 ms) and `sys.path` (which `_places` reads). A module's own file does not move
    while it stays the same object."""
    global _last
    if modules is not None:
        return _scan(modules)
    entries = sys.modules.copy()  # one snapshot, even while another thread imports
    path = tuple(sys.path)
    last = _last
    if last is not None and _same_modules(last[0], last[1], path, entries):
        return list(last[2])
    found = _scan(entries)
    _last = (path, entries, tuple(found))
    return found


def _same_modules(kept_path: tuple, kept: dict, path: tuple, entries: dict) -> bool:
    """The same path, and the same names in the same order, each to the same object: `is`,
    not ==, since an object in sys.modules may define its own __eq__ (the kept snapshot
    holds its objects, so none of them is another under a reused id). Compared in C, with
    no key built: the tuples of names and ids this replaced took ~0.25 ms per encode in a
    process of 2,750 modules."""
    return path == kept_path and _same_entries(kept, entries)


def _same_entries(kept: dict, entries: dict) -> bool:
    return (
        len(entries) == len(kept)
        and list(entries) == list(kept)
        and all(map(operator.is_, entries.values(), kept.values()))
    )


# (sys.path, the sys.modules snapshot, answer) of the last scan of sys.modules
_last: tuple[tuple, dict, tuple[str, ...]] | None = None


def forget_scans() -> None:
    """Drop the kept answers (tests compare a fresh scan with a kept one)."""
    global _last, _submodule_scans
    _last = None
    _submodule_scans = None


def _scan(modules: dict) -> list[str]:
    places = _places()
    found = []
    for top in sorted({name.partition(".")[0] for name in list(modules)}):
        module = modules.get(top)
        if isinstance(module, types.ModuleType) and not places.installed(top, module):
            found.append(top)
    return found


@contextlib.contextmanager
def sending_local_modules_by_value() -> Iterator[list[str]]:
    """Register the modules that must travel by value with cloudpickle; undo it after.

    Yields every module registered meanwhile; those the user registered stay registered."""
    import cloudpickle

    with _lock, _submodule_scans_kept():  # the registry is global to the process
        already = set(cloudpickle.list_registry_pickle_by_value())
        added = []
        try:
            for name in modules_to_send_by_value():
                if name not in already and name in sys.modules:
                    cloudpickle.register_pickle_by_value(sys.modules[name])
                    added.append(name)
            yield sorted(already | set(added))
        finally:
            for name in added:
                with contextlib.suppress(ValueError):  # unregistered meanwhile
                    # the registry holds names: a stand-in module of the same name will do
                    cloudpickle.unregister_pickle_by_value(types.ModuleType(name))


# -- cloudpickle's scan for the submodules a function uses -----------------------------------------

# The names cloudpickle's `_find_imported_submodules` reads (cloudpickle 1.x to 3.1): a
# version whose scan reads anything else keeps its own scan.
_SUBMODULE_SCAN_NAMES = (
    "isinstance", "types", "ModuleType", "hasattr", "__package__", "__name__", "list", "sys",
    "modules", "startswith", "set", "len", "split", "co_names", "append",
)  # fmt: skip
_SUBMODULE_SCAN_ARGUMENTS = ("code", "top_level_dependencies")

# (the sys.modules snapshot, {(prefixes, code's names): submodules}) of the kept scans
_submodule_scans: tuple[dict, dict[tuple, tuple]] | None = None


@contextlib.contextmanager
def _submodule_scans_kept() -> Iterator[None]:
    """While a payload is encoded, cloudpickle's scan for the submodules a pickled function
    uses answers from `kept_imported_submodules`.

    That scan reads every name in sys.modules for each package the function names (numpy:
    ~0.19 ms of a tiny problem's ~1.7 ms encode, 1,000 modules). Its answer depends on the
    function's names, the packages' names and sys.modules only, so it is kept while
    sys.modules stays the same, as for `modules_to_send_by_value` (checked at each call:
    encoding may import). The same answer, so the same bytes (tests/unit/
    test_encode_caches.py). Other threads pickling meanwhile get the same answers too."""
    from cloudpickle import cloudpickle as internals

    original = getattr(internals, "_find_imported_submodules", None)
    if not _is_known_submodule_scan(original):
        yield
        return
    internals._find_imported_submodules = kept_imported_submodules
    try:
        yield
    finally:
        internals._find_imported_submodules = original


def _is_known_submodule_scan(scan: object) -> bool:
    code = getattr(scan, "__code__", None)
    return (
        isinstance(code, types.CodeType)
        and code.co_names == _SUBMODULE_SCAN_NAMES
        and code.co_varnames[: code.co_argcount] == _SUBMODULE_SCAN_ARGUMENTS
    )


def kept_imported_submodules(code: types.CodeType, top_level_dependencies) -> list:
    """cloudpickle's `_find_imported_submodules(code, top_level_dependencies)`: the modules
    in sys.modules, in its order, under each package of the dependencies (in their order),
    whose every dotted part past the package is a name the code reads. Kept per sys.modules
    snapshot (compared by identity, as `_same_modules` does)."""
    global _submodule_scans
    prefixes = tuple(
        x.__name__ + "."
        for x in top_level_dependencies
        if isinstance(x, types.ModuleType) and hasattr(x, "__package__") and x.__package__
    )
    if not prefixes:
        return []
    entries = sys.modules.copy()  # one snapshot, even while another thread imports
    scans = _submodule_scans
    if scans is None or not _same_entries(scans[0], entries):
        scans = _submodule_scans = (entries, {})
    key = (prefixes, code.co_names)
    found = scans[1].get(key)
    if found is None:
        found = scans[1][key] = _imported_submodules(prefixes, set(code.co_names), scans[0])
    return list(found)


def _imported_submodules(prefixes: tuple[str, ...], names: set, entries: dict) -> tuple:
    """cloudpickle's scan itself, on one snapshot of sys.modules."""
    found = []
    for prefix in prefixes:
        for name in entries:
            # (older pytests put a None in sys.modules)
            if name is not None and name.startswith(prefix):
                if not set(name[len(prefix) :].split(".")) - names:
                    found.append(entries[name])
    return tuple(found)


# -- where installed code lives -------------------------------------------------------------------


@dataclass
class _Places:
    """Where installed code lives, for one `sys.path`: looked up once, then cached."""

    folders: tuple[str, ...]
    editable: frozenset[str]
    verdicts: dict[tuple[str, str], bool] = field(default_factory=dict)

    def installed(self, top: str, module: types.ModuleType) -> bool:
        if top in _ALWAYS_INSTALLED or top in sys.builtin_module_names:
            return True
        if top in getattr(sys, "stdlib_module_names", ()) or top in self.editable:
            return True
        location = _location(module)
        if location is None:
            # built in, frozen or made in memory: there is no file to import on a worker
            # either, and cloudpickle already sends what it cannot import by value
            return True
        key = (top, location)
        if key not in self.verdicts:
            real = os.path.realpath(location)
            self.verdicts[key] = any(_inside(real, folder) for folder in self.folders)
        return self.verdicts[key]


_cached: tuple[tuple[str, ...], _Places] | None = None


def _places() -> _Places:
    global _cached
    key = tuple(sys.path)
    if _cached is None or _cached[0] != key:
        _cached = (key, _Places(tuple(_installed_folders()), editable_top_levels()))
    return _cached[1]


def _location(module: types.ModuleType) -> str | None:
    file = getattr(module, "__file__", None)
    if file:
        return file
    for folder in getattr(module, "__path__", None) or ():  # a namespace package
        return folder
    return None


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _installed_folders() -> list[str]:
    """The standard library, every site-packages, and every folder on `sys.path` that holds
    installed distributions (`pip install --target`, PYTHONPATH'd environments)."""
    paths = sysconfig.get_paths()
    folders = {paths.get(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    with contextlib.suppress(AttributeError):  # not in every embedded or virtualenv site
        folders.update(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        folders.add(site.getusersitepackages())
    folders.update(p for p in sys.path if p and _holds_distributions(p))
    return sorted({os.path.realpath(f) for f in folders if f})


def _holds_distributions(folder: str) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(e.name.endswith(".dist-info") for e in entries)
    except OSError:  # a zip file, or a folder that does not exist (yet)
        return False


def editable_top_levels() -> frozenset[str]:
    """The import names of editable installs, whose code lives outside site-packages.

    Only editable distributions are read (reading every distribution's file list, as
    `packages_distributions()` does, takes about a second in a Jupyter environment). An
    editable install that only adds a folder to the path (hatchling's, flit's) lists no
    package: its distribution name, as an import name, counts instead."""
    names = set()
    for distribution in importlib.metadata.distributions():
        if not _is_editable(distribution):
            continue
        declared = (distribution.read_text("top_level.txt") or "").split()
        names.update(declared)
        for path in distribution.files or ():
            if len(path.parts) > 1 and path.parts[0].isidentifier():
                names.add(path.parts[0])
        name = distribution.metadata["Name"] if distribution.metadata else None
        if name:
            names.add(re.sub(r"[-.]+", "_", name).lower())
    return frozenset(names)


def _is_editable(distribution: importlib.metadata.Distribution) -> bool:
    try:
        url = json.loads(distribution.read_text("direct_url.json") or "{}")
    except ValueError:
        return False
    return isinstance(url, dict) and bool((url.get("dir_info") or {}).get("editable"))
