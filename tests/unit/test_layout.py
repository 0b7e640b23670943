"""The package is laid out by the process each file runs in (the map at the top of
docs/design.md): a package imports only the packages beneath it, so that what a process
loads, and what it could touch, can be read off the tree."""

from __future__ import annotations

from tests.support.package_imports import import_graph

ROOT = "jupyter_bumps_remote"

# package -> the packages its modules may import (besides their own)
ALLOWED = {
    "shared": set(),
    "store": {"shared"},
    "kernel": {"shared"},
    "server_ext": {"shared", "store", "worker", "worker.main"},
    "worker": {"shared", "store", "worker.main"},
    "worker.repeating": set(),
    "worker.fit": {"shared", "store", "worker.repeating"},
    "worker.pool": {"shared", "store", "worker.repeating", "worker.fit"},
    "worker.main": {"shared", "store", "worker.repeating", "worker.fit", "worker.pool"},
    "cli": {"shared", "store", "worker", "worker.main", "kernel", "server_ext", "hub"},
    # in JupyterHub's process: the per-user Redis users of the servers it spawns
    "hub": {"shared", "store"},
}


def home(module: str) -> str | None:
    """The longest ALLOWED key that `module` lives in, or None for the top-level modules."""
    inside = module[len(ROOT) + 1 :]
    matches = [p for p in ALLOWED if inside == p or inside.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def test_every_module_has_a_home():
    homeless = [
        m for m in import_graph() if home(m) is None and m not in {ROOT, f"{ROOT}._version"}
    ]
    assert not homeless, f"modules outside the by-process packages: {homeless}"


def test_each_package_imports_only_what_lies_beneath_it():
    wrong = []
    for module, imported in sorted(import_graph().items()):
        mine = home(module)
        if mine is None:
            continue
        for other in sorted(imported):
            theirs = home(other)
            if theirs is None or theirs == mine or theirs in ALLOWED[mine]:
                continue
            wrong.append(f"{module} imports {other} ({mine} may import {sorted(ALLOWED[mine])})")
    assert not wrong, "\n".join(wrong)
