"""REST handlers: thin adapters from HTTP to `JobService` (routes in openapi.yaml)."""

from __future__ import annotations

import functools
import math
import re
from typing import TYPE_CHECKING, cast
from urllib.parse import quote

import orjson
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.http1connection import HTTP1Connection

from ..shared import bounded_json, jobs
from ..store import JobNotFound, QuotaExceeded, TransitionRefused
from .identity import owner_of
from .redis_errors import REDIS_ERRORS
from .service import (
    MAX_BATCH_JOBS,
    MAX_RESULT_IDS,
    MAX_WAIT,
    JobService,
    NoMatchingWorker,
    ResultNotReady,
    ServiceUnavailable,
)

if TYPE_CHECKING:
    from .app import BumpsRemote

AUTH_RESOURCE = "bumps_remote"
JOB_FIELDS = frozenset(("payload", "fitter", "options", "seed", "name", "tags", "wait_for_worker"))
RETRY_FIELDS = frozenset(("options", "seed", "name", "tags", "wait_for_worker"))
RESUME_FIELDS = frozenset(("steps", "name", "tags", "wait_for_worker"))
BATCH_FIELDS = frozenset(("jobs", "wait_for_worker"))
MEMBER_FIELDS = JOB_FIELDS - {"wait_for_worker"}
_SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
# The body of a cancel, a retry or a delete: a retry's fields take a few kB at most.
SMALL_BODY_LIMIT = 64 * 1024


def extension_of(handler: ExtensionHandlerMixin) -> BumpsRemote:
    """The handler's extension app as what it is (jupyter_server types it as the base
    class, which has no `service`)."""
    return cast("BumpsRemote", handler.extensionapp)


def maps_errors(method):
    """Domain exceptions to HTTP errors; `APIHandler.write_error` shapes the JSON body."""

    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        try:
            if not all(jobs.is_job_id(job_id) for job_id in args):  # only job ids are in URLs
                raise JobNotFound(args)
            return await method(self, *args, **kwargs)
        except jobs.JobInputError as e:
            raise web.HTTPError(400, str(e), reason="Bad " + _reason(e.field)) from e
        except JobNotFound as e:
            raise web.HTTPError(404, "no such job", reason="Job Not Found") from e
        except TransitionRefused as e:
            raise web.HTTPError(409, str(e), reason="Job Is " + e.status.title()) from e
        except ResultNotReady as e:
            raise web.HTTPError(409, str(e), reason="No Result") from e
        except QuotaExceeded as e:  # write_error adds its Retry-After
            raise web.HTTPError(429, str(e), reason="Too Many Requests") from e
        except NoMatchingWorker as e:
            raise web.HTTPError(409, str(e), reason="No Worker For These Versions") from e
        except ServiceUnavailable as e:
            raise web.HTTPError(503, str(e), reason="Service Unavailable") from e
        except REDIS_ERRORS as e:
            # the client learns the cause and the setting; the log also where and the error
            self.log.warning("bumps-remote: %s", self.service.explain(e, detail=True))
            raise web.HTTPError(503, self.service.explain(e), reason="Service Unavailable") from e

    return wrapper


def _reason(field: str) -> str:
    return re.sub(r"[^A-Za-z0-9 ._-]", "", field) or "Input"


def json_bytes(data) -> bytes:
    """JSON of an answer, by orjson (in C, an order of magnitude faster than the standard
    library on a page of jobs: docs/design.md#figures-behind-the-code). JSON
    has no nan or inf: orjson writes null for them, as the result summaries do."""
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


