"""A sweep's submissions in parts sent while the rest is encoded: POST jobs/batch, parts that
double from FIRST_PART up to MAX_JOBS jobs, each within the server's max_payload_bytes
(docs/design.md#a-sweep-in-parts-sent-as-it-is-encoded).

Encoding a member (with its round trip checked) costs the kernel 1 to 7 ms; a sweep encoded
whole before its first request left the workers idle all that while. A thread of this
module sends each part as soon as it is full, and the kernel goes on encoding meanwhile.
A sweep stays all or none: a member that fails to encode, or a part the server refuses,
cancels the jobs that earlier parts created before the error is raised."""

from __future__ import annotations

import json
import queue
import re
import threading
import warnings
from collections.abc import Iterable, Iterator

from ..shared.jobs import CANCELLED, MAX_IDEMPOTENCY_KEY, TERMINAL
from .client import Client, RemoteError, ServerUnreachable

MAX_JOBS = 1000  # the server's MAX_BATCH_JOBS
# The first request's members: enough to keep a worker's processes busy while the next
# part is encoded; each part after it holds twice as many (a sweep of 200 in 6 requests).
FIRST_PART = 4
# what a request adds around its members' JSON, with room to spare
ENVELOPE = 64
_MEMBER = re.compile(r"^jobs\[(\d+)\]")


def submit(
    client: Client, bodies: Iterable[dict], idempotency_key: str | None, wait_for_worker: bool
) -> list[dict]:
    """Each body (as POST jobs takes it) created as a job; the records in the same order.

    `bodies` may encode each member as it is asked for: the parts go out meanwhile."""
    limit = int(client.info().get("max_payload_bytes") or 0)
    sender = _Sender(client, idempotency_key, wait_for_worker)
    parts = Parts(limit)
    taken = 0  # members encoded: an error while encoding is member `taken`'s
    try:
        for body in bodies:
            for part in parts.add(json.dumps(body, separators=(",", ":")).encode(), body):
                sender.send(part)
            taken += 1
            if sender.error is not None:  # refused: encoding the rest would be for nothing
                break
        else:
            for part in parts.rest():
                sender.send(part)
        return sender.records()
    except BaseException as error:
        # nothing of a sweep that raises stays queued: the caller has no JobGroup to cancel
        withdrawal, withdrawn = None, None
        try:
            withdrawal = _Withdrawal(client, sender)
            withdrawn = withdrawal.wait()
        except KeyboardInterrupt:  # a second Ctrl-C ends the wait, not the withdrawal
            if withdrawal is None:  # it came as the thread started: one more cancels
                _Withdrawal(client, sender)  # again, the second of each cancel a no-op
        what = _Withdrawal.INTERRUPTED if withdrawn is None else withdrawn
        if isinstance(error, Exception) and not isinstance(error, RemoteError):
            # raised while encoding a member
            _note(error, "; ".join(filter(None, [f"raised by member {taken} of the sweep", what])))
        elif withdrawn is None:  # refused by the server, or a first Ctrl-C
            _note(error, what)
        elif withdrawn and isinstance(error, RemoteError):
            raise type(error)(error.status, f"{error.message} ({withdrawn})") from error
        raise


class Part:
    def __init__(self, start: int):
        self.start = start
        self.bodies: list[dict] = []
        self.encoded: list[bytes] = []
        self.size = ENVELOPE

    def __len__(self) -> int:
        return len(self.bodies)


class Parts:
    """Members into parts: FIRST_PART, then each part twice the last, at most MAX_JOBS and
    within `limit` bytes (a member alone over it goes alone: the server's 413 then says
    why). Where a part ends depends only on the members, so the same sweep makes the same
    parts, and a repeated call's requests carry the same Idempotency-Keys."""

    def __init__(self, limit: int):
        self.limit = limit
        self.capacity = min(FIRST_PART, MAX_JOBS)
        self.current = Part(0)

    def add(self, encoded: bytes, body: dict | None = None) -> list[Part]:
        """Add a member; the parts it completed (the one it did not fit in, its own)."""
        done = []
        if len(self.current) and self.limit and self.current.size + len(encoded) + 1 > self.limit:
            done.append(self._next())
        part = self.current
        part.bodies.append(body if body is not None else {})
        part.encoded.append(encoded)
        part.size += len(encoded) + 1
        if len(part) >= self.capacity:
            done.append(self._next())
        return done

    def rest(self) -> list[Part]:
        return [self.current] if len(self.current) else []

    def _next(self) -> Part:
        done = self.current
        self.capacity = min(self.capacity * 2, MAX_JOBS)
        self.current = Part(done.start + len(done))
        return done


def chunks(sizes: list[int], limit: int) -> list[tuple[int, int]]:
    """[start, end) of each part that members of these encoded sizes make."""
    parts = Parts(limit)
    made = [part for size in sizes for part in parts.add(b"x" * size)] + parts.rest()
    return [(part.start, part.start + len(part)) for part in made]


