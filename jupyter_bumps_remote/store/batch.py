"""What an operation asks of Redis: batches of commands, each sent in one round trip.

Every store operation is a generator (`OpGen`) that yields `Batch`es and receives, for each,
the list of its replies in order; its return value is the operation's result. A driver
(drivers.py) sends the batches to a sync or an asyncio client, so each operation is written
once, and a test can feed it scripted replies without Redis.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

_READS = frozenset(
    (
        "GET",
        "MGET",
        "EXISTS",
        "HGET",
        "HGETALL",
        "HMGET",
        "HVALS",
        "LINDEX",
        "LLEN",
        "LRANGE",
        "SCARD",
        "ZCARD",
        "ZCOUNT",
        "ZRANGE",
        "ZREVRANGE",
        "XRANGE",
        "XREAD",
        "SCAN",
        "STRLEN",
        "XREVRANGE",
    )
)

R = TypeVar("R")


@dataclass(frozen=True)
class Script:
    """A call of one of the Lua scripts (scripts.py) by name."""

    name: str
    keys: list[str]
    args: list[Any]


# a plain command ("HGETALL", key) or a script call
Command = tuple[Any, ...] | Script


@dataclass
class Batch:
    """Commands sent in one round trip; `transaction` wraps them in MULTI/EXEC."""

    commands: Sequence[Command] = field(default_factory=list)
    transaction: bool = False

    @property
    def repeatable(self) -> bool:
        """Only reads: sent again once if the connection fails. redis-py retries single
        commands on a pooled connection that a Redis restart closed, but not pipelines, so
        the first read after a restart answered 503."""
        return all(not isinstance(c, Script) and c[0] in _READS for c in self.commands)

    @property
    def single_script(self) -> Script | None:
        """The script, when it is the batch's only command: called without a pipeline."""
        if len(self.commands) == 1 and isinstance(self.commands[0], Script):
            return self.commands[0]
        return None


# An operation: yields batches, is sent each batch's replies (a list), returns R.
OpGen = Generator[Batch, Any, R]
