"""The job record: every field a job can carry, with its type, in one place.

A TypedDict rather than a dataclass: the record is a plain dict on every path it takes (a
Redis hash, the Lua scripts' field pairs, the REST API's JSON, events, `{**record}`
spreads), updates carry only the fields they change, and an absent field means "not set",
as it does in the hash. A TypedDict describes that dict for pyright and costs nothing at run
time; a dataclass would need converting at each of those boundaries.

What derives from it: the store's field codecs (codec.py: JSON, integer, number, flag or
text, from each field's type). What is checked against it (tests/unit/test_record_schema.py):
the Job schema of server_ext/openapi.yaml and the `IJob` interface of the sidebar
(labextension/src/tokens.ts). A new field is added here first.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
# which encoding carried the problem (docs/transport.md); encodings.ALL lists the same two
Encoding = Literal["bumps-serialize+zlib+base64", "cloudpickle+zlib+base64"]
# writing -> ready | failed | deferred; deferred -> building -> ready | failed (a file
# built on request: docs/design.md#session-files)
SessionState = Literal["writing", "ready", "failed", "deferred", "building"]


class _EnvironmentRequired(TypedDict):
    python: str
    bumps: str


class Environment(_EnvironmentRequired, total=False):
    """The versions a fit's numbers depend on (versions.environment)."""

    numpy: str
    # model library (refl1d, sasmodels) to its version; older payloads have none
    libraries: dict[str, str]


class Parameter(TypedDict):
    """A fitted parameter as the kernel saw it when it sent the problem."""

    name: str
    value: float | None
    bounds: tuple[float | None, float | None]


class Progress(TypedDict, total=False):
    """The compact progress summary kept on the record (worker/progress.py)."""

    job: str
    step: int
    max_steps: int
    chisq: float | None
    elapsed: float
    final: bool
    # the step of the checkpoint the fit resumed from (docs/design.md#checkpoints-and-drain)
    resumed_from: int | None


class _JobErrorRequired(TypedDict):
    type: str
    message: str


class JobError(_JobErrorRequired, total=False):
    traceback: str


class _JobRecordRequired(TypedDict):
    """Fields every stored job has from its creation (dispatch.new_job, records.create)."""

    id: str
    owner: str
    name: str
    tags: list[str]
    fitter: str
    options: dict[str, Any]
    seed: int
    status: Status
    attempt: int
    created: float


class JobRecord(_JobRecordRequired, total=False):
    """A job as stored and as the REST API shows it. Times are seconds since the epoch."""

    max_attempts: int
    started: float
    finished: float
    worker: str
    queue: str
    environment: Environment
    parameters: list[Parameter]
    payload_size: int
    encoding: Encoding
    progress: Progress
    error: JobError
    reason: str
    # never stored: the server adds it to a queued job no live worker serves (service.describe)
    waiting_reason: str
    cancel_requested: bool
    has_result: bool
    partial: bool
    session: SessionState
    session_error: str
    build_started: float  # when the build of a deferred session file was last sent
    session_builds: int  # how many builds of it were sent
    retry_of: str
    # the ended DREAM fit this job continues (job.resume)
    resume_of: str
    # when its fit's last checkpoint was stored; how often a draining worker gave it back
    checkpointed: float
    drained: int


# the nested records by name, for the checks of openapi.yaml and tokens.ts
NESTED: tuple[type, ...] = (Environment, Parameter, Progress, JobError)
