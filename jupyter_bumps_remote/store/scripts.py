"""The Lua scripts of the state changes (lua/*.lua), registered once per client.

A line `--#include NAME` in a script is replaced by lua/include/NAME.lua: the functions that
several scripts share (the per-owner usage, lib/usage.lua) are written once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

LUA = Path(__file__).parent / "lua"
_INCLUDE = re.compile(r"^--#include (\w+)$", re.MULTILINE)


def _source(path: Path) -> str:
    return _INCLUDE.sub(lambda m: (LUA / "include" / f"{m[1]}.lua").read_text(), path.read_text())


SOURCES: dict[str, str] = {path.stem: _source(path) for path in sorted(LUA.glob("*.lua"))}


def register(client: Any) -> dict[str, Any]:
    """Each script by name, as redis-py's callable `Script` (EVALSHA, loading it on a
    NOSCRIPT reply), for a sync or an asyncio client."""
    return {name: client.register_script(source) for name, source in SOURCES.items()}
