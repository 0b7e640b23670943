"""The job record as a Redis hash of strings, and back (each field's codec follows its type in
job_record.py); small text helpers for replies."""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from typing import Any, Literal, overload

import orjson

from ..shared import fast_json
from .job_record import JobRecord

FieldKind = Literal["json", "int", "float", "bool", "text"]


def field_kind(hint: Any) -> FieldKind:
    """How a field of this type is kept in a hash field: flags as "1"/"0", integers and
    numbers as their text, strings as they are, anything else (lists, dicts, nested
    records, optional values) as JSON."""
    if hint is bool:  # before int: bool is an int
        return "bool"
    if hint is int:
        return "int"
    if hint is float:
        return "float"
    if hint is str:
        return "text"
    if typing.get_origin(hint) is Literal and all(
        isinstance(a, str) for a in typing.get_args(hint)
    ):
        return "text"
    return "json"


# field name -> kind, from the job record's schema (job_record.py), not kept by hand
FIELD_KINDS: dict[str, FieldKind] = {
    name: field_kind(hint) for name, hint in typing.get_type_hints(JobRecord).items()
}
_JSON_FIELDS = frozenset(n for n, k in FIELD_KINDS.items() if k == "json")
_INT_FIELDS = frozenset(n for n, k in FIELD_KINDS.items() if k == "int")
_FLOAT_FIELDS = frozenset(n for n, k in FIELD_KINDS.items() if k == "float")
_BOOL_FIELDS = frozenset(n for n, k in FIELD_KINDS.items() if k == "bool")


def encode_record(record: Mapping[str, Any]) -> dict[str, str]:
    """Hash fields of a record; None values are left out (the field is absent)."""
    out = {}
    for name, value in record.items():
        if value is None:
            continue
        if name in _JSON_FIELDS:
            out[name] = json.dumps(value, separators=(",", ":"))
        elif name in _BOOL_FIELDS:
            out[name] = "1" if value else "0"
        else:
            out[name] = str(value)
    return out


# Hash fields that only the store's scripts read, which no reader of the record needs: the
# token of the run that holds a running job (lua/include/fence.lua), and the job's dispatch
# token, which its Celery message must carry (lua/start.lua refuses a message without it),
# and the token of the build of its session file, which the build's message must carry
DISPATCH_FIELD = "dispatch"
BUILD_FIELD = "build_token"
_STORE_ONLY_FIELDS = frozenset({"run", DISPATCH_FIELD, BUILD_FIELD})


def decode_record(raw: Mapping[Any, Any]) -> dict[str, Any]:
    """A record from its hash fields (bytes or str, as the client returns them)."""
    record: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.decode() if isinstance(key, bytes) else key
        if name in _STORE_ONLY_FIELDS:
            continue
        text = value.decode() if isinstance(value, bytes) else value
        if name in _JSON_FIELDS:
            try:
                record[name] = orjson.loads(text)
            except orjson.JSONDecodeError:  # NaN or Infinity, which json.dumps may have written
                record[name] = json.loads(text)
        elif name in _INT_FIELDS:
            record[name] = int(text)
        elif name in _FLOAT_FIELDS:
            record[name] = float(text)
        elif name in _BOOL_FIELDS:
            record[name] = text == "1"
        else:  # text, and fields the schema does not know (kept as they are)
            record[name] = text
    return record


@overload
def as_text(value: bytes | str) -> str: ...
@overload
def as_text(value: None) -> None: ...
def as_text(value: bytes | str | None) -> str | None:
    """A reply as str when it came as bytes (clients with and without decode_responses)."""
    return value.decode() if isinstance(value, bytes) else value


def summary_json(summary: Any) -> str:
    """A result summary as stored (shared/fast_json.py: orjson, json where it refuses)."""
    return fast_json.dumps(summary).decode()


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def flatten(mapping: Mapping[str, Any]) -> list[Any]:
    """{a: 1, b: 2} -> [a, 1, b, 2], as HSET and the scripts take field pairs."""
    return [item for pair in mapping.items() for item in pair]
