"""The document's bytes with its float arrays written by orjson (shared/encodings.py:
`dumped`): byte for byte `json.dumps(document, separators=(",", ":"))`, for the tests'
problems, for floats of every magnitude, and for arrays orjson would write otherwise (NaN,
infinity, strings, numpy scalars, huge integers), held twice, or next to a string that looks
like the placeholder."""

from __future__ import annotations

import json
import math
import random
import struct
import sys

import numpy as np
import pytest

from jupyter_bumps_remote.shared import encodings
from tests.support.problems import gaussian_problem


def json_bytes(document) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def array(values, dtype: str = "float64") -> dict:
    return {"__class__": "bumps.util.NumpyArray", "dtype": dtype, "values": values}


def test_a_problems_document_is_json_byte_for_byte():
    document = encodings.serialized(gaussian_problem(n=400))
    assert encodings.dumped(document) == json_bytes(document)
    values = [a["values"] for a in _arrays(document)]
    assert len(values) >= 3 and all(len(v) == 400 for v in values)
    assert encodings.dumped(document) == json_bytes(document)  # the document as it was


def _arrays(document) -> list[dict]:
    found: list[dict] = []
    encodings._find_float_arrays(document, found)
    return found


def random_floats(rng: random.Random, count: int) -> list[float]:
    values = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.3:  # any bit pattern: every exponent, subnormals
            x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
            values.append(x if math.isfinite(x) else 1.0)
        elif kind < 0.7:
            values.append(rng.gauss(0, 1) * 10.0 ** rng.randint(-9, 20))
        else:
            values.append(rng.uniform(-100, 100))
    return values


@pytest.mark.parametrize("seed", range(20))
def test_floats_of_every_magnitude(seed):
    rng = random.Random(seed)
    values = random_floats(rng, 2000)
    document = {
        "a": [array(values), {"nested": array([values[:3], values[3:6]])}],
        "b": array([v for v in values if abs(v) < 1e-4 or abs(v) >= 1e16]),
        "s": "1e-05 0.00001",
    }
    assert encodings.dumped(document) == json_bytes(document)


def test_numbers_orjson_writes_otherwise():
    edge = [-0.0, 0.0, 1e-05, -1e-05, 0.0001, 10.00001, 1e15, 1e16, -1e16, 1e-320, 5e-324]
    edge += [sys.float_info.max, sys.float_info.min, 1.5e-9, 123456789012345.67]
    document = {"x": array(edge), "y": array([[1e-7, 2.0], [3.0, -4e20]])}
    assert encodings.dumped(document) == json_bytes(document)


def test_arrays_orjson_would_write_otherwise_are_left_to_json():
    odd = [
        array([math.nan, 1.0]),
        array([math.inf, -math.inf]),
        array(["a string", 1.0]),
        array([True, 1.0]),
        array([None, 1.0]),
        array([np.float64(1.5), 2.0]),
        array([2**70, 1.0]),
        array([1, 2, 3], "int64"),
        array([]),
        array([{"a": 1.0}]),
    ]
    document = {"odd": odd, "fine": array([1e-05, 2.5])}
    assert encodings.dumped(document) == json_bytes(document)


def test_an_array_held_twice_and_a_string_like_a_placeholder():
    shared = array([1e-06, 2.0, 3.5])
    document = {"one": shared, "two": [shared], "s": 'jbr-array-0"', "t": "jbr-array-"}
    assert encodings.dumped(document) == json_bytes(document)
    assert shared["values"] == [1e-06, 2.0, 3.5]


def test_the_payload_carries_the_same_document():
    problem = gaussian_problem()
    packed = encodings.pack(problem, encodings.SERIALIZE)
    assert packed == json_bytes(encodings.serialized(problem))
