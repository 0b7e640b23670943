"""What encode() keeps between calls changes no payload: a payload made with the kept scans
is byte for byte the one made after forgetting them, also when a model module is imported,
replaced or removed between two calls (the kept answer must see it)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import sys
import textwrap
import types
import uuid

import numpy as np
import pytest

from jupyter_bumps_remote.shared import by_value, encodings, transport
from tests.support.problems import gaussian_fit_of, gaussian_problem

MODEL = """
import numpy as np

def peak(x, A, mu, sigma):
    return A * np.exp(-0.5 * ((x - mu) / sigma) ** 2)
"""


def payload_bytes(problem) -> bytes:
    return json.dumps(transport.encode(problem), sort_keys=True).encode()


def fresh_payload_bytes(problem) -> bytes:
    by_value.forget_scans()
    return payload_bytes(problem)


@pytest.fixture
def notebook_folder(tmp_path, monkeypatch):
    """A folder on sys.path holding the user's own modules (not installed anywhere)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("jbr_cache_")]:
        del sys.modules[name]


def write_module(folder, source: str = MODEL) -> str:
    name = f"jbr_cache_{uuid.uuid4().hex[:10]}"
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    importlib.invalidate_caches()
    return name


def test_a_kept_scan_gives_the_same_payload_as_a_fresh_one():
    problem = gaussian_problem()
    kept = [payload_bytes(problem) for _ in range(3)]
    assert kept[0] == kept[1] == kept[2] == fresh_payload_bytes(problem)


def test_a_module_imported_between_two_encodes_is_seen(notebook_folder):
    payload_bytes(gaussian_problem())  # the scan is kept, without the new module
    name = write_module(notebook_folder)
    module = importlib.import_module(name)
    assert name in by_value.modules_to_send_by_value()
    problem = gaussian_fit_of(module.peak)
    kept = payload_bytes(problem)
    assert kept == fresh_payload_bytes(problem)
    # the function went by value: the payload decodes where the module cannot be imported
    del sys.modules[name]
    sys.path.remove(str(notebook_folder))
    (notebook_folder / f"{name}.py").unlink()
    importlib.invalidate_caches()
    assert transport.decode(kept).labels() == problem.labels()


def test_a_module_replaced_under_its_name_is_seen(notebook_folder):
    name = write_module(notebook_folder)
    importlib.import_module(name)
    assert name in by_value.modules_to_send_by_value()
    # the same name, now a module made in memory (no file): left to cloudpickle
    sys.modules[name] = types.ModuleType(name)
    assert name not in by_value.modules_to_send_by_value()
    by_value.forget_scans()
    assert name not in by_value.modules_to_send_by_value()


class ClaimsEquality(types.ModuleType):
    def __eq__(self, other):
        return True

    __hash__ = types.ModuleType.__hash__


def test_a_module_replaced_by_one_that_claims_to_equal_it_is_seen(notebook_folder):
    """The kept answer compares the modules by identity, never by their own __eq__."""
    name = write_module(notebook_folder)
    importlib.import_module(name)
    assert name in by_value.modules_to_send_by_value()
    sys.modules[name] = ClaimsEquality(name)  # made in memory: left to cloudpickle
    assert name not in by_value.modules_to_send_by_value()


def test_a_module_removed_between_two_encodes_is_seen(notebook_folder):
    name = write_module(notebook_folder)
    importlib.import_module(name)
    assert name in by_value.modules_to_send_by_value()
    del sys.modules[name]
    assert name not in by_value.modules_to_send_by_value()


def test_a_folder_added_to_the_path_is_seen(tmp_path, monkeypatch):
    """sys.path is part of the key: the same module counts as installed once its folder
    holds distributions and is on the path again."""
    folder = tmp_path / "target"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    name = write_module(folder)
    module = importlib.import_module(name)
    monkeypatch.setitem(sys.modules, name, module)
    assert name in by_value.modules_to_send_by_value()
    (folder / f"{name}-1.0.dist-info").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))  # a new sys.path: looked at again
    assert name not in by_value.modules_to_send_by_value()


def bumps_document(problem) -> bytes:
    from bumps.serialize import serialize

    return json.dumps(serialize(problem), separators=(",", ":")).encode()


def test_the_serialized_document_is_bumps_own():
    problem = transport.as_fit_problem(gaussian_problem())
    assert json.dumps(encodings.serialized(problem), separators=(",", ":")).encode() == (
        bumps_document(problem)
    )
    assert encodings.pack(problem, encodings.SERIALIZE) == bumps_document(problem)


def test_the_libraries_are_bumps_own_also_for_shared_and_nested_parts():
    from bumps.util import _add_to_libraries, get_libraries

    problem = transport.as_fit_problem(gaussian_problem())
    shared = list(problem.parameters)
    nested = {"a": problem, "b": [shared, (shared, problem)], "c": 3}
    for obj in (problem, shared, nested, [nested, nested], ()):
        assert encodings.libraries_walked_once(obj, _add_to_libraries) == get_libraries(obj)


