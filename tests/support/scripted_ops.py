"""Running a store operation (an `OpGen`) on scripted replies, no Redis: what the op
generators' unit tests share."""

from __future__ import annotations

from typing import Any

from jupyter_bumps_remote.store import Batch, OpGen


def drive(gen: OpGen[Any], *replies: Any) -> tuple[Any, list[Batch]]:
    """Run an operation on scripted replies (one per batch, in order): (result, batches)."""
    sent: list[Batch] = []
    reply = None
    try:
        while True:
            sent.append(gen.send(reply))
            assert len(sent) <= len(replies), f"unexpected batch {sent[-1]}"
            reply = replies[len(sent) - 1]
    except StopIteration as stop:
        assert len(sent) == len(replies), f"{len(replies) - len(sent)} replies left unasked"
        return stop.value, sent
