"""The summary's arrays as JSON lists: finite values as they are, nan and inf as null, by the
whole-array path and the value-by-value one alike."""

from __future__ import annotations

import json

import numpy as np

from jupyter_bumps_remote.worker.fit.results import _finite_or_none, _list


def test_finite_arrays_are_their_values():
    table = np.random.default_rng(1).normal(size=(2000, 6))
    assert _list(table) == table.tolist()
    assert _list([1, 2.5]) == [1.0, 2.5]
    assert _list(np.float64(3.0)) == 3.0


def test_nan_and_inf_become_null_at_any_depth():
    values = np.array([[1.0, np.nan], [np.inf, -np.inf]])
    assert _list(values) == [[1.0, None], [None, None]]
    assert _list(float("nan")) is None
    assert json.loads(json.dumps(_list(values), allow_nan=False)) == [[1.0, None], [None, None]]


def test_the_whole_array_path_is_the_value_by_value_one():
    rng = np.random.default_rng(2)
    for shape in [(5,), (3, 4), (2, 3, 2)]:
        array = rng.normal(size=shape)
        assert _list(array) == _finite_or_none(array.tolist())
