"""The Lua scripts of the state changes (lua/*.lua), registered once per client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

LUA = Path(__file__).parent / "lua"
SOURCES: dict[str, str] = {path.stem: path.read_text() for path in sorted(LUA.glob("*.lua"))}


def register(client: Any) -> dict[str, Any]:
    """Each script by name, as redis-py's callable `Script` (EVALSHA, loading it on a
    NOSCRIPT reply), for a sync or an asyncio client."""
    return {name: client.register_script(source) for name, source in SOURCES.items()}
