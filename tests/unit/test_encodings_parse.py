"""The worker reads bumps.serialize's document with orjson where that gives the very
objects json.loads gives, and with json everywhere else (encodings.parsed)."""

from __future__ import annotations

import json
import math
import random
import struct

import pytest

from jupyter_bumps_remote.shared import encodings
from tests.support.problems import gaussian_problem


def same(a, b) -> bool:
    """Equal, of the same types, and floats to the bit (NaN and -0.0 included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def outcome(parse, data: bytes):
    try:
        return "value", parse(data)
    except Exception as e:  # noqa: BLE001 - the outcome compared is the exception's type
        return "error", type(e)


def assert_as_json(data: bytes) -> None:
    ours, theirs = outcome(encodings.parsed, data), outcome(json.loads, data)
    assert ours[0] == theirs[0], (data[:80], ours, theirs)
    assert same(ours[1], theirs[1]) if ours[0] == "value" else ours[1] is theirs[1]


def random_doubles(count: int, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    bits = (struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(count))
    values = [v for v in bits if math.isfinite(v)]
    values += [rng.gauss(0, 1) * 10.0 ** rng.randint(-30, 30) for _ in range(count // 2)]
    return values + [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, -0.0, 0.0]


def test_every_double_json_writes_is_read_to_the_same_bits():
    data = json.dumps(random_doubles(100_000)).encode()
    assert_as_json(data)


def test_long_decimals_round_alike():
    rng = random.Random(3)
    numbers = [f"{rng.uniform(-1e10, 1e10):.25e}" for _ in range(5000)]
    numbers += ["0." + "".join(rng.choice("0123456789") for _ in range(40)) for _ in range(2000)]
    numbers += ["1" + "0" * 30 + ".5", "123456789012345678901234567890e-5", "9" * 25 + "E-10"]
    assert_as_json(("[" + ",".join(numbers) + "]").encode())


def test_random_documents_of_integers_floats_and_strings_read_alike():
    rng = random.Random(5)

    def integer() -> int:
        return rng.choice((1, -1)) * rng.randrange(10 ** rng.randint(0, 25))

    def scalar():
        kind = rng.randrange(4)
        if kind == 0:
            return integer()
        if kind == 1:
            return rng.gauss(0, 1) * 10.0 ** rng.randint(-8, 25)
        if kind == 2:
            return f"{integer()}.{integer()}e{integer()}"
        return rng.choice((math.nan, math.inf, -math.inf, None, True)) if rng.random() < 0.05 else 0

    for _ in range(300):
        document = {str(integer()): [scalar() for _ in range(rng.randint(0, 20))] for _ in range(5)}
        assert_as_json(json.dumps(document, separators=(",", ":")).encode())


@pytest.mark.parametrize(
    "text",
    [
        # json.dumps writes these; orjson refuses them
        '{"a":NaN,"b":Infinity,"c":-Infinity}',
        "[1e400,-1e400,2e-400]",
        '["\\ud800","\\udfff x"]',
        # integers past 64 bits: orjson would read them as floats
        "[18446744073709551616,-9223372036854775809,12345678901234567890123]",
        '{"n":99999999999999999999,"s":"12345678901234567890123"}',
        "[9223372036854775807,-9223372036854775808,18446744073709551615,1234567890123456789]",
        "[123456789012345678,-123456789012345678,-0,0.0001234567890123456789,1e22]",
        # repeated keys (json.dumps writes {1: a, "1": b} so), escapes, surrogate pairs
        '{"1":"a","1":"b"}',
        '["\\u00e9\\ud83d\\ude00\\/\\n","é😀"]',
        # not JSON, or not UTF-8: json's own error
        "[1,2",
        '{"a":1,}',
        "[\x01]",
        '"\\x"',
        "",
        "[" * 2000 + "]" * 2000,
        "[" * 1100 + "]" * 1100,
    ],
)
def test_where_orjson_differs_json_answers(text):
    assert_as_json(text.encode())


@pytest.mark.parametrize(
    "data", [b"\xef\xbb\xbf[1]", "[1.5]".encode("utf-16"), b'["\xed\xa0\x80"]']
)
def test_encodings_json_reads_alike(data):
    assert_as_json(data)


@pytest.mark.parametrize(
    "text",
    [
        "[0.00012345678901234567,1234567890123456789012.5,12345678901234567890e-5]",
        '{"12345678901234567890.5":"0.12345678901234567890123"}',
        "[" + ",".join(repr(0.0001 + i * 1.2345678901234567e-7) for i in range(1000)) + "]",
    ],
)
def test_floats_of_many_digits_are_read_by_orjson(monkeypatch, text):
    expected = json.loads(text)
    monkeypatch.setattr(encodings.json, "loads", None)  # the fast path alone
    assert same(encodings.parsed(text.encode()), expected)


@pytest.mark.parametrize(
    "text", ["12345678901234567890", "[-1234567890123456789]", '{"a":[1,12345678901234567890]}']
)
def test_long_integers_are_read_by_json(monkeypatch, text):
    expected = json.loads(text)
    monkeypatch.setattr(encodings.orjson, "loads", None)  # never orjson
    assert same(encodings.parsed(text.encode()), expected)


def test_a_problems_document_is_read_by_orjson_to_the_same_objects(monkeypatch):
    data = encodings.pack(gaussian_problem(), encodings.SERIALIZE)
    expected = json.loads(data)
    monkeypatch.setattr(encodings.json, "loads", None)  # the fast path alone
    assert same(encodings.parsed(data), expected)