class BumpsRemoteHandler(ExtensionHandlerMixin, APIHandler):
    auth_resource = AUTH_RESOURCE

    def write_error(self, status_code: int, **kwargs) -> None:
        # send_error clears the headers before it calls this: a 429 gets its Retry-After here
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, web.HTTPError) and isinstance(error.__cause__, QuotaExceeded):
            self.set_header("Retry-After", str(math.ceil(error.__cause__.retry_after)))
        super().write_error(status_code, **kwargs)

    @property
    def service(self) -> JobService:
        app = extension_of(self)
        if app.service is None:
            raise ServiceUnavailable(app.unavailable_reason)
        return app.service

    @property
    def owner(self) -> str:
        return owner_of(self)

    def json_body(
        self, allowed: frozenset, raw: bytes | None = None, payloads_checked_later: bool = False
    ) -> dict:
        """The body's JSON object, its fields among `allowed`. `payloads_checked_later`: the
        depth of a batch's member payloads is left to `transport.read_envelope`, which
        checks it as it reads each (checked twice, they were a third of a sweep's parse)."""
        raw = self.request.body if raw is None else raw
        if not raw:
            return {}
        try:
            if payloads_checked_later:
                body = bounded_json.loads(raw, max_depth=None)
                bounded_json.check_depth(_without_payloads(body))
            else:
                body = bounded_json.loads(raw)
        except bounded_json.TooDeep as e:
            raise jobs.JobInputError(
                "body", f"is refused: {e}; send the fields as the API describes them"
            ) from e
        except ValueError as e:
            raise jobs.JobInputError("body", f"is not valid JSON ({e})") from e
        if not isinstance(body, dict):
            raise jobs.JobInputError("body", "must be a JSON object")
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise jobs.JobInputError(
                unknown[0], f"unknown field; allowed: {', '.join(sorted(allowed))}"
            )
        return body

    def write_json(self, data, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json_bytes(data))

    def job_url(self, job_id: str) -> str:
        return f"{self.base_url}bumps-remote/api/jobs/{job_id}"


class InfoHandler(BumpsRemoteHandler):
    @web.authenticated
    @authorized
    @maps_errors
    async def get(self):
        self.write_json(await self.service.info())


