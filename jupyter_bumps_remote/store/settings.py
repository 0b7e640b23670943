"""What every store operation needs besides its arguments: key names and retention."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..shared.settings import (
    DEFAULT_EVENTS_MAXLEN,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_PREFIX,
    DEFAULT_RESULT_TTL,
)
from .keys import Keys

__all__ = [
    "DEFAULT_EVENTS_MAXLEN",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_PREFIX",
    "DEFAULT_RESULT_TTL",
    "StoreSettings",
]


@dataclass(frozen=True)
class StoreSettings:
    """`events_maxlen`: approximate cap of each event stream; `result_ttl`: seconds an ended
    job is kept."""

    prefix: str = DEFAULT_PREFIX
    events_maxlen: int = DEFAULT_EVENTS_MAXLEN
    result_ttl: int = DEFAULT_RESULT_TTL
    keys: Keys = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", Keys(self.prefix))