def test_a_problem_that_holds_itself_fails_as_in_bumps():
    from bumps.util import _add_to_libraries, get_libraries

    problem = transport.as_fit_problem(gaussian_problem())
    loop: list = [problem]
    loop.append(loop)
    with pytest.raises(RecursionError):
        get_libraries(loop)
    with pytest.raises(RecursionError):
        encodings.libraries_walked_once(loop, _add_to_libraries)


# -- cloudpickle's scan for the submodules a function uses, kept ---------------------------------


def cloudpickle_scan(code, dependencies) -> list:
    from cloudpickle import cloudpickle as internals

    return internals._find_imported_submodules(code, dependencies)


def write_package(folder) -> str:
    """A package of the user's with one submodule, `sub`, not imported yet."""
    name = f"jbr_cache_{uuid.uuid4().hex[:10]}"
    (folder / name).mkdir()
    (folder / name / "__init__.py").write_text("")
    (folder / name / "sub.py").write_text("VALUE = 1\n")
    importlib.invalidate_caches()
    return name


def test_the_installed_cloudpickle_scan_is_the_one_kept():
    """The kept scan replaces cloudpickle's only while a payload is encoded, and only the
    scan it was written for (a cloudpickle whose scan reads other names keeps its own)."""
    from cloudpickle import cloudpickle as internals

    own = internals._find_imported_submodules
    assert by_value._is_known_submodule_scan(own)
    with by_value.sending_local_modules_by_value():
        assert internals._find_imported_submodules is by_value.kept_imported_submodules
    assert internals._find_imported_submodules is own
    assert not by_value._is_known_submodule_scan(lambda code, top_level_dependencies: [])


def test_the_kept_submodule_scan_answers_as_cloudpickle_as_modules_come_and_go(
    notebook_folder,
):
    name = write_package(notebook_folder)
    package = importlib.import_module(name)
    code = compile(f"{name}.sub.VALUE + np.linalg.norm(x) + os.path.sep", "<f>", "eval")

    def both() -> tuple[list, list]:
        dependencies = [package, np, os, 3, None]
        return by_value.kept_imported_submodules(code, dependencies), cloudpickle_scan(
            code, dependencies
        )

    kept, own = both()
    assert kept == own and np.linalg in kept and not any(m.__name__ == f"{name}.sub" for m in kept)
    importlib.import_module(f"{name}.sub")  # imported between two encodes: seen
    kept, own = both()
    assert kept == own and kept[0] is sys.modules[f"{name}.sub"]
    assert both() == (own, own)  # kept, and a new list each time
    sys.modules[f"{name}.sub"] = types.ModuleType(f"{name}.sub")  # replaced: seen
    kept, own = both()
    assert kept == own and kept[0] is sys.modules[f"{name}.sub"]
    del sys.modules[f"{name}.sub"]  # removed: seen
    assert both()[0] == both()[1] and both()[0] == cloudpickle_scan(code, [package, np])
    assert by_value.kept_imported_submodules(code, [os, 1.0]) == []


def test_a_payload_made_with_the_kept_submodule_scans_is_the_one_cloudpickle_makes(
    notebook_folder, monkeypatch
):
    name = write_module(notebook_folder)
    module = importlib.import_module(name)
    problems = [gaussian_problem(), gaussian_fit_of(module.peak)]
    kept = [payload_bytes(problem) for problem in problems]
    kept_again = [payload_bytes(problem) for problem in problems]
    monkeypatch.setattr(by_value, "_is_known_submodule_scan", lambda scan: False)
    own = [fresh_payload_bytes(problem) for problem in problems]
    assert kept == kept_again == own


# -- the walk for bumps' "libraries", with the types it skips ------------------------------------


@dataclasses.dataclass
class Holder:
    """A dataclass holding what the walk skips by type, and what it must not skip."""

    number: float = 1.0
    nothing: None = None
    text: str = "x"
    array: np.ndarray = dataclasses.field(default_factory=lambda: np.arange(3.0))
    scalar: object = np.float64(2.0)
    held: object = None
    items: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class DataFloat(float):
    """A float that is a dataclass: not skipped as a float is."""

    tag: int = 0


def test_the_libraries_are_bumps_own_for_plain_values_and_dataclasses_among_them():
    from bumps.util import _add_to_libraries, get_libraries

    problem = transport.as_fit_problem(gaussian_problem())
    inner = Holder(held=DataFloat(), items=[1, "a", None, np.zeros(2), DataFloat()])
    outer = Holder(held=problem, items=[inner, Holder, {"k": inner, "n": 1.0}, (inner,)])
    floats = [1.0, DataFloat()]
    for obj in (inner, outer, [outer, problem], Holder, DataFloat(), floats):
        libraries = encodings.libraries_walked_once(obj, _add_to_libraries)
        assert libraries == get_libraries(obj)
        assert list(libraries) == list(get_libraries(obj))  # the same order
    assert list(encodings.libraries_walked_once(floats, _add_to_libraries)) == ["tests"]
