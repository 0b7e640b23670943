"""The two ways a problem travels inside a payload: bytes out, a problem back.

Both are code: model functions (and, for pickle, the whole problem) are cloudpickled, so
`unpack` belongs in a worker's fit process or in the kernel that made the payload, never in
the server. Errors are raised as they come; transport.py turns them into advice.
"""

from __future__ import annotations

import base64
import functools
import inspect
import json
import pickle
import sys
import warnings
import zlib
from dataclasses import fields, is_dataclass
from types import GeneratorType

import orjson

from .by_value import sending_local_modules_by_value

# bumps' own JSON document (`bumps.serialize`), the default: readable, stable across versions.
SERIALIZE = "bumps-serialize+zlib+base64"
# The problem pickled by value with cloudpickle, for problems bumps.serialize cannot encode
# (sasmodels) or encodes into a different problem (docs/transport.md).
PICKLE = "cloudpickle+zlib+base64"
ALL = (SERIALIZE, PICKLE)

_BUMPS_REBUILD_WARNING = r"Error (loading function|restoring)"


class Corrupt(ValueError):
    """The text inside the envelope is not what `pack` makes (truncated, edited)."""


def pack(problem, encoding: str) -> bytes:
    """The problem as `encoding` carries it, before compression."""
    with sending_local_modules_by_value():
        if encoding == SERIALIZE:
            return json.dumps(serialized(problem), separators=(",", ":")).encode()
        if encoding == PICKLE:
            import cloudpickle

            return cloudpickle.dumps(problem, protocol=pickle.HIGHEST_PROTOCOL)
    raise ValueError(f"unknown encoding {encoding!r}")


def serialized(problem) -> dict:
    """`bumps.serialize.serialize(problem)`, the same document, with its "libraries" found
    by walking each object once.

    bumps' own `get_libraries` walks the problem as a tree: a parameter held in ten places
    is walked ten times (~0.25 ms of a tiny problem's ~0.9, ~2.8 ms of a refl1d sample's
    ~4). Walking it again adds nothing, so the document is the same (tests/unit/
    test_encode_caches.py compares the two); a bumps without the parts this relies on gets
    its own walk."""
    from bumps import serialize as bumps_serialize
    from bumps import util

    add = getattr(util, "_add_to_libraries", None)
    if (
        add is None
        or getattr(bumps_serialize, "get_libraries", None) is not util.get_libraries
        or not _takes_add_libraries(bumps_serialize.serialize)
    ):
        return bumps_serialize.serialize(problem)
    document = bumps_serialize.serialize(problem, add_libraries=False)
    document["libraries"] = libraries_walked_once(problem, add)
    return document


@functools.lru_cache(maxsize=4)  # keyed on the function: a reloaded bumps is looked at again
def _takes_add_libraries(serialize) -> bool:
    return "add_libraries" in inspect.signature(serialize).parameters


def libraries_walked_once(obj, add) -> dict:
    """bumps.util.get_libraries(obj), in the same order (depth first, each library where it
    is first met), each dataclass, list and tuple walked once. An object met again inside
    its own walk is a cycle, on which bumps recurses until RecursionError: raised here too,
    so such a problem falls back to the pickle as before."""
    libraries: dict = {}
    done: set[int] = set()
    walking: set[int] = set()
    # the objects walked, kept alive: a field may be a property that makes a new list at
    # each read, whose id could otherwise be reused by another during the walk
    kept: list = []
    # the names of the fields of each `__dataclass_fields__` met (by id: kept alive too)
    field_names: dict[int, tuple[str, ...]] = {}
    # the exact types that are neither a dataclass nor a container, met at every step of
    # a problem (numbers, strings, arrays): skipped before the call
    skipped = _plain_types()

    def names_of(data) -> tuple[str, ...]:
        declared = getattr(data, "__dataclass_fields__", None)
        names = field_names.get(id(declared))
        if names is None:
            names = field_names[id(declared)] = tuple(f.name for f in fields(data))
            kept.append(declared)
        return names

    def walk(obj) -> None:
        is_data = is_dataclass(obj)  # a dataclass or its class, as in bumps
        if not (is_data or isinstance(obj, list | tuple | GeneratorType | dict)):
            return
        key = id(obj)
        if key in done:
            return
        if key in walking:
            raise RecursionError("the problem holds itself (bumps' get_libraries recurses)")
        walking.add(key)
        kept.append(obj)
        if is_data:
            add(obj, libraries)
            for name in names_of(obj):
                value = getattr(obj, name, None)
                if type(value) not in skipped:  # None among them, as bumps skips it
                    walk(value)
        elif isinstance(obj, dict):
            for value in obj.values():
                if is_dataclass(value):
                    walk(value)
        else:
            for value in obj:
                if type(value) not in skipped:
                    walk(value)
        walking.discard(key)
        done.add(key)

    walk(obj)
    return libraries


