"""A fit's stdout and stderr as `output` events: coalesced, chunked, capped.

The fit process writes to pipes that its pool process reads (Python's print and C's write
alike). Small writes are coalesced: an event goes out once 8 KiB of a stream are waiting, or
0.2 s after the first of them, or when the other stream writes (so the two keep the order in
which they were read), or before the job's end. Past `limit` bytes in all, the rest is read
and dropped, and one last event says so (docs/design.md#a-fits-output).
"""

from __future__ import annotations

import codecs
from typing import Any

CHUNK = 8192
DELAY = 0.2


class OutputCapture:
    def __init__(self, limit: int, chunk: int = CHUNK, delay: float = DELAY):
        self.limit, self.chunk, self.delay = limit, chunk, delay
        self.used = 0  # bytes taken, up to `limit`
        self.truncated = False
        self._seq = 0
        self._stream = ""
        self._buffer = bytearray()
        self._since = 0.0  # when the first byte of the buffer came
        self._decoders = {
            name: codecs.getincrementaldecoder("utf-8")(errors="replace")
            for name in ("stdout", "stderr")
        }
        self._ready: list[dict[str, Any]] = []

    def feed(self, stream: str, data: bytes, now: float) -> None:
        if self.truncated:
            return
        if stream != self._stream and self._buffer:
            self._flush()
        if not self._buffer:
            self._since = now
        self._stream = stream
        room = self.limit - self.used
        self._buffer += data[:room]
        self.used += min(len(data), room)
        while len(self._buffer) >= self.chunk:
            self._emit(bytes(self._buffer[: self.chunk]))
            del self._buffer[: self.chunk]
        if len(data) > room:  # the cap: what was read is out, the rest dropped from now on
            self._flush(final=True)
            self.truncated = True
            self._ready.append(
                {"stream": "stderr", "text": "", "truncated": True, "seq": self._next_seq()}
            )

    def due_in(self, now: float) -> float | None:
        """Seconds until the waiting output is due to go out (None: nothing waits)."""
        return max(0.0, self._since + self.delay - now) if self._buffer else None

    def take(self, now: float, everything: bool = False) -> list[dict[str, Any]]:
        """The events ready to be stored: full chunks, and the rest once it is due (or at
        once with `everything`)."""
        if everything:
            self._flush(final=True)
        elif self._buffer and now - self._since >= self.delay:
            self._flush()
        ready, self._ready = self._ready, []
        return ready

    def _flush(self, final: bool = False) -> None:
        if self._buffer:
            self._emit(bytes(self._buffer))
            self._buffer.clear()
        if final:  # what a decoder still holds: the start of a character that never ended
            for stream, decoder in self._decoders.items():
                text = decoder.decode(b"", final=True)
                if text:
                    self._ready.append(self._event(stream, text))

    def _emit(self, data: bytes) -> None:
        text = self._decoders[self._stream].decode(data)
        if text:  # a character cut between two reads waits for its last bytes
            self._ready.append(self._event(self._stream, text))

    def _event(self, stream: str, text: str) -> dict[str, Any]:
        return {"stream": stream, "text": text, "seq": self._next_seq()}

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq - 1
