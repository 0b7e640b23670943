"""How the walk for model libraries (shared/versions.py) goes through a problem: it asks
what an object is once per type, except of an object whose `__class__` is not its type
(isinstance believes `__class__`); tests/unit/test_encode_no_library.py: when it walks."""

from __future__ import annotations

import sys
import types

from jupyter_bumps_remote.shared import versions
from tests.support.problems import gaussian_problem


def fake_library(monkeypatch, name: str, version: str) -> types.ModuleType:
    module = types.ModuleType(name)
    vars(module)["__version__"] = version
    monkeypatch.setitem(sys.modules, name, module)
    return module


def model_of(module_name: str):
    """An object whose class lives in `module_name` (as refl1d's Experiment in refl1d.*)."""
    return type("Experiment", (), {"__module__": module_name})()


class Claims:
    """An object that claims, by its `__class__`, to be a dict when `as_dict` (as a proxy
    does): isinstance believes it. What it `shows` as a dict is not in its `__dict__`."""

    HELD = {"layer": model_of("refl1d.sample")}

    def __init__(self, as_dict: bool, shows: bool):
        self.as_dict = as_dict
        self.shows = shows

    @property
    def __class__(self):  # type: ignore[override]
        return dict if self.as_dict else Claims

    def keys(self):
        return self.HELD.keys() if self.shows else {}.keys()

    def values(self):
        return self.HELD.values() if self.shows else {}.values()


def test_an_object_claiming_another_class_is_walked_as_that_class(monkeypatch):
    fake_library(monkeypatch, "refl1d", "1.0.1")
    assert isinstance(Claims(True, False), dict) and not isinstance(Claims(False, True), dict)
    assert versions.libraries_used([Claims(False, True)]) == {}
    assert versions.libraries_used([Claims(True, True)]) == {"refl1d": "1.0.1"}
    # (the walk pops the last first) a claim met first does not make the type a dict
    assert versions.libraries_used([Claims(False, True), Claims(True, False)]) == {}
    # nor does a plain object met first make the next one's claim ignored
    assert versions.libraries_used([Claims(True, True), Claims(False, False)]) == {
        "refl1d": "1.0.1"
    }


def test_many_objects_of_few_types_are_all_walked(monkeypatch):
    fake_library(monkeypatch, "sasmodels", "1.1.0")
    problems = [gaussian_problem() for _ in range(5)]
    deep = types.SimpleNamespace(layers=[{"n": i} for i in range(50)])
    deep.layers[-7]["model"] = model_of("sasmodels.bumps_model")
    assert versions.libraries_used([*problems, deep, *problems]) == {"sasmodels": "1.1.0"}
    assert versions.libraries_used([*problems]) == {}
