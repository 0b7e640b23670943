"""Where everything lives in Redis: every key name the store uses, under one prefix.

Per owner, so that a Redis ACL pattern can fence a user in:
  {prefix}u:{owner}:job:{id}            hash: the job record
  {prefix}u:{owner}:job:{id}:payload    the problem payload (opaque JSON bytes)
  {prefix}u:{owner}:job:{id}:events     stream: status and progress events of the job
  {prefix}u:{owner}:job:{id}:result     result summary JSON
  {prefix}u:{owner}:job:{id}:session    bumps session HDF5 bytes, stored just after the
                                        terminal status (record field `session`: writing →
                                        ready | failed), or, for a file built on request
                                        (`deferred`, `building`), the fit's recipe for it
                                        (JSON, never served: docs/design.md#session-files)
  {prefix}u:{owner}:job:{id}:lease      token of the execution running the job (short TTL)
  {prefix}u:{owner}:job:{id}:checkpoint the fit's last checkpoint (DREAM, DE), opaque bytes
                                        that only the job's own fit process unpickles;
                                        expires with the record
  {prefix}u:{owner}:jobs                sorted set of job ids by creation time
  {prefix}u:{owner}:events              stream: status events of all the owner's jobs
  {prefix}u:{owner}:idem:{key}          idempotency key -> job id
  {prefix}u:{owner}:active              set: ids of the owner's queued and running jobs
  {prefix}u:{owner}:bytes               hash: job id -> bytes stored for it (quotas.py)
  {prefix}u:{owner}:usage               hash: `stored` (sum of `bytes`), `recounted` (when
                                        expired jobs were last dropped from it), `limit`
                                        (the owner's max_stored_bytes, for the workers)
  {prefix}u:{owner}:submitted           sorted set: job ids by creation time, last minute
  {prefix}u:{owner}:hub:{server}        stream a server writes to itself to wake its
                                        event reader (under its owner: a server whose Redis
                                        user is fenced to its owner's keys may write it)
Shared by all owners:
  {prefix}worker:{name}                 a live worker's advertisement (expires)
  {prefix}workers                       sorted set: the advertisements' keys, scored by
                                        when they expire (ms); readers find the workers here,
                                        not by SCAN, which would list every key's name
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from ..shared.settings import DEFAULT_PREFIX

_GLOB = re.compile(r"([*?\[\]\\])")


def glob_escape(text: str) -> str:
    """`text` as a Redis glob pattern matching only itself (ACL key patterns, SCAN MATCH)."""
    return _GLOB.sub(r"\\\1", text)


@dataclass(frozen=True)
class Keys:
    prefix: str = DEFAULT_PREFIX

    def owner(self, owner: str) -> str:
        """The owner's namespace; URL-quoted, so `a:b*` cannot reach another owner's keys."""
        return f"{self.prefix}u:{quote(owner, safe='')}:"

    def job(self, owner: str, job_id: str) -> str:
        return f"{self.owner(owner)}job:{job_id}"

    def job_keys(self, owner: str, job_id: str) -> list[str]:
        """The job hash and every key that lives and dies with it."""
        base = self.job(owner, job_id)
        parts = ("payload", "events", "result", "session", "checkpoint")
        return [base] + [f"{base}:{part}" for part in parts]

    def payload(self, owner: str, job_id: str) -> str:
        return f"{self.job(owner, job_id)}:payload"

    def events(self, owner: str, job_id: str) -> str:
        return f"{self.job(owner, job_id)}:events"

    def result(self, owner: str, job_id: str) -> str:
        return f"{self.job(owner, job_id)}:result"

    def session(self, owner: str, job_id: str) -> str:
        return f"{self.job(owner, job_id)}:session"

    def checkpoint(self, owner: str, job_id: str) -> str:
        return f"{self.job(owner, job_id)}:checkpoint"

    def lease(self, owner: str, job_id: str) -> str:
        return f"{self.job(owner, job_id)}:lease"

    def index(self, owner: str) -> str:
        return f"{self.owner(owner)}jobs"

    def owner_events(self, owner: str) -> str:
        return f"{self.owner(owner)}events"

    def worker(self, name: str) -> str:
        return f"{self.prefix}worker:{quote(name, safe='@')}"

    @property
    def workers_index(self) -> str:
        return f"{self.prefix}workers"

    def active(self, owner: str) -> str:
        return f"{self.owner(owner)}active"

    def job_bytes(self, owner: str) -> str:
        return f"{self.owner(owner)}bytes"

    def usage(self, owner: str) -> str:
        return f"{self.owner(owner)}usage"

    def submitted(self, owner: str) -> str:
        return f"{self.owner(owner)}submitted"

    def idempotency(self, owner: str, key: str) -> str:
        return f"{self.owner(owner)}idem:{quote(key, safe='')}"

    def hub(self, owner: str, server: str) -> str:
        return f"{self.owner(owner)}hub:{server}"
