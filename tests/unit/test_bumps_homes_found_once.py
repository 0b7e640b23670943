"""bumps' moved modules are looked up at their homes once per process, not at each call
(shared/bumps_compat.py): on bumps 1.0.x the new home is missing, and each lookup of it
searched sys.path, twice in every job's fit process."""

from __future__ import annotations

import importlib

from jupyter_bumps_remote.shared import bumps_compat
from tests.support.problems import gaussian_problem


def test_each_home_is_looked_up_once(monkeypatch):
    looked_up: list[str] = []
    real = importlib.import_module

    def counting(name, package=None):
        looked_up.append(name)
        return real(name, package)

    monkeypatch.setattr(bumps_compat, "_found", {})
    monkeypatch.setattr(importlib, "import_module", counting)
    problem = gaussian_problem()
    first = bumps_compat.convergence_monitor(problem)
    stamp = bumps_compat.now_string()
    assert looked_up  # found the first time
    looked_up.clear()
    assert type(bumps_compat.convergence_monitor(problem)) is type(first)
    assert isinstance(bumps_compat.now_string(), type(stamp))
    assert bumps_compat.session_state() is bumps_compat._module("state")
    assert looked_up == []
