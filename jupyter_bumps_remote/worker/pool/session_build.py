"""Build a job's session file on request: the pool process's side of a build message.

A fit whose state is not worth storing (every fitter but DREAM) sends a recipe instead of
its session file (the record says `session: deferred`); a request for the file moves it to
`building` under a new build token and sends a build message carrying that token on the
worker's build queue (docs/design.md#session-files). Here: check the token (a message that
does not carry the token of the build that holds the job's session, forged or superseded,
does nothing), hand the job's payload and recipe to a fresh fit process in the fit sandbox
(decoding the payload runs the owner's code, as a fit does), read back the file or why
there is none, and store it under the build's token into this job's session key only.
"""

from __future__ import annotations

import json
import logging
import os
import select

from celery.exceptions import SoftTimeLimitExceeded

from ...shared.settings import WorkerSettings
from ..fit import frames
from ..fit.fit_process import too_large
from .redis_outage import retrying
from .runner import death_error, fresh_fit_process, retire, store_for
from .spare import SpareFitProcess

log = logging.getLogger(__name__)
# what a build's fit process may send besides the file: why there is none
MAX_REASON = 64 * 1024
READ_SIZE = 1 << 16


def run_build(settings: WorkerSettings, owner: str, job_id: str, token: str) -> str:
    """Build and store the session file of `owner`'s job `job_id` if `token` is the token
    of the build that holds its session; what happened, for the log."""
    store = store_for(settings)
    if not token or store.build_token(owner, job_id) != token:
        log.warning(
            "session build of job %s of %s not run: its message does not carry the token of "
            "the build that holds it (forged, or superseded by a later request); dropped",
            job_id,
            owner,
        )
        return "refused"
    record = store.get(owner, job_id) or {}
    payload, recipe = store.payload(owner, job_id), store.session(owner, job_id)
    if payload is None or recipe is None:
        gone = "its problem payload" if payload is None else "its recipe"
        why = f"{gone} is gone from Redis (expired or deleted): nothing to build the file from"
        retrying(store.put_session, owner, job_id, None, why, build=token)
        return "failed"
    log.info("building the session file of job %s", job_id)
    data, why = _build(settings, record, payload, recipe)
    stored = retrying(store.put_session, owner, job_id, data, why or "", build=token)
    return ("built" if data is not None else "failed") if stored else "superseded"


def _build(
    settings: WorkerSettings, record: dict, payload: bytes, recipe: bytes
) -> tuple[bytes | None, str | None]:
    """(the file, None) or (None, why there is none), from a fit process of its own."""
    process = fresh_fit_process(settings)
    data, why = None, None
    try:
        job = {
            "session_recipe": recipe.decode(errors="replace"),
            "encoding": record.get("encoding"),
        }
        if process.hand_over(job, payload):
            data, why = _receive(process, settings.max_session_bytes)
    except SoftTimeLimitExceeded:
        why = f"building it ran past the time limit of {settings.soft_time_limit:g} s"
    finally:
        status = retire(settings, process)  # never kept: a build's process serves nothing more
    if data is None and why is None:
        why = f"its build failed: {death_error(status)['message']}"
    return data, why


def _receive(process: SpareFitProcess, max_bytes: int) -> tuple[bytes | None, str | None]:
    """Read the fit process's answer (its output is read and dropped: a full pipe must not
    stop it) until it sends the file or why there is none, or exits without either."""

    def limit(kind: bytes) -> int:
        return max_bytes if kind == frames.SESSION else MAX_REASON

    reader = frames.FrameReader(process.messages, limit)
    watch = [process.messages, process.stdout, process.stderr]
    while True:
        exited = not process.alive()  # before the read: what it sent first is in the pipe
        ready = select.select(watch + ([process.pidfd] if process.pidfd else []), [], [], 0.05)
        for fd in ready[0]:
            if fd in (process.stdout, process.stderr):
                _drop_output(fd, watch)
        try:
            for kind, body in reader.read():
                if kind == frames.SESSION:
                    return bytes(body), None
                if kind == frames.NO_SESSION:
                    return None, body.decode(errors="replace")[:2000]
                if kind == frames.OUTCOME:  # failed before the build (its sandbox, its job)
                    return None, f"its build failed: {_error_of(body)}"
                return None, f"its build sent a {kind.decode(errors='replace')!r} message"
        except frames.ProtocolError as e:
            if e.kind == frames.SESSION:
                return None, too_large(e.size, max_bytes)
            return None, f"its build broke the protocol of its pipe ({e})"
        if reader.ended or exited:
            return None, None


def _drop_output(fd: int, watch: list[int]) -> None:
    try:
        if not os.read(fd, READ_SIZE):
            watch.remove(fd)
    except BlockingIOError:
        pass


def _error_of(outcome: bytes | bytearray) -> str:
    """The error message of an outcome frame (fit_process.py sends one when its fit process
    fails before the job's own work: the sandbox, the job's message)."""
    try:
        error = json.loads(outcome).get("error") or {}
        return str(error.get("message") or error.get("type") or "no reason given")[:2000]
    except (ValueError, AttributeError):
        return "an outcome it could not read"
