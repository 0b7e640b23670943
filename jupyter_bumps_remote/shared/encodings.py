"""The two ways a problem travels inside a payload: bytes out, a problem back.

Both are code: model functions (and, for pickle, the whole problem) are cloudpickled, so
`unpack` belongs in a worker's fit process or in the kernel that made the payload, never in
the server. Errors are raised as they come; transport.py turns them into advice.
"""

from __future__ import annotations

import base64
import json
import pickle
import warnings
import zlib

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
            from bumps.serialize import serialize

            return json.dumps(serialize(problem), separators=(",", ":")).encode()
        if encoding == PICKLE:
            import cloudpickle

            return cloudpickle.dumps(problem, protocol=pickle.HIGHEST_PROTOCOL)
    raise ValueError(f"unknown encoding {encoding!r}")


def to_text(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, 6)).decode("ascii")


def from_text(text: str) -> bytes:
    try:
        return zlib.decompress(base64.b64decode(text, validate=True))
    except (ValueError, zlib.error) as e:
        raise Corrupt(str(e)) from e


def unpack(encoding: str, data: bytes):
    """The problem back from `pack`'s bytes. Runs the pickled code: see the module doc."""
    if encoding == SERIALIZE:
        from bumps.serialize import deserialize

        try:
            document = json.loads(data)
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
