"""The Python API in a kernel: submit, get_job, list_jobs, connect, submit_many."""

from __future__ import annotations

import math
import threading

from ..shared import jobs, transport
from . import batches
from .client import Client
from .discovery import ServerInfo, find_server
from .job import RemoteJob
from .sweep_encoder import SweepEncoder

_client: Client | None = None
_lock = threading.Lock()


def connect(url: str | None = None, token: str | None = None) -> Client:
    """Use this Jupyter server (default: find the kernel's own) for every call after."""
    global _client
    if url:
        server = ServerInfo(url if url.endswith("/") else url + "/", token or "", "connect()")
    else:
        server = find_server()
    with _lock:
        _client = Client(server)
    return _client


def client() -> Client:
    global _client
    with _lock:
        if _client is None:
            _client = Client(find_server())
        return _client


def prepare(
    problem, order: tuple[str, ...] | None = None, sweep: SweepEncoder | None = None
) -> dict:
    """Encode a problem, refusing here what the worker would refuse (a clear error now).
    `order`: the encodings to try (transport.encode); `sweep`: the encoder of the sweep it
    belongs to (its own order then), which checks the round trip of each kind in the kernel
    once and leaves the others' to the worker."""
    problem = transport.as_fit_problem(problem)
    payload = sweep.encode(problem) if sweep is not None else transport.encode(problem, order)
    if payload["chisq"] is None or not math.isfinite(payload["chisq"]):
        # recompute the way the worker does, for its message (names the exception if any)
        transport.verify_preflight(problem, payload["chisq"])
    return payload


def submit(
    problem,
    fitter: str = "amoeba",
    *,
    name: str | None = None,
    tags=None,
    seed: int | None = None,
    idempotency_key: str | None = None,
    wait_for_worker: bool = False,
    **options,
) -> RemoteJob:
    """Send a fit to the workers; returns at once with a RemoteJob (displays live).

    `wait_for_worker=True` queues the job even when the live workers serve other versions
    than this kernel's (otherwise the server refuses it at once, naming what differs)."""
    jobs.validate_options(fitter, options)  # the same check as the server, before encoding
    # the server before the encoding: a kernel no server started (ServerNotFound) hears at
    # once how to connect(), not after the problem's checks
    remote = client()
    body = {"payload": prepare(problem), "fitter": fitter, "options": options}
    for key, value in (("name", name), ("tags", tags), ("seed", seed)):
        if value is not None:
            body[key] = value
    if wait_for_worker:
        body["wait_for_worker"] = True
    return RemoteJob(remote, remote.submit(body, idempotency_key))


def get_job(job_id: str) -> RemoteJob:
    """Re-attach to a job by id (after a kernel restart, or from another notebook)."""
    return RemoteJob(client(), client().get(job_id))


def list_jobs(
    status: str | None = None, tag: str | None = None, limit: int = 200
) -> list[RemoteJob]:
    """Your jobs, newest first."""
    found, offset = [], 0
    while len(found) < limit:
        page = client().list(status=status, tag=tag, offset=offset, limit=min(200, limit))
        found += [RemoteJob(client(), record) for record in page["jobs"]]
        if page["next_offset"] is None:
            break
        offset = page["next_offset"]
    return found[:limit]


def submit_many(
    problems,
    fitter: str = "amoeba",
    *,
    name: str | None = None,
    tags=None,
    seed: int | None = None,
    idempotency_key: str | None = None,
    wait_for_worker: bool = False,
    **options,
):
    """Submit a sweep: one job per problem, tagged together; returns a JobGroup.

    The jobs go in parts sent while the rest is encoded (POST jobs/batch: 4 jobs, then
    twice as many each time, up to 1000 and the server's max_payload_bytes each). All or
    none: a refusal (a limit, a bad problem) raises naming the problem's index, once the
    jobs that earlier parts created are cancelled (a server without that route gets one
    request per job, as before). Each problem goes pickled where the pickle carries it
    unchanged (docs/transport.md#the-two-encodings), else as bumps' own document; that round
    trip is checked for the first problem of each kind, and the others of its kind go the
    same way (docs/transport.md#a-sweep-checks-each-kind-once).
    `idempotency_key` makes a repeated call (a lost answer) return the same jobs."""
    from .group import JobGroup

    jobs.validate_options(fitter, options)
    remote = client()
    problems = list(problems)
    label = name or f"sweep of {len(problems)}"
    group_tag = f"sweep-{jobs.new_job_id()[:8]}"
    member_tags = [group_tag, *(tags or [])]

    encoder = SweepEncoder(transport.SWEEP_ENCODINGS)

    def bodies():  # each encoded when asked for: the first parts go out meanwhile
        for i, problem in enumerate(problems):
            payload = prepare(problem, sweep=encoder)
            body = {"payload": payload, "fitter": fitter, "options": options}
            body |= {"name": f"{label} [{i}]", "tags": member_tags}
            if seed is not None:
                body["seed"] = seed
            yield body

    records = batches.submit(remote, bodies(), idempotency_key, wait_for_worker)
    return JobGroup(label, group_tag, [RemoteJob(remote, record) for record in records])
