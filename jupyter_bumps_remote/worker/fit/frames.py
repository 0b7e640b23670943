"""The pipes between a pool process and its fit process: framed messages, each capped.

A frame is a kind (one byte), the length of its body (4 bytes, big-endian) and the body.
The pool process sends a job (its fit settings, the checkpoint to resume from if the job
says so, then its payload), cancel and drain requests; the fit process sends what the job
leaves behind, in this order: progress events and checkpoints, the result summary, the
outcome, the session file (or its recipe, or why there is none), and, when its job said it
may serve another of the same owner, that it is done. A fit asked to drain sends a last
checkpoint and exits with no outcome. The fit process runs the
user's code, so the pool process reads nothing from it without a cap
(docs/design.md#what-a-fit-sends-back).
"""

from __future__ import annotations

import os
import struct

HEADER = struct.Struct(">cI")

# pool process -> fit process
JOB = b"J"  # JSON: fitter, options, seed, encoding
PAYLOAD = b"D"  # the problem payload, bytes
RESUME = b"U"  # the checkpoint to resume from (the job's "resume": true says one follows)
CANCEL = b"C"  # the reason, UTF-8: stop and keep the best point
DRAIN = b"W"  # the worker stops: send a last checkpoint, then exit without an outcome
# fit process -> pool process
PROGRESS = b"P"  # JSON: one progress event's data
CHECKPOINT = b"K"  # the fitter's state, pickled: bytes the pool process stores unread
RESULT = b"R"  # JSON: the result summary
OUTCOME = b"O"  # JSON: {"outcome": completed|cancelled|failed, "max_time": bool, "error": {...}}
SESSION = b"S"  # the session file, bytes
# JSON: what a worker needs besides the problem to build the session file later, sent in
# its place by a fit whose state is not worth storing (results.session_recipe)
RECIPE = b"Q"
NO_SESSION = b"N"  # why there is no session file, UTF-8
# JSON {"clean": bool}: a fit process told it may serve another job (`"reuse": true` in its
# job) is done with this one and waits for the next; clean: nothing of the job's code runs on
DONE = b"E"

# The cap of every message but the session file, whose cap is a setting. A summary holds the
# covariance matrix: 64 MiB is a problem of about 2000 parameters.
MAX_MESSAGE = 64 * 1024 * 1024
FROM_FIT = frozenset((PROGRESS, CHECKPOINT, RESULT, OUTCOME, SESSION, RECIPE, NO_SESSION, DONE))


class ProtocolError(Exception):
    """The other side sent what the protocol does not allow (a hostile or broken fit); a
    message over its cap names its `kind` and `size`."""

    def __init__(self, message: str, kind: bytes = b"", size: int = 0):
        super().__init__(message)
        self.kind, self.size = kind, size


def send(fd: int, kind: bytes, body: bytes = b"") -> None:
    """Write one frame whole (blocking)."""
    view = memoryview(HEADER.pack(kind, len(body)) + body) if len(body) < 65536 else None
    if view is None:  # a large body is written from where it is, not copied behind a header
        _write_all(fd, memoryview(HEADER.pack(kind, len(body))))
        _write_all(fd, memoryview(body))
    else:
        _write_all(fd, view)


def send_together(fd: int, messages: list[tuple[bytes, bytes]]) -> None:
    """Write small frames in one write, so that their reader finds them together."""
    data = b"".join(HEADER.pack(kind, len(body)) + body for kind, body in messages)
    _write_all(fd, memoryview(data))


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def receive(fd: int, limit: int = MAX_MESSAGE) -> tuple[bytes, bytes] | None:
    """Read one frame (blocking); None at the end of the pipe."""
    header = _read_exactly(fd, HEADER.size)
    if header is None:
        return None
    kind, size = HEADER.unpack(header)
    if size > limit:
        raise ProtocolError(f"a {kind!r} message of {size} bytes, over the limit of {limit}")
    body = _read_exactly(fd, size)
    if body is None:
        return None
    return kind, body


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class FrameReader:
    """Frames from a non-blocking pipe, read as they arrive; `limit(kind)` caps each body,
    checked on its header, before anything of the body is read or allocated."""

    def __init__(self, fd: int, limit):
        self.fd = fd
        self._limit = limit
        self._header = b""
        self._kind = b""
        self._body: bytearray | None = None
        self._got = 0
        self.ended = False

    def read(self) -> list[tuple[bytes, bytearray]]:
        """The frames completed by what the pipe holds now; `ended` once it is closed."""
        frames = []
        while not self.ended:
            try:
                if self._body is None:
                    chunk = os.read(self.fd, HEADER.size - len(self._header))
                    if not chunk:
                        self._end()
                        break
                    self._header += chunk
                    if len(self._header) == HEADER.size:
                        self._start_body()
                else:
                    view = memoryview(self._body)[self._got :]
                    got = os.readv(self.fd, [view]) if view else 0
                    if view and not got:
                        self._end()
                        break
                    self._got += got
                if self._body is not None and self._got == len(self._body):
                    frames.append((self._kind, self._body))
                    self._header, self._body, self._got = b"", None, 0
            except BlockingIOError:
                break
        return frames

    def _start_body(self) -> None:
        kind, size = HEADER.unpack(self._header)
        if kind not in FROM_FIT:
            raise ProtocolError(f"a message of unknown kind {kind!r}")
        limit = self._limit(kind)
        if size > limit:
            raise ProtocolError(
                f"a {kind.decode(errors='replace')!r} message of {size} bytes, over the limit "
                f"of {limit}",
                kind,
                size,
            )
        self._kind, self._body, self._got = kind, bytearray(size), 0

    def _end(self) -> None:
        if self._header or self._body is not None:
            # the writer died mid-frame: what came of it is dropped with it
            self._header, self._body = b"", None
        self.ended = True
