"""A result summary's JSON at the hops where orjson replaced json (store/codec.summary_json,
worker/pool/recorder._object, the kernel's client): the same values, and json where orjson
refuses."""

from __future__ import annotations

import json
import math
import random

from jupyter_bumps_remote.store.codec import summary_json
from jupyter_bumps_remote.worker.pool.recorder import _object


def test_a_summary_reads_back_as_json_wrote_it():
    rng = random.Random(3)
    summary = {
        "labels": ["σ", "A", "μ₁"],  # orjson writes them as UTF-8, json escaped them
        "x": [rng.uniform(-1e300, 1e300) for _ in range(200)] + [5e-324, -0.0, 1e-7],
        "convergence": [[rng.random() for _ in range(6)] for _ in range(100)],
        "seed": 2**31 - 1,
        "partial": False,
        "dx": None,
    }
    written = summary_json(summary)
    assert json.loads(written) == summary
    assert [x.hex() for x in json.loads(written)["x"]] == [x.hex() for x in summary["x"]]


def test_what_orjson_refuses_goes_through_json():
    huge = {"steps": 2**70, "name": "lone \ud800 surrogate"}
    assert json.loads(summary_json(huge)) == huge


def test_the_recorder_reads_nan_and_infinities_as_null_and_numbers_as_json_does():
    assert _object(b'{"chisq": NaN, "x": [Infinity, -Infinity, 1.5]}', "result") == {
        "chisq": None,
        "x": [None, None, 1.5],
    }
    body = json.dumps({"x": [0.1, 2.5e-308, 1e308], "n": 3}).encode()
    assert _object(body, "result") == json.loads(body)
    # a number past a double is json's infinity, as before
    assert math.isinf(_object(b'{"x": 1e400}', "result")["x"])