@web.stream_request_body
class LimitedBodyHandler(BumpsRemoteHandler):
    """A handler whose request body is streamed, so that one over `body_limit()` is refused
    (413) without being read into memory whole; `body()` is what was received."""

    def body_limit(self) -> int:
        return SMALL_BODY_LIMIT

    async def prepare(self):
        await super().prepare()
        self._chunks: list[bytes] = []
        self._received = 0
        self._too_large = False
        if self.current_user is None:
            return  # @web.authenticated answers 403 before any body is used
        limit = self.body_limit()
        declared = self.request.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise web.HTTPError(413, self._too_large_message(), reason="Payload Too Large")
        # an HTTP/1 server's connection: the one kind jupyter_server serves
        cast(HTTP1Connection, self.request.connection).set_max_body_size(limit + 1)

    def data_received(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received > self.body_limit():
            self._too_large = True
            self._chunks = []  # keep nothing of a body we will refuse
        elif not self._too_large:
            self._chunks.append(chunk)

    def body(self) -> bytes:
        if self._too_large:
            raise web.HTTPError(413, self._too_large_message(), reason="Payload Too Large")
        return b"".join(self._chunks)

    def _too_large_message(self) -> str:
        return (
            f"the request body is larger than {self.body_limit()} bytes, the limit of this "
            "route; send only the fields the API describes"
        )


class JobsHandler(LimitedBodyHandler):
    """GET: the user's jobs; POST: submit one, its body up to max_payload_bytes."""

    def body_limit(self) -> int:
        return extension_of(self).max_payload_bytes

    def _too_large_message(self) -> str:
        return _too_large(self.body_limit())

    @web.authenticated
    @authorized
    @maps_errors
    async def get(self):
        query = {
            "status": self.get_query_argument("status", None),
            "tag": self.get_query_argument("tag", None),
            "offset": _int_argument(self, "offset", 0),
            "limit": _int_argument(self, "limit", 50),
        }
        self.write_json(await self.service.list(self.owner, **query))

    @web.authenticated
    @authorized
    @maps_errors
    async def post(self):
        body = self.json_body(JOB_FIELDS, self.body())
        for required in ("payload", "fitter"):
            if required not in body:
                raise jobs.JobInputError(required, "is required")
        key = jobs.validate_idempotency_key(self.request.headers.get("Idempotency-Key"))
        record, created = await self.service.submit(self.owner, body, key)
        self.set_header("Location", self.job_url(record["id"]))
        self.write_json(record, 201 if created else 200)


class BatchHandler(LimitedBodyHandler):
    """POST {"jobs": [...]}: submit up to MAX_BATCH_JOBS jobs (a sweep) in one request, all
    or none; the body up to max_payload_bytes, as POST jobs."""

    def body_limit(self) -> int:
        return extension_of(self).max_payload_bytes

    def _too_large_message(self) -> str:
        return _too_large(self.body_limit()) + " (or fewer jobs per request)"

    @web.authenticated
    @authorized
    @maps_errors
    async def post(self):
        # 1,000 members' JSON: parsed away from the IOLoop (off_loop.py)
        parse = functools.partial(self.json_body, payloads_checked_later=True)
        body = await self.service.off_loop.run(parse, BATCH_FIELDS, self.body())
        members = body.get("jobs")
        if not isinstance(members, list) or not 0 < len(members) <= MAX_BATCH_JOBS:
            raise jobs.JobInputError("jobs", f"give a list of 1 to {MAX_BATCH_JOBS} jobs")
        for i, member in enumerate(members):
            _check_member(i, member)
        key = jobs.validate_idempotency_key(self.request.headers.get("Idempotency-Key"))
        records, created = await self.service.submit_many(
            self.owner, members, body.get("wait_for_worker", False), key
        )
        self.write_json({"jobs": records}, 201 if created else 200)


def _without_payloads(body: object) -> object:
    """A batch's body with its members' payloads left out (for `check_depth`)."""
    if not isinstance(body, dict) or not isinstance(body.get("jobs"), list):
        return body
    members = [
        {k: v for k, v in m.items() if k != "payload"} if isinstance(m, dict) else m
        for m in body["jobs"]
    ]
    return {**body, "jobs": members}


def _check_member(i: int, member: object) -> None:
    """A member's fields as POST jobs checks its body's; errors name `jobs[i].field`."""
    if not isinstance(member, dict):
        raise jobs.JobInputError(f"jobs[{i}]", "must be a JSON object, as the body of POST jobs")
    unknown = sorted(set(member) - MEMBER_FIELDS)
    if unknown:
        raise jobs.JobInputError(
            f"jobs[{i}].{unknown[0]}",
            f"unknown field; allowed: {', '.join(sorted(MEMBER_FIELDS))}",
        )
    for required in ("payload", "fitter"):
        if required not in member:
            raise jobs.JobInputError(f"jobs[{i}].{required}", "is required")


def _too_large(limit: int) -> str:
    return (
        f"the request is larger than the payload limit of {limit} bytes; "
        "raise c.BumpsRemote.max_payload_bytes or send less data"
    )


def _wait_argument(handler) -> float:
    value = handler.get_query_argument("wait", None)
    if value is None:
        return 0.0
    try:
        wait = float(value)
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= MAX_WAIT:  # also refuses nan
        raise jobs.JobInputError(
            "wait", f"must be a number of seconds from 0 to {MAX_WAIT:g}, got {value!r}"
        )
    return wait


def _include_argument(handler) -> bool:
    """`include=result`: add the result summary to the record once the job has one."""
    value = handler.get_query_argument("include", None)
    if value not in (None, "result"):
        raise jobs.JobInputError("include", f"can only be 'result', got {value!r}")
    return value == "result"


def _int_argument(handler, name: str, default: int) -> int:
    value = handler.get_query_argument(name, None)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise jobs.JobInputError(name, f"must be an integer, got {value!r}") from None


class JobHandler(LimitedBodyHandler):
    @web.authenticated
    @authorized
    @maps_errors
    async def get(self, job_id):
        wait = _wait_argument(self)
        with_result = _include_argument(self)
        record, summary = await self.service.get(self.owner, job_id, wait, with_result)
        if summary is None:
            self.write_json(record)
            return
        # the record and, as "result", the summary as the worker stored it (not parsed):
        # a client waiting for a result gets it in the same answer as the job's end
        self.set_header("Content-Type", "application/json")
        self.finish(json_bytes(record)[:-1] + b', "result": ' + summary + b"}")

    @web.authenticated
    @authorized
    @maps_errors
    async def delete(self, job_id):
        self.body()  # none is needed; one over the limit is refused
        await self.service.delete(self.owner, job_id)
        self.set_status(204)
        self.finish()


class CancelHandler(LimitedBodyHandler):
    @web.authenticated
    @authorized
    @maps_errors
    async def post(self, job_id):
        self.body()  # none is needed; one over the limit is refused
        self.write_json(await self.service.cancel(self.owner, job_id))


class RetryHandler(LimitedBodyHandler):
    @web.authenticated
    @authorized
    @maps_errors
    async def post(self, job_id):
        body = self.json_body(RETRY_FIELDS, self.body())
        record = await self.service.retry(self.owner, job_id, body)
        self.set_header("Location", self.job_url(record["id"]))
        self.write_json(record, 201)


class ResumeHandler(LimitedBodyHandler):
    @web.authenticated
    @authorized
    @maps_errors
    async def post(self, job_id):
        body = self.json_body(RESUME_FIELDS, self.body())
        record = await self.service.resume(self.owner, job_id, body)
        self.set_header("Location", self.job_url(record["id"]))
        self.write_json(record, 201)


class ResultsHandler(LimitedBodyHandler):
    """POST {"ids": [...]}: many jobs' records with their result summaries, in one answer."""

    @web.authenticated
    @authorized
    @maps_errors
    async def post(self):
        found, missing = await self.service.results(
            self.owner, _job_ids(self), _wait_argument(self)
        )
        self.write_json({"jobs": found, "missing": missing})


class CancelManyHandler(LimitedBodyHandler):
    """POST {"ids": [...]}: many jobs cancelled (a sweep's), their records in one answer."""

    @web.authenticated
    @authorized
    @maps_errors
    async def post(self):
        found, missing = await self.service.cancel_many(self.owner, _job_ids(self))
        self.write_json({"jobs": found, "missing": missing})


def _job_ids(handler: LimitedBodyHandler) -> list[str]:
    """The body's `ids`: 1 to MAX_RESULT_IDS job ids, each once, in the order given."""
    ids = handler.json_body(frozenset(("ids",)), handler.body()).get("ids")
    if not isinstance(ids, list) or not 0 < len(ids) <= MAX_RESULT_IDS:
        raise jobs.JobInputError("ids", f"give a list of 1 to {MAX_RESULT_IDS} job ids")
    for i, job_id in enumerate(ids):
        if not jobs.is_job_id(job_id):
            raise jobs.JobInputError("ids", f"item {i} is not a job id (32 hex digits)")
    return list(dict.fromkeys(ids))


class ResultHandler(BumpsRemoteHandler):
    @web.authenticated
    @authorized
    @maps_errors
    async def get(self, job_id):
        # the summary goes out as the worker stored it (JSON without nan): a DREAM summary
        # is hundreds of kB that parsing and serializing again would only slow down
        self.set_header("Content-Type", "application/json")
        self.finish(await self.service.result(self.owner, job_id))


class PayloadHandler(BumpsRemoteHandler):
    @web.authenticated
    @authorized
    @maps_errors
    async def get(self, job_id):
        # the envelope as submitted: JSON, never decoded here (it carries code)
        self.set_header("Content-Type", "application/json")
        self.finish(await self.service.payload(self.owner, job_id))


class SessionHandler(BumpsRemoteHandler):
    @web.authenticated
    @authorized
    @maps_errors
    async def get(self, job_id):
        record, data = await self.service.session(self.owner, job_id)
        name = _SAFE_FILENAME.sub("-", record.get("name") or "fit").strip("-") or "fit"
        filename = f"{name}-{job_id[:8]}.h5"
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(filename)}")
        self.finish(data, set_content_type="application/x-hdf5")


class WorkersHandler(BumpsRemoteHandler):
    @web.authenticated
    @authorized
    @maps_errors
    async def get(self):
        self.write_json({"workers": await self.service.workers()})
