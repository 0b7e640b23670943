"""The job store in Redis, shared by the server (asyncio) and the worker (sync).

Every operation is written once, as a generator that yields batches of Redis commands and
receives their replies (`_Ops`). Two thin drivers run those generators: `JobStore` on a
sync `redis.Redis`, `AsyncJobStore` on `redis.asyncio.Redis`. State changes are Lua scripts,
so a terminal state is final however late or duplicated a message arrives.

Keys (all under `prefix`, per owner so that a Redis ACL pattern can fence a user in):
  {prefix}u:{owner}:job:{id}            hash: the job record
  {prefix}u:{owner}:job:{id}:payload    the problem payload (opaque JSON bytes)
  {prefix}u:{owner}:job:{id}:events     stream: status and progress events of the job
  {prefix}u:{owner}:job:{id}:result     result summary JSON
  {prefix}u:{owner}:job:{id}:session    bumps session HDF5 bytes, stored just after the
                                        terminal status (record field `session`: writing →
                                        ready | failed)
  {prefix}u:{owner}:job:{id}:lease      token of the execution running the job (short TTL)
  {prefix}u:{owner}:jobs                sorted set of job ids by creation time
  {prefix}u:{owner}:events              stream: status events of all the owner's jobs
  {prefix}u:{owner}:idem:{key}          idempotency key -> job id
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import orjson
import redis.exceptions

from . import jobs

DEFAULT_PREFIX = "bumps-remote:"
DEFAULT_EVENTS_MAXLEN = 10_000
DEFAULT_RESULT_TTL = 30 * 24 * 3600
DEFAULT_MAX_ATTEMPTS = 3
IDEMPOTENCY_TTL = 24 * 3600
# the cancel reason of a fit whose record is gone or ended under it: nothing left to record
LOST_RUN = "lost"

_JSON_FIELDS = frozenset(("tags", "options", "environment", "progress", "error", "parameters"))
_INT_FIELDS = frozenset(("seed", "attempt", "max_attempts", "payload_size"))
_FLOAT_FIELDS = frozenset(("created", "started", "finished"))
_BOOL_FIELDS = frozenset(("cancel_requested", "has_result", "partial"))
_READS = frozenset(("GET", "MGET", "EXISTS", "HGETALL", "HMGET", "HVALS", "LRANGE", "ZCARD",
                    "ZRANGE", "ZREVRANGE", "XRANGE", "XREAD", "SCAN"))  # fmt: skip
_SCRIPTS = {p.stem: p.read_text() for p in (Path(__file__).parent / "lua").glob("*.lua")}


class JobNotFound(LookupError):
    pass


class TransitionRefused(Exception):
    """The job is not in a state that allows the change (e.g. cancel of a finished job)."""

    def __init__(self, status: str, action: str):
        super().__init__(f"cannot {action} a job that is {status}")
        self.status = status


@dataclass(frozen=True)
class Keys:
    prefix: str = DEFAULT_PREFIX

    def owner(self, owner: str) -> str:
        return f"{self.prefix}u:{quote(owner, safe='')}:"

    def job(self, owner: str, job_id: str) -> str:
        return f"{self.owner(owner)}job:{job_id}"

    def job_keys(self, owner: str, job_id: str) -> list[str]:
        """The job hash and every key that lives and dies with it."""
        base = self.job(owner, job_id)
        return [base] + [f"{base}:{part}" for part in ("payload", "events", "result", "session")]

    def payload(self, owner: str, job_id: str) -> str:
        return f"{self.job(owner, job_id)}:payload"

    def events(self, owner: str, job_id: str) -> str:
        return f"{self.job(owner, job_id)}:events"

    def result(self, owner: str, job_id: str) -> str:
        return f"{self.job(owner, job_id)}:result"

    def session(self, owner: str, job_id: str) -> str:
        return f"{self.job(owner, job_id)}:session"

    def lease(self, owner: str, job_id: str) -> str:
        return f"{self.job(owner, job_id)}:lease"

    def index(self, owner: str) -> str:
        return f"{self.owner(owner)}jobs"

    def owner_events(self, owner: str) -> str:
        return f"{self.owner(owner)}events"

    def worker(self, name: str) -> str:
        return f"{self.prefix}worker:{quote(name, safe='@')}"

    @property
    def workers_pattern(self) -> str:
        return f"{self.prefix}worker:*"

    def idempotency(self, owner: str, key: str) -> str:
        return f"{self.owner(owner)}idem:{quote(key, safe='')}"


@dataclass
class Batch:
    """Commands sent in one round trip; `transaction` wraps them in MULTI/EXEC."""

    commands: list[tuple] = field(default_factory=list)
    transaction: bool = False

    @property
    def repeatable(self) -> bool:
        """Only reads: sent again once if the connection fails. redis-py retries single
        commands on a pooled connection that a Redis restart closed, but not pipelines, so
        the first read after a restart answered 503."""
        return all(not isinstance(c, Script) and c[0] in _READS for c in self.commands)


@dataclass(frozen=True)
class Script:
    name: str
    keys: list[str]
    args: list


def encode_record(record: dict) -> dict[str, str]:
    out = {}
    for name, value in record.items():
        if value is None:
            continue
        if name in _JSON_FIELDS:
            out[name] = json.dumps(value, separators=(",", ":"))
        elif name in _BOOL_FIELDS:
            out[name] = "1" if value else "0"
        else:
            out[name] = str(value)
    return out


def decode_record(raw: dict) -> dict:
    record = {}
    for key, value in raw.items():
        name = key.decode() if isinstance(key, bytes) else key
        text = value.decode() if isinstance(value, bytes) else value
        if name in _JSON_FIELDS:
            try:
                record[name] = orjson.loads(text)
            except orjson.JSONDecodeError:  # NaN or Infinity, which json.dumps may have written
                record[name] = json.loads(text)
        elif name in _INT_FIELDS:
            record[name] = int(text)
        elif name in _FLOAT_FIELDS:
            record[name] = float(text)
        elif name in _BOOL_FIELDS:
            record[name] = text == "1"
        else:
            record[name] = text
    return record


def decode_events(entries) -> list[dict]:
    """XRANGE/XREAD entries to [{id, type, data}]."""
    events = []
    for event_id, fields in entries or ():
        fields = {k.decode() if isinstance(k, bytes) else k: v for k, v in fields.items()}
        events.append(
            {
                "id": event_id.decode() if isinstance(event_id, bytes) else event_id,
                "type": _text(fields.get("type")),
                "data": json.loads(fields.get("data") or "{}"),
            }
        )
    return events


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def status_event(record: dict, status: str, **extra) -> dict:
    """What a listener needs to redraw a job row without fetching the record."""
    event = {
        "job": record.get("id"),
        "status": status,
        "name": record.get("name"),
        "fitter": record.get("fitter"),
        "time": time.time(),
    }
    event.update({k: v for k, v in extra.items() if v is not None})
    return event


class _Ops:
    """Every store operation once, as generators of `Batch`es (see module docstring)."""

    def __init__(
        self,
        prefix: str = DEFAULT_PREFIX,
        events_maxlen: int = DEFAULT_EVENTS_MAXLEN,
        result_ttl: int = DEFAULT_RESULT_TTL,
    ):
        self.keys = Keys(prefix)
        self.events_maxlen = events_maxlen
        self.result_ttl = result_ttl

    # -- creation and reading -------------------------------------------------------------

    def create(self, record: dict, payload: bytes, idempotency_key: str | None = None):
        owner, job_id = record["owner"], record["id"]
        if idempotency_key:
            idem = self.keys.idempotency(owner, idempotency_key)
            (taken,) = yield Batch([("SET", idem, job_id, "NX", "EX", IDEMPOTENCY_TTL)])
            if not taken:
                (existing,) = yield Batch([("GET", idem)])
                found = yield from self.get(owner, _text(existing))
                if found is not None:
                    return found, False
        created = {"status": jobs.QUEUED, "attempt": 0, "created": time.time(), **record}
        event = _dumps(status_event(created, jobs.QUEUED))
        yield Batch(
            [
                ("HSET", self.keys.job(owner, job_id), *_flatten(encode_record(created))),
                ("SET", self.keys.payload(owner, job_id), payload),
                ("ZADD", self.keys.index(owner), created["created"], job_id),
                self._xadd(self.keys.events(owner, job_id), "status", event),
                self._xadd(self.keys.owner_events(owner), "status", event),
            ],
            transaction=True,
        )
        return created, True

    def get(self, owner: str, job_id: str):
        (raw,) = yield Batch([("HGETALL", self.keys.job(owner, job_id))])
        return decode_record(raw) if raw else None

    def payload(self, owner: str, job_id: str):
        (raw,) = yield Batch([("GET", self.keys.payload(owner, job_id))])
        return raw

    def result(self, owner: str, job_id: str):
        raw = yield from self.result_json(owner, job_id)
        return json.loads(raw) if raw else None

    def result_json(self, owner: str, job_id: str):
        """The summary as stored (JSON bytes): what the server passes on without parsing."""
        (raw,) = yield Batch([("GET", self.keys.result(owner, job_id))])
        return raw

    def session(self, owner: str, job_id: str):
        (raw,) = yield Batch([("GET", self.keys.session(owner, job_id))])
        return raw

    def list(
        self,
        owner: str,
        status: str | None = None,
        tag: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ):
        """Jobs newest first. Returns (records, next_offset or None, total of the index)."""
        index = self.keys.index(owner)
        found: list[dict] = []
        position = offset
        chunk = limit if status is None and tag is None else max(limit, 200)
        while len(found) < limit:
            total, ids = yield Batch(
                [("ZCARD", index), ("ZREVRANGE", index, position, position + chunk - 1)]
            )
            if not ids:
                return found, None, total
            raws = yield Batch([("HGETALL", self.keys.job(owner, _text(i))) for i in ids])
            expired = []
            for job_id, raw in zip(ids, raws, strict=True):
                position += 1
                if not raw:  # the record expired (retention): drop it from the index
                    expired.append(job_id)
                    continue
                record = decode_record(raw)
                if status is not None and record.get("status") != status:
                    continue
                if tag is not None and tag not in record.get("tags", ()):
                    continue
                found.append(record)
                if len(found) == limit:
                    break
            if expired:
                yield Batch([("ZREM", index, *expired)])
                position -= len(expired)
        more = position < total
        return found, (position if more else None), total

    # -- state changes ----------------------------------------------------------------------

    def _transition_keys(self, owner: str, job_id: str) -> list[str]:
        keys = self.keys.job_keys(owner, job_id)
        return [keys[0], keys[2], self.keys.owner_events(owner), keys[1], keys[3], keys[4]]

    def start(
        self,
        owner: str,
        job_id: str,
        worker: str,
        max_attempts: int,
        lease: str = "",
        lease_seconds: float = 0,
    ):
        """Mark a delivered job running and give its lease to token `lease` (none if
        `lease_seconds` is 0). Returns (outcome, record) where outcome is one of 'started',
        'missing', 'terminal' (nothing to do), 'exhausted' (failed now), 'leased' (a live
        execution holds the job: this delivery is a copy) or 'cancelled' (a cancel asked
        while its execution was lost: cancelled now)."""
        record = yield from self.get(owner, job_id)
        if record is None:
            return "missing", None
        now = time.time()
        event = _dumps(status_event(record, jobs.RUNNING, worker=worker))
        lost = {
            "type": "WorkerLost",
            "message": f"worker lost {max_attempts} times while running this job; not retried",
            "traceback": "",
        }
        failed = _dumps(status_event(record, jobs.FAILED, error=lost))
        cancelled = _dumps(
            status_event(record, jobs.CANCELLED, reason=record.get("reason") or "cancelled")
        )
        (reply,) = yield Batch(
            [
                Script(
                    "start",
                    [*self._transition_keys(owner, job_id), self.keys.lease(owner, job_id)],
                    [
                        worker,
                        now,
                        max_attempts,
                        self.events_maxlen,
                        event,
                        failed,
                        _dumps(lost),
                        self.result_ttl,
                        lease,
                        int(lease_seconds * 1000),
                        cancelled,
                    ],
                )
            ]
        )
        outcome = _text(reply[0])
        record = yield from self.get(owner, job_id)
        return outcome, record

    def keep_lease(self, owner: str, job_id: str, token: str, seconds: float):
        """Renew the lease of the execution `token`; False if another execution holds it."""
        (reply,) = yield Batch(
            [Script("lease", [self.keys.lease(owner, job_id)], [token, int(seconds * 1000), ""])]
        )
        return bool(reply)

    def release_lease(self, owner: str, job_id: str, token: str):
        yield Batch([Script("lease", [self.keys.lease(owner, job_id)], [token, 0, "release"])])

    def lease_left(self, owner: str, job_id: str):
        """Seconds before the job's lease lapses unless renewed; None if there is none."""
        (ms,) = yield Batch([("PTTL", self.keys.lease(owner, job_id))])
        return ms / 1000 if ms >= 0 else None

    def finish(
        self,
        owner: str,
        job_id: str,
        status: str,
        error: dict | None = None,
        reason: str | None = None,
        partial: bool = False,
        summary: dict | None = None,
        session_follows: bool = False,
    ):
        """Move a job to a terminal state unless it already is in one. Returns True if moved.

        `session_follows`: the fit process writes the session file right after this (see
        `put_session`), so the result is readable before that slower HDF5 write is done."""
        assert status in jobs.TERMINAL
        record = yield from self.get(owner, job_id)
        if record is None:
            return False
        fields = {
            "finished": time.time(),
            "error": error,
            "reason": reason,
            "partial": partial,
            "has_result": summary is not None,
        }
        if session_follows:
            fields["session"] = "writing"
        chisq = summary.get("chisq") if summary else None
        event = status_event(record, status, error=error, reason=reason, chisq=chisq)
        return (yield from self._transition(owner, job_id, status, fields, event))

    def _transition(self, owner, job_id, status, fields, event, allowed=jobs.ACTIVE):
        (reply,) = yield Batch(
            [
                Script(
                    "transition",
                    self._transition_keys(owner, job_id),
                    [
                        status,
                        ",".join(sorted(allowed)),
                        self.events_maxlen,
                        _dumps(event),
                        self.result_ttl if status in jobs.TERMINAL else 0,
                        *_flatten(encode_record(fields)),
                    ],
                )
            ]
        )
        return bool(reply[0])

    def request_cancel(self, owner: str, job_id: str, reason: str = "cancelled by user"):
        """Cancel: a queued job ends now; a running one is flagged for its fit to stop.
        Returns the status after the request; raises TransitionRefused if finished."""
        record = yield from self.get(owner, job_id)
        if record is None:
            raise JobNotFound(job_id)
        cancelled = _dumps(status_event(record, jobs.CANCELLED, reason=reason))
        requested = _dumps({"job": job_id, "reason": reason, "time": time.time()})
        (reply,) = yield Batch(
            [
                Script(
                    "cancel",
                    self._transition_keys(owner, job_id),
                    [
                        self.events_maxlen,
                        cancelled,
                        requested,
                        reason,
                        time.time(),
                        self.result_ttl,
                    ],
                )
            ]
        )
        ok, status = bool(reply[0]), _text(reply[1])
        if not ok:
            raise TransitionRefused(status, "cancel")
        return status

    def progress(self, owner: str, job_id: str, data: dict, summary: dict):
        """Record progress of a running job: full `data` on the job stream, the compact
        `summary` on the job record and the owner stream. Ignored once the job is not running."""
        keys = self._transition_keys(owner, job_id)[:3]
        summary = {"job": job_id, **summary}
        (reply,) = yield Batch(
            [Script("progress", keys, [self.events_maxlen, _dumps(data), _dumps(summary)])]
        )
        return _text(reply) if reply else None

    def cancel_reason(self, owner: str, job_id: str):
        """The reason of a pending cancel request, or None. A running fit whose record is
        gone or already ended (Redis lost it: see reconcile.py) gets `LOST_RUN`."""
        status, requested, reason = yield from self._hmget(
            owner, job_id, "status", "cancel_requested", "reason"
        )
        if _text(status) != jobs.RUNNING:
            return LOST_RUN
        return (_text(reason) or "cancelled") if _text(requested) == "1" else None

    def _hmget(self, owner, job_id, *names):
        (values,) = yield Batch([("HMGET", self.keys.job(owner, job_id), *names)])
        return values

    def put_result(self, owner: str, job_id: str, summary: dict):
        yield Batch([("SET", self.keys.result(owner, job_id), _dumps(summary))])

    def put_session(self, owner: str, job_id: str, data: bytes | None, error: str = ""):
        """Store the session file (or why there is none) of a job whose status says
        `session: writing`. Returns False if the job is gone."""
        keys = [self.keys.job(owner, job_id), self.keys.session(owner, job_id)]
        args = ["ready", data] if data is not None else ["failed", error]
        (reply,) = yield Batch([Script("session", keys, args)])
        return bool(reply)

    def delete(self, owner: str, job_id: str):
        """Delete a finished job and everything stored with it."""
        record = yield from self.get(owner, job_id)
        if record is None:
            raise JobNotFound(job_id)
        if record["status"] not in jobs.TERMINAL:
            raise TransitionRefused(record["status"], "delete")
        yield Batch(
            [("DEL", *self.keys.job_keys(owner, job_id)), ("ZREM", self.keys.index(owner), job_id)],
            transaction=True,
        )
        return True

    # -- worker registry ---------------------------------------------------------------------

    def beat(self, name: str, info: dict, ttl: float):
        """A live worker says what it runs; the entry vanishes `ttl` s after its last beat."""
        yield Batch([("SET", self.keys.worker(name), _dumps(info), "PX", int(ttl * 1000))])

    def forget_worker(self, name: str):
        yield Batch([("DEL", self.keys.worker(name))])

    def workers(self):
        """Every live worker's advertised info."""
        names, cursor = [], 0
        while True:
            (reply,) = yield Batch(
                [("SCAN", cursor, "MATCH", self.keys.workers_pattern, "COUNT", 500)]
            )
            cursor, found = int(reply[0]), reply[1]
            names.extend(found)
            if cursor == 0:
                break
        if not names:
            return []
        (values,) = yield Batch([("MGET", *names)])
        return sorted((json.loads(v) for v in values if v), key=lambda info: info.get("name", ""))

    # -- events -----------------------------------------------------------------------------

    def _xadd(self, stream: str, kind: str, data: str) -> tuple:
        return ("XADD", stream, "MAXLEN", "~", self.events_maxlen, "*", "type", kind, "data", data)

    def last_event_id(self, owner: str, job_id: str) -> str:
        """The id of the job's newest event ("0" if none): where to follow it from."""
        (entries,) = yield Batch([("XREVRANGE", self.keys.events(owner, job_id), "+", "-",
                                   "COUNT", 1)])  # fmt: skip
        return decode_events(entries)[0]["id"] if entries else "0"

    def events(self, owner: str, job_id: str | None, since: str = "0", count: int = 1000):
        """Events after `since` (exclusive), oldest first; job stream or owner stream."""
        stream = self.keys.events(owner, job_id) if job_id else self.keys.owner_events(owner)
        (entries,) = yield Batch(
            [("XRANGE", stream, f"({since}" if since != "0" else "-", "+", "COUNT", count)]
        )
        return decode_events(entries)

    def wait_events(self, streams: dict[str, str], block_ms: int, count: int = 1000):
        """Block until any stream has entries after its id; returns {stream: [events]}."""
        args = ["XREAD", "COUNT", count, "BLOCK", block_ms, "STREAMS", *streams, *streams.values()]
        (reply,) = yield Batch([tuple(args)])
        out = {}
        for stream, entries in _stream_items(reply):
            out[_text(stream)] = decode_events(entries)
        return out


