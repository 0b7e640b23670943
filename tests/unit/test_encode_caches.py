"""What encode() keeps between calls changes no payload: a payload made with the kept scans
is byte for byte the one made after forgetting them, also when a model module is imported,
replaced or removed between two calls (the kept answer must see it)."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
import types
import uuid

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
