"""A result summary's JSON, written by orjson where that writes the same values.

A long DREAM fit's summary holds its convergence table (2000 steps: 12,600 floats, 240 kB),
which json.dumps writes a float at a time: ~5 ms of a quiet CPU (20 ms loaded), orjson
~0.3, at each of its hops (the fit process sends it, the store writes it). Whatever orjson
refuses (an integer over 64 bits, a key that is not text, a lone surrogate) is written by
json.dumps as before. The same values: orjson writes text as UTF-8 where json escapes what
is not ASCII, and NaN and infinities as null where json writes bare NaN, which is no JSON
(a summary holds none: the fit makes them null, the recorder reads them as null).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:  # (orjson.JSONEncodeError is one)
        return json.dumps(value, separators=(",", ":")).encode()