class _Sender:
    """Sends parts in order on a thread of its own, while the caller encodes the next."""

    def __init__(self, client: Client, idempotency_key: str | None, wait_for_worker: bool):
        self.client = client
        self.key = idempotency_key
        self.wait_for_worker = wait_for_worker
        self.created: list[dict] = []
        self.error: BaseException | None = None  # the first request's failure: none after it
        self.one_by_one = False  # a server without POST jobs/batch
        self._parts: queue.Queue[Part | None] = queue.Queue()
        self._stopped = False
        self._number = 0
        self._thread: threading.Thread | None = None
        self._done = threading.Event()  # set when the thread has sent its last part

    def send(self, part: Part) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bumps-remote-sweep")
            self._thread.daemon = True
            self._thread.start()
        self._parts.put(part)

    def records(self) -> list[dict]:
        """Every part sent: the records in order; raises what the server refused."""
        self._finish()
        if self.error is not None:
            raise self.error
        return self.created

    def stop(self) -> None:
        """Send nothing more; returns once a request under way has its answer."""
        self._stopped = True
        self._finish()

    def _finish(self) -> None:
        if self._thread is not None:
            self._parts.put(None)
            self._done.wait()  # not join: see _Withdrawal
            self._thread = None

    def _run(self) -> None:
        try:
            while (part := self._parts.get()) is not None:
                if self._stopped or self.error is not None:
                    continue
                try:
                    # extended as each record comes: one sent alone that fails keeps those
                    # before it
                    self.created.extend(self._post(part))
                except BaseException as e:  # noqa: BLE001 - raised by records() in the caller
                    self.error = e
                self._number += 1
        finally:
            self._done.set()

    def _post(self, part: Part) -> Iterable[dict]:
        if self.one_by_one:
            return one_by_one(self.client, part.bodies, self.key, self.wait_for_worker, part.start)
        tail = b'],"wait_for_worker":true}' if self.wait_for_worker else b"]}"
        request = b'{"jobs":[' + b",".join(part.encoded) + tail
        try:
            return self.client.submit_batch(request, chunk_key(self.key, self._number))
        except RemoteError as e:
            if e.status in (404, 405) and not self.created:  # a server without the route
                self.one_by_one = True
                return self._post(part)
            raise _in_the_sweep(e, part.start) from e


def chunk_key(key: str | None, number: int) -> str | None:
    """Each request's Idempotency-Key: the caller's for the first, then numbered."""
    if not key or number == 0:
        return key
    suffix = f"/{number}"
    return key[: MAX_IDEMPOTENCY_KEY - len(suffix)] + suffix


def _in_the_sweep(error: RemoteError, start: int) -> RemoteError:
    """The server's refusal, its `jobs[i]` the sweep's index."""
    message = _MEMBER.sub(lambda m: f"jobs[{int(m[1]) + start}]", error.message)
    return type(error)(error.status, message)


class _Withdrawal:
    """A failed sweep's jobs cancelled by a thread of their own, which an interrupt of the
    caller's wait (a second Ctrl-C, say, while a thousand cancels go out) does not stop: the
    sweep stays all or none. Not a daemon thread: a script ended by that Ctrl-C cancels its
    jobs before its process exits."""

    INTERRUPTED = (
        "interrupted while the jobs that earlier requests created were being cancelled: a "
        "thread of this process cancels the rest (list_jobs(tag=...) shows them)"
    )

    def __init__(self, client: Client, sender: _Sender):
        self.client, self.sender = client, sender
        self.withdrawn = ""
        self.waiting = threading.Event()  # the caller waits for the cancels
        # An Event, not Thread.join: a join that Ctrl-C interrupts marks the thread stopped
        # on Python 3.11 while it runs on, and the interpreter's exit would not wait for it
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bumps-remote-withdraw")
        self._thread.start()

    def wait(self) -> str:
        """What became of the jobs, in words, once every cancel has its answer."""
        self.waiting.set()
        self._done.wait()
        return self.withdrawn

    def _run(self) -> None:
        try:
            self.sender.stop()  # the request under way may still create jobs: those too
            self.withdrawn = withdraw(self.client, self.sender.created)
        finally:
            self._done.set()


def withdraw(client: Client, created: list[dict]) -> str:
    """Cancel the jobs a failed sweep created (POST jobs/cancel: one request per MAX_JOBS);
    what became of them, in words ("" if none)."""
    if not created:
        return ""
    ids, kept = [record["id"] for record in created], 0
    for start in range(0, len(ids), MAX_JOBS):
        chunk = ids[start : start + MAX_JOBS]
        try:
            answer = client.cancel_many(chunk)
        except ServerUnreachable:  # each other request would wait as long to fail the same way
            kept += len(ids) - start
            break
        except RemoteError as e:
            if e.status in (404, 405):  # a server without the route: one request per job
                kept += _cancel_one_by_one(client, ids[start:])
                break
            kept += len(chunk)
            continue
        ended = [r for r in answer["jobs"] if r["status"] in TERMINAL and r["status"] != CANCELLED]
        kept += len(ended) + len(answer["missing"])  # a tiny fit may have ended already
    text = f"the {len(created)} jobs that earlier requests created were cancelled"
    if kept:
        text += f", but for {kept} that had ended or could not be reached (list_jobs(tag=...))"
    return text


def _cancel_one_by_one(client: Client, ids: list[str]) -> int:
    """POST jobs/{id}/cancel for each; how many were not cancelled."""
    kept = 0
    for done, job_id in enumerate(ids):
        try:
            client.cancel(job_id)
        except ServerUnreachable:
            return kept + len(ids) - done
        except RemoteError:  # already ended
            kept += 1
    return kept


def _note(error: BaseException, text: str) -> None:
    add_note = getattr(error, "add_note", None)  # Python 3.11: shown with the traceback
    if add_note is not None:
        add_note(text)
    else:
        warnings.warn(text, stacklevel=3)


def one_by_one(
    client: Client,
    bodies: list[dict],
    idempotency_key: str | None,
    wait_for_worker: bool,
    start: int = 0,
) -> Iterator[dict]:
    """POST jobs for each member, for a server without POST jobs/batch."""
    for i, body in enumerate(bodies, start):
        if wait_for_worker:
            body = {**body, "wait_for_worker": True}
        key = f"{idempotency_key[: MAX_IDEMPOTENCY_KEY - 8]}#{i}" if idempotency_key else None
        yield client.submit(body, key)
