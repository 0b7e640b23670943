"""What every store operation needs besides its arguments: key names and retention."""

from __future__ import annotations

from dataclasses import dataclass, field

from .keys import DEFAULT_PREFIX, Keys

DEFAULT_EVENTS_MAXLEN = 10_000
DEFAULT_RESULT_TTL = 30 * 24 * 3600
DEFAULT_MAX_ATTEMPTS = 3


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
