"""openapi.yaml's Job and the sidebar's IJob (tokens.ts) say what job_record.JobRecord says:
the same fields, the same types, the same required ones, nested records included."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, is_typeddict

import pytest
import yaml

from jupyter_bumps_remote.server_ext import dispatch
from jupyter_bumps_remote.shared import encodings, jobs, transport
from jupyter_bumps_remote.store import codec, job_record
from jupyter_bumps_remote.store.codec import DISPATCH_FIELD
from jupyter_bumps_remote.store.job_record import JobRecord

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "jupyter_bumps_remote" / "server_ext" / "openapi.yaml"
TOKENS = ROOT / "labextension" / "src" / "tokens.ts"
NoneType = type(None)


def fields(record: type) -> dict[str, Any]:
    return typing.get_type_hints(record)


def required(record: type) -> set[str]:
    return set(record.__required_keys__)  # type: ignore[attr-defined]


# ---- openapi.yaml ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    return yaml.safe_load(OPENAPI.read_text())["components"]["schemas"]


def openapi_type(hint: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    """A type hint as the openapi schema this test expects for it, $refs followed."""
    args = get_args(hint)
    if NoneType in args:
        (inner,) = [a for a in args if a is not NoneType]
        return {**openapi_type(inner, schemas), "nullable": True}
    if is_typeddict(hint):
        return {"$ref": hint.__name__}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if hint in simple:
        return {"type": simple[hint]}
    origin = get_origin(hint)
    if origin is Literal:
        return {"type": "string", "enum": sorted(args)}
    if origin is list:
        return {"type": "array", "items": openapi_type(args[0], schemas)}
    if origin is tuple:
        (item,) = set(args)
        n = len(args)
        return {"type": "array", "items": openapi_type(item, schemas), "minItems": n, "maxItems": n}
    if origin is dict and args[1] is Any:
        return {"type": "object", "additionalProperties": True}
    if origin is dict:
        return {"type": "object", "additionalProperties": openapi_type(args[1], schemas)}
    raise AssertionError(f"no openapi form for {hint!r}: extend this test")


def normalized(spec: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """An openapi property reduced to what openapi_type describes (a Literal behind a $ref,
    such as Status, is compared by its enum; a nested object by name)."""
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[-1]
        target = schemas[name]
        if target.get("type") == "object":
            return {"$ref": name}
        return normalized(target, schemas)
    keep = {"type", "nullable", "minItems", "maxItems"}
    out = {k: v for k, v in spec.items() if k in keep}
    if "enum" in spec:
        out["enum"] = sorted(spec["enum"])
    if "items" in spec:
        out["items"] = normalized(spec["items"], schemas)
    if "additionalProperties" in spec:
        extra = spec["additionalProperties"]
        out["additionalProperties"] = extra if extra is True else normalized(extra, schemas)
    return out


@pytest.mark.parametrize(
    ("record", "schema"),
    [(JobRecord, "Job")] + [(r, r.__name__) for r in job_record.NESTED],
)
def test_openapi_schema_matches_the_record(record: type, schema: str, schemas: dict) -> None:
    spec = schemas[schema]
    properties = spec["properties"]
    hints = fields(record)
    assert set(properties) - set(hints) == set(), f"in openapi.yaml's {schema}, not in {record}"
    assert set(hints) - set(properties) == set(), f"in {record}, not in openapi.yaml's {schema}"
    for name, hint in hints.items():
        expected = openapi_type(hint, schemas)
        assert normalized(properties[name], schemas) == expected, f"{schema}.{name}"
    assert set(spec.get("required", ())) == required(record), f"{schema}: required"


# ---- tokens.ts ---------------------------------------------------------------------------

TS_INTERFACE = re.compile(r"export interface (\w+) \{\n(.*?)\n\}", re.S)
TS_FIELD = re.compile(r"^\s*(\w+)(\??): (.+);$")
TS_ALIAS = re.compile(r"export type (\w+) =\s*(.+?);", re.S)
TS_NAMES = {"JobRecord": "IJob", "JobError": "IJobError"}


def ts_name(record: type) -> str:
    return TS_NAMES.get(record.__name__, "I" + record.__name__)


@pytest.fixture(scope="module")
def tokens() -> tuple[dict[str, dict[str, tuple[str, bool]]], dict[str, str]]:
    """{interface: {field: (type, optional)}}, {alias: its type}, from tokens.ts."""
    text = TOKENS.read_text()
    interfaces = {}
    for name, body in TS_INTERFACE.findall(text):
        found = {}
        for line in body.splitlines():
            match = TS_FIELD.match(line)
            if match:
                found[match[1]] = (match[3], match[2] == "?")
        interfaces[name] = found
    # prettier starts a long union on its own line with "|"
    aliases = {
        name: " ".join(value.split()).removeprefix("| ") for name, value in TS_ALIAS.findall(text)
    }
    return interfaces, aliases


def ts_type(hint: Any) -> str:
    """A type hint written as tokens.ts writes it."""
    args = get_args(hint)
    if NoneType in args:
        (inner,) = [a for a in args if a is not NoneType]
        return f"{ts_type(inner)} | null"
    if is_typeddict(hint):
        return ts_name(hint)
    simple = {str: "string", int: "number", float: "number", bool: "boolean"}
    if hint in simple:
        return simple[hint]
    origin = get_origin(hint)
    if origin is Literal:
        return " | ".join(f"'{a}'" for a in args)
    if origin is list:
        item = ts_type(args[0])
        return f"({item})[]" if " " in item else f"{item}[]"
    if origin is tuple:
        return "[" + ", ".join(ts_type(a) for a in args) + "]"
    if origin is dict:
        value = "unknown" if args[1] is Any else ts_type(args[1])
        return f"Record<string, {value}>"
    raise AssertionError(f"no TypeScript form for {hint!r}: extend this test")


@pytest.mark.parametrize("record", [JobRecord, *job_record.NESTED])
def test_sidebar_interface_matches_the_record(record: type, tokens) -> None:
    interfaces, aliases = tokens
    name = ts_name(record)
    assert name in interfaces, f"tokens.ts has no interface {name}"
    declared = interfaces[name]
    hints = fields(record)
    assert set(declared) - set(hints) == set(), f"in tokens.ts's {name}, not in {record}"
    assert set(hints) - set(declared) == set(), f"in {record}, not in tokens.ts's {name}"
    for field, hint in hints.items():
        written, optional = declared[field]
        written = aliases.get(written, written)  # Status -> 'queued' | ...
        assert written == ts_type(hint), f"{name}.{field}"
        assert optional == (field not in required(record)), f"{name}.{field}: optional"


# ---- the store's codecs ----------------------------------------------------------------


def test_every_record_field_has_a_codec_from_its_type() -> None:
    assert set(codec.FIELD_KINDS) == set(fields(JobRecord))
    kinds = codec.FIELD_KINDS
    assert kinds["tags"] == kinds["environment"] == kinds["parameters"] == "json"
    assert kinds["seed"] == "int" and kinds["created"] == "float"
    assert kinds["partial"] == "bool" and kinds["status"] == kinds["encoding"] == "text"


def test_a_full_record_survives_the_hash() -> None:
    record = {
        "id": "0" * 32,
        "owner": "ann",
        "name": "lm fit",
        "tags": ["a"],
        "fitter": "lm",
        "options": {"steps": 10},
        "seed": 7,
        "status": "running",
        "attempt": 1,
        "created": 1.5,
        "max_attempts": 3,
        "started": 2.5,
        "worker": "w1",
        "queue": "bumps.abc",
        "environment": {"python": "3.11.7", "bumps": "1.0.5", "libraries": {"refl1d": "1.0.1"}},
        "parameters": [{"name": "a", "value": 1.0, "bounds": [0.0, None]}],
        "payload_size": 100,
        "encoding": "cloudpickle+zlib+base64",
        "progress": {"job": "0" * 32, "step": 3, "chisq": None, "final": False},
        "error": {"type": "X", "message": "m"},
        "cancel_requested": True,
        "has_result": False,
        "partial": False,
        "session": "writing",
        "retry_of": "1" * 32,
    }
    hashed = codec.encode_record(record)
    assert all(isinstance(v, str) for v in hashed.values())
    raw = {k.encode(): v.encode() for k, v in hashed.items()}
    assert codec.decode_record(raw) == record


def test_a_new_jobs_fields_are_all_in_the_schema() -> None:
    """dispatch.new_job's record (what the server stores) names only schema fields."""
    envelope = {
        "format": transport.FORMAT,
        "environment": {"python": "3.11.7", "bumps": "1.0.5"},
        "encoding": encodings.SERIALIZE,
        "problem": "",
    }
    record, _ = dispatch.new_job("ann", envelope, "lm", queue_prefix="bumps", max_attempts=3)
    # and its dispatch token, stored but never shown (store/codec.py)
    assert set(record) - {DISPATCH_FIELD} <= set(fields(JobRecord))
    assert DISPATCH_FIELD in record and DISPATCH_FIELD not in dispatch.shown(dict(record))


def test_the_encodings_named_are_the_ones_transport_has() -> None:
    assert get_args(job_record.Encoding) == encodings.ALL
    assert get_args(job_record.Status) == jobs.STATES
