"""The sources of model functions that bumps.serialize records, with inspect.getblock's
answers kept per text of the lines (shared/encodings.py): the same source as
inspect.getsource gives, read again when the file changes, a new list at each call, and the
standard library's getblock back after each encode."""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import textwrap
import threading
import uuid

import pytest

from jupyter_bumps_remote.shared import encodings
from tests.support.problems import gaussian_fit_of

MODEL = """
import numpy as np

def peak(x, A, mu, sigma):
    # a model as a user writes it, in a file beside the notebook
    return A * np.exp(-0.5 * ((x - mu) / sigma) ** 2)
"""

EDITED = """
import numpy as np

def peak(x, A, mu, sigma):
    # edited on disk after the import: bumps records what the file now says
    width = sigma
    return A * np.exp(-0.5 * ((x - mu) / width) ** 2)
"""


@pytest.fixture
def model_file(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"jbr_source_{uuid.uuid4().hex[:10]}"
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(MODEL))
    importlib.invalidate_caches()
    yield path, importlib.import_module(name)
    sys.modules.pop(name, None)


def recorded_sources(problem) -> list[str | None]:
    found: list[str | None] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if "source" in node and "pickle" in node:
                found.append(node["source"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(encodings.pack(problem, encodings.SERIALIZE)))
    return found


def test_the_source_recorded_is_inspects_each_time(model_file):
    _, module = model_file
    problem = gaussian_fit_of(module.peak)
    expected = inspect.getsource(module.peak)
    assert "a model as a user writes it" in expected
    for _ in range(3):
        assert recorded_sources(problem) == [expected]
    assert inspect.getblock is encodings._STDLIB_GETBLOCK


def test_a_file_edited_since_gives_its_new_text(model_file):
    path, module = model_file
    problem = gaussian_fit_of(module.peak)
    assert recorded_sources(problem) == [inspect.getsource(module.peak)]
    path.write_text(textwrap.dedent(EDITED))  # another size: linecache reads it again
    edited = inspect.getsource(module.peak)
    assert "edited on disk" in edited
    assert recorded_sources(problem) == [edited]


def test_each_call_gets_a_new_list():
    lines = textwrap.dedent(MODEL).splitlines(keepends=True)[3:] + ["x = 1\n"]
    with encodings.source_blocks_kept():
        first = inspect.getblock(lines)
        first.append("changed by a caller\n")
        again = inspect.getblock(lines)
    assert again == encodings._STDLIB_GETBLOCK(lines) == first[:-1]
    assert again[0].startswith("def peak") and "x = 1\n" not in again


def test_nested_and_threaded_blocks_leave_the_original():
    inside, release = threading.Barrier(4), threading.Event()
    seen: list[bool] = []

    def use() -> None:
        with encodings.source_blocks_kept():
            inside.wait(30)
            seen.append(inspect.getblock is encodings.kept_block)
            release.wait(30)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(60)
    assert seen == [True] * 4
    with encodings.source_blocks_kept(), encodings.source_blocks_kept():
        assert inspect.getblock is encodings.kept_block
    assert inspect.getblock is encodings._STDLIB_GETBLOCK


def test_a_getblock_replaced_by_someone_else_is_left_alone(monkeypatch):
    def theirs(lines):
        return lines[:1]

    monkeypatch.setattr(inspect, "getblock", theirs)
    with encodings.source_blocks_kept():
        assert inspect.getblock is theirs
    assert inspect.getblock is theirs
