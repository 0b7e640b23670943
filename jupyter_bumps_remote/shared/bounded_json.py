"""JSON from a client, parsed with a bound on how deeply it nests.

The standard library's parser recurses once per level: a body of 100 000 `[` raises
RecursionError (a 500 in a handler). orjson stops at 1024 levels with a JSONDecodeError,
but a value nested 1000 deep still breaks whatever later recurses into it (repr in an error
message, json.dumps). Nothing this package reads nests beyond a few levels (a payload's
parameter bounds are the deepest: body, payload, parameters, one parameter, bounds), so
anything deeper than MAX_DEPTH is refused before any other code sees it.
"""

from __future__ import annotations

import orjson

MAX_DEPTH = 32
_NESTING = (dict, list, tuple)


class TooDeep(ValueError):
    """JSON nested deeper than allowed; the message says how deep is allowed."""

    def __init__(self, max_depth: int):
        super().__init__(f"it nests arrays and objects more than {max_depth} levels deep")
        self.max_depth = max_depth


def loads(raw: bytes | bytearray | memoryview | str, max_depth: int | None = MAX_DEPTH) -> object:
    """Parse strict JSON (no NaN, UTF-8 only). Raises TooDeep past `max_depth` levels and
    ValueError (orjson.JSONDecodeError) for anything that is not JSON. `max_depth=None`:
    orjson's own bound only, for a caller that runs `check_depth` on the parts itself (what
    lies past orjson's bound is refused as past ours: it lies past any part's too)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if "depth" in str(e) or "recursion" in str(e):  # orjson's own limit, above ours
            raise TooDeep(MAX_DEPTH if max_depth is None else max_depth) from e
        raise
    if max_depth is not None:
        check_depth(value, max_depth)
    return value


def check_depth(value: object, max_depth: int = MAX_DEPTH) -> None:
    """Raise TooDeep if `value` (parsed JSON: dicts, lists, scalars) nests beyond `max_depth`.

    Iterative, so that the check itself cannot recurse too deep."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth > max_depth:
            raise TooDeep(max_depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, _NESTING))