def _stream_items(reply):
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3
        return list(reply.items())
    return [(stream, entries) for stream, entries in reply]


def _flatten(mapping: dict) -> list:
    return [item for pair in mapping.items() for item in pair]


class _Driver:
    """Shared construction for the two drivers."""

    def __init__(self, redis, **settings):
        self.redis = redis
        self.ops = _Ops(**settings)
        self.keys = self.ops.keys
        self._scripts = {name: redis.register_script(src) for name, src in _SCRIPTS.items()}

    def __getattr__(self, name):
        op = getattr(self.ops, name)
        return lambda *args, **kwargs: self._run(op(*args, **kwargs))


class JobStore(_Driver):
    """Sync store (worker, CLI, tests)."""

    def _run(self, gen):
        reply = None
        try:
            while True:
                reply = self._execute(gen.send(reply))
        except StopIteration as stop:
            return stop.value

    def _execute(self, batch: Batch):
        if len(batch.commands) == 1 and isinstance(batch.commands[0], Script):
            call = batch.commands[0]
            return [self._scripts[call.name](keys=call.keys, args=call.args)]
        try:
            return self._pipeline(batch)
        except redis.exceptions.ConnectionError:
            if not batch.repeatable:
                raise
            return self._pipeline(batch)  # see Batch.repeatable

    def _pipeline(self, batch: Batch):
        pipe = self.redis.pipeline(transaction=batch.transaction)
        for command in batch.commands:
            if isinstance(command, Script):
                self._scripts[command.name](keys=command.keys, args=command.args, client=pipe)
            else:
                pipe.execute_command(*command)
        return pipe.execute()


class AsyncJobStore(_Driver):
    """asyncio store (server extension)."""

    async def _run(self, gen):
        reply = None
        try:
            while True:
                reply = await self._execute(gen.send(reply))
        except StopIteration as stop:
            return stop.value

    async def _execute(self, batch: Batch):
        if len(batch.commands) == 1 and isinstance(batch.commands[0], Script):
            call = batch.commands[0]
            return [await self._scripts[call.name](keys=call.keys, args=call.args)]
        try:
            return await self._pipeline(batch)
        except redis.exceptions.ConnectionError:
            if not batch.repeatable:
                raise
            return await self._pipeline(batch)  # see Batch.repeatable

    async def _pipeline(self, batch: Batch):
        pipe = self.redis.pipeline(transaction=batch.transaction)
        for command in batch.commands:
            if isinstance(command, Script):
                await self._scripts[command.name](keys=command.keys, args=command.args, client=pipe)
            else:
                pipe.execute_command(*command)
        return await pipe.execute()