# Types whose instances can be neither a dataclass nor a container (the exact type is compared:
# a subclass may be either). Attributes cannot be set on these types, so none becomes one.
_BUILTIN_PLAIN = (int, float, complex, bool, str, bytes, type(None))


def _plain_types() -> frozenset[type]:
    numpy = sys.modules.get("numpy")  # not imported for a problem that holds no array
    if numpy is None:
        return frozenset(_BUILTIN_PLAIN)
    return frozenset((*_BUILTIN_PLAIN, numpy.ndarray, numpy.float64, numpy.int64))


# zlib's fastest level: on bench/sweep_medium.py's 28 kB document, 0.13 ms to 12.9 kB where
# level 6 (zlib's default, used before) took 0.49 ms to 12.3 kB; decompressing takes the same
# time. The kernel compresses every member of a sweep while the workers run the first ones.
_LEVEL = 1


def to_text(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, _LEVEL)).decode("ascii")


def from_text(text: str) -> bytes:
    try:
        return zlib.decompress(base64.b64decode(text, validate=True))
    except (ValueError, zlib.error) as e:
        raise Corrupt(str(e)) from e


# Every digit to "0", "." kept, every other byte to " ": the runs of digits that do not
# follow a ".", found by bytes.find (a regular expression took ~0.9 ms on a refl1d document
# of 33 kB, this ~0.03; ~0.07 on sweep_medium's 28 kB, many of whose digits are zeros).
_DIGIT_RUNS = bytes(48 if 48 <= byte <= 57 else byte if byte == 46 else 32 for byte in range(256))
_LONG_RUN = b"0" * 19
_FLOAT_AFTER = (b".", b"e", b"E")


def _has_long_integer(data: bytes) -> bool:
    """Whether `data` holds a run of 19 digits or more that is not part of a float (not
    after a "." nor before a ".", "e" or "E"): an integer token orjson may read as a float
    (19 digits reach 2**63, so every shorter integer is exact in both), or digits inside a
    string or an exponent (json reads those, harmlessly)."""
    runs = data.translate(_DIGIT_RUNS)
    start = 0 if runs.startswith(_LONG_RUN) else runs.find(b" " + _LONG_RUN)
    while start >= 0:
        start += runs[start] == 32  # the run itself, past the byte before it
        ends = [i for i in (runs.find(b" ", start), runs.find(b".", start)) if i >= 0]
        end = min(ends, default=len(runs))
        if data[end : end + 1] not in _FLOAT_AFTER:
            return True
        start = runs.find(b" " + _LONG_RUN, end)
    return False


def parsed(data: bytes):
    """`json.loads(data)`, the same objects, parsed by orjson where that gives them.

    The document `pack` makes is mostly numbers (the data's x, y, dy): Python's json took
    ~0.37 ms of the ~1 ms that unpacking a 400-point model (bench/sweep_medium.py) takes,
    this ~0.14 (the scan for long integers included).
    Both read a float to the nearest double, and JSON's strings, objects (the last of a
    repeated key) and arrays alike. Where they differ, json is used: orjson refuses NaN
    and Infinity (json.dumps writes them), an overflowing 1e400, lone surrogates, input
    that is not UTF-8 and nesting past 1024 levels, and reads an integer past 64 bits as a
    float (any integer token of 19 digits or more goes to json, a digit run inside a string
    too, harmlessly). tests/unit/test_encodings_parse.py holds them to it."""
    if not _has_long_integer(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # json's own answer: the same document, or its own error
    return json.loads(data)


def unpack(encoding: str, data: bytes):
    """The problem back from `pack`'s bytes. Runs the pickled code: see the module doc."""
    if encoding == SERIALIZE:
        from bumps.serialize import deserialize

        try:
            document = parsed(data)
        except ValueError as e:
            raise Corrupt(str(e)) from e
        # A model function whose module is missing here deserializes to None with only a
        # warning, and every chisq after it is nan: make bumps' own "Error ..." warnings
        # errors with their reason (other warnings, e.g. deprecations, stay warnings).
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=_BUMPS_REBUILD_WARNING)
            return deserialize(document)
    if encoding == PICKLE:
        try:
            return pickle.loads(data)
        except (pickle.UnpicklingError, EOFError) as e:
            raise Corrupt(str(e)) from e
    raise ValueError(f"unknown encoding {encoding!r}")
