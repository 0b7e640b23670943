"""What a payload's numbers depend on, and which workers may run it.

A kernel records in every payload the versions its numbers depend on: Python, bumps, numpy
and the model libraries the problem uses (refl1d, sasmodels). A job goes to the queue named
after them; a worker consumes the queue of every combination of the model libraries it has,
for its own Python, bumps and numpy; and refuses, before decoding, a payload made elsewhere.
What is compared, and why (docs/compatibility.md):

- Python, to the minor version: pickled model code only loads on the same minor version.
- bumps, exactly: a patch release may change a fitter's steps, so the same seed would give
  other numbers than a local fit in the kernel.
- numpy, to the minor version: patch releases fix bugs; minor ones change algorithms
  (summation, sorting, SIMD paths) that move the last digits of a χ².
- each model library the problem uses, exactly: its release defines the model's numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata
import importlib.util
import itertools
import platform
import sys
import types

# The model libraries whose version routes a job. Other packages a model imports must be
# installed on the workers too; they do not split the workers into queues.
MODEL_LIBRARIES = ("refl1d", "sasmodels")
# How far the search for model libraries looks into a problem (nodes visited): enough for
# refl1d's samples and sasmodels' kernels, bounded for a problem holding a huge object graph.
_MAX_VISITED = 20_000
_LEAVES = (str, bytes, bytearray, int, float, complex, bool, type(None))
_LEAF_TYPES = frozenset(_LEAVES)  # the exact types, skipped before anything is asked


# -- the environment ---------------------------------------------------------------------------


def environment(problem=None) -> dict:
    """The versions numbers depend on: {"python", "bumps", "numpy", "libraries"}.

    With `problem`: the environment a payload of it records, with the model libraries the
    problem uses. Without: this process's, with the model libraries installed here.
    """
    import bumps
    import numpy

    return {
        "python": platform.python_version(),
        "bumps": bumps.__version__,
        "numpy": numpy.__version__,
        "libraries": installed_libraries() if problem is None else libraries_used(problem),
    }


@functools.cache
def served_environment() -> dict:
    """A worker's environment: only the model libraries that import here (a broken install,
    such as refl1d 0.8 on numpy 2, would fail every fit it took). Imports them: a worker's
    fit processes fork warm with them."""
    env = environment()
    env["libraries"] = {
        name: version for name, version in env["libraries"].items() if not import_error(name)
    }
    return env


def import_error(name: str) -> str | None:
    """Why the model library `name` does not import here, or None if it does."""
    try:
        importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - any failure to import means: do not serve it
        return f"{type(e).__name__}: {e}"
    return None


def installed_libraries() -> dict[str, str]:
    """The model libraries installed here, with their versions (none is imported)."""
    found = {}
    for name in MODEL_LIBRARIES:
        if name in sys.modules or importlib.util.find_spec(name) is not None:
            found[name] = library_version(name)
    return found


def library_version(name: str) -> str:
    """The release of `name` that runs here: the imported module's own version (an upgrade
    installed since the import does not run until a restart), else the installed one."""
    version = getattr(sys.modules.get(name), "__version__", None)
    if isinstance(version, str):
        return version
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path
        return str(getattr(importlib.import_module(name), "__version__", "unknown"))


def libraries_used(problem) -> dict[str, str]:
    """The model libraries `problem` uses: the packages of its models' classes (and their
    bases), of the objects they hold, and of the functions they hold and the globals those
    functions name (a plain function calling sasmodels counts).

    A problem runs only code imported in this process: while no model library is in
    `sys.modules`, none of its classes, functions or modules can be among the problem's
    objects, and the walk (~0.1 ms of a tiny problem's ~1.2 ms encode) is not made. Missed
    so: objects of a library whose modules were all deleted from `sys.modules` since.
    encode() asks after evaluating the model, so a library that a model function imports
    when first called is in `sys.modules` by then."""
    if not any(name in sys.modules for name in MODEL_LIBRARIES):
        return {}
    found: set[str] = set()
    seen: set[int] = set()
    # the classes whose bases were noted in this walk: a problem holds many objects of few
    # classes, and a class's bases say the same each time
    # (by id: a metaclass may define __eq__; each class stays alive, held by the problem)
    noted: set[int] = set()
    # what an object is (`_kind_of`), by its type: asked once per type in this walk, not at
    # each of its objects (a few dozen types among hundreds or thousands of objects)
    kinds: dict[type, int] = {}
    arrays = _array_types()
    stack = [problem]
    while stack and len(seen) < _MAX_VISITED:
        obj = stack.pop()
        cls = type(obj)
        if cls in _LEAF_TYPES or id(obj) in seen:  # (a leaf is never in `seen`)
            continue
        kind = kinds.get(cls)
        if kind is None:
            kind = _kind_of(obj, arrays)
            # isinstance also reads `__class__`, which an object (a proxy) may set to
            # another class than its type: such an object's kind is its own
            if getattr(obj, "__class__", cls) is cls:
                kinds[cls] = kind
        elif getattr(obj, "__class__", cls) is not cls:
            kind = _kind_of(obj, arrays)
        if kind == _LEAF:
            continue
        seen.add(id(obj))
        if kind == _MODULE:
            _note(obj.__name__, found)
        elif kind == _TYPE:
            _note_bases(obj, found, noted)
        elif kind != _ARRAY:
            _note_bases(cls, found, noted)
            stack.extend(_CHILDREN[kind](obj))
    return {name: library_version(name) for name in sorted(found)}


# What an object is, for the walk: the first of these its isinstance checks match (the
# order of the checks, and so of the children, is the walk's: it stops at _MAX_VISITED).
_LEAF, _MODULE, _ARRAY, _TYPE = range(4)
_DICT, _COLLECTION, _METHOD, _FUNCTION, _PARTIAL, _DATACLASS, _OTHER = range(4, 11)


def _kind_of(obj, arrays: tuple[type, ...]) -> int:
    if isinstance(obj, _LEAVES):
        return _LEAF
    if isinstance(obj, types.ModuleType):
        return _MODULE
    if isinstance(obj, arrays):
        return _ARRAY
    if isinstance(obj, type):
        return _TYPE
    if isinstance(obj, dict):
        return _DICT
    if isinstance(obj, list | tuple | set | frozenset):
        return _COLLECTION
    if isinstance(obj, types.MethodType):
        return _METHOD
    if isinstance(obj, types.FunctionType):
        return _FUNCTION
    if isinstance(obj, functools.partial):
        return _PARTIAL
    return _DATACLASS if dataclasses.is_dataclass(obj) else _OTHER


def _dict_children(obj) -> list:
    return [*obj.keys(), *obj.values()]


def _function_children(obj) -> list:
    names = obj.__code__.co_names
    held = [obj.__globals__[name] for name in names if name in obj.__globals__]
    cells = [cell.cell_contents for cell in obj.__closure__ or () if _filled(cell)]
    return [obj.__module__ and sys.modules.get(obj.__module__), *held, *cells]


def _dataclass_children(obj) -> list:
    return [getattr(obj, f.name, None) for f in dataclasses.fields(obj)] + _state_of(obj)


def _state_of(obj) -> list:
    state = getattr(obj, "__dict__", None)
    return list(state.values()) if isinstance(state, dict) else []


_CHILDREN = {
    _DICT: _dict_children,
    _COLLECTION: list,
    _METHOD: lambda obj: [obj.__func__, obj.__self__],
    _FUNCTION: _function_children,
    _PARTIAL: lambda obj: [obj.func, *obj.args, *obj.keywords.values()],
    _DATACLASS: _dataclass_children,
    _OTHER: _state_of,
}


def _note_bases(cls: type, found: set[str], noted: set[int]) -> None:
    if id(cls) in noted:
        return
    noted.add(id(cls))
    for base in cls.__mro__:
        _note(base.__module__, found)


def _note(module: object, found: set[str]) -> None:
    top = str(module or "").split(".")[0]
    if top in MODEL_LIBRARIES:
        found.add(top)


def _array_types() -> tuple[type, ...]:
    """numpy's arrays and scalars, if numpy is imported (an array cannot exist otherwise)."""
    numpy = sys.modules.get("numpy")
    return () if numpy is None else (numpy.ndarray, numpy.generic)


def _filled(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


# -- queues --------------------------------------------------------------------------------------


def minor(version: object) -> str:
    return ".".join(str(version).split(".")[:2])


def libraries_of(env: dict) -> dict[str, str]:
    """The model libraries an environment names (none in a payload made before they were
    recorded)."""
    libraries = env.get("libraries")
    return dict(sorted(libraries.items())) if isinstance(libraries, dict) else {}


def check(env: object) -> None:
    """Raise ValueError naming the field if `env` is not an environment (a payload's)."""
    if not isinstance(env, dict):
        raise ValueError("environment: must be an object")
    for field in ("python", "bumps", "numpy"):
        if field in env and not isinstance(env[field], str):
            raise ValueError(f"environment.{field}: must be a version string")
    libraries = env.get("libraries", {})
    if not isinstance(libraries, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in libraries.items()
    ):
        raise ValueError(
            "environment.libraries: must be an object of library name to version string"
        )


def environment_key(env: dict) -> str:
    """What must match between kernel and worker, as a queue name's tail:
    Python minor, bumps exact, numpy minor, each model library exact."""
    key = f"py{minor(env['python'])}-bumps{env['bumps']}-numpy{minor(env.get('numpy', '?'))}"
    return key + "".join(f"-{name}{version}" for name, version in libraries_of(env).items())


def queue_name(queue_prefix: str, env: dict) -> str:
    """The Celery queue of the workers that can run a payload made in `env`."""
    return queue_prefix + environment_key(env)


def worker_queues(queue_prefix: str, env: dict) -> list[str]:
    """The queues a worker in `env` consumes: one per combination of its model libraries
    (a worker with refl1d and sasmodels serves pure bumps, refl1d, sasmodels and both)."""
    libraries = list(libraries_of(env).items())
    return [
        queue_name(queue_prefix, {**env, "libraries": dict(combination)})
        for size in range(len(libraries) + 1)
        for combination in itertools.combinations(libraries, size)
    ]


# A build queue's name: the queue prefix, this, then the environment key (which starts with
# "py", so no job queue is ever named like one)
BUILD_QUEUE_PART = "session-"


def build_queue_of(queue_prefix: str, job_queue: str) -> str:
    """The queue of the session builds of the jobs of `job_queue` (a record's `queue`;
    docs/design.md#session-files): apart from the jobs' queue, so that a build is not queued
    behind its owner's backlog of fits; under the queue prefix, where a fenced server may
    push (hub/redis_users.py); consumed by the same workers (`consumed_queues`)."""
    if not job_queue.startswith(queue_prefix):
        raise ValueError(f"queue {job_queue!r} is not under the queue prefix {queue_prefix!r}")
    return queue_prefix + BUILD_QUEUE_PART + job_queue[len(queue_prefix) :]


def consumed_queues(queue_prefix: str, env: dict) -> list[str]:
    """Every queue a worker in `env` consumes: its job queues (`worker_queues`, the first is
    its default), then the build queue of each. A worker takes from its queues in turn, so a
    build waits for at most one fit per process, not for the fits queued before it."""
    jobs = worker_queues(queue_prefix, env)
    return jobs + [build_queue_of(queue_prefix, name) for name in jobs]


# -- differences ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Difference:
    """One version that differs: the job's and the worker's (None: not installed there)."""

    what: str
    job: str | None
    worker: str | None

    def job_side(self) -> str:
        return f"{self.what} {self.job}"

    def worker_side(self) -> str:
        return f"{self.what} {self.worker}" if self.worker is not None else f"no {self.what}"


def differences(job: dict, worker: dict) -> list[Difference]:
    """What keeps a worker in `worker` from running a job made in `job` (empty: it may).
    The same comparison as the queue names: Python and numpy minor, bumps and the job's
    model libraries exactly."""
    found = []
    if minor(job["python"]) != minor(worker["python"]):
        found.append(Difference("Python", job["python"], worker["python"]))
    if job["bumps"] != worker["bumps"]:
        found.append(Difference("bumps", job["bumps"], worker["bumps"]))
    job_numpy, worker_numpy = job.get("numpy", "?"), worker.get("numpy", "?")
    if minor(job_numpy) != minor(worker_numpy):
        found.append(Difference("numpy", job_numpy, worker_numpy))
    theirs = libraries_of(worker)
    for name, version in libraries_of(job).items():
        if theirs.get(name) != version:
            found.append(Difference(name, version, theirs.get(name)))
    return found


def describe(env: dict, libraries: bool = True) -> str:
    """'Python 3.11, bumps 1.0.5, numpy 2.4, refl1d 1.0.1': what a queue stands for."""
    parts = [
        f"Python {minor(env['python'])}",
        f"bumps {env['bumps']}",
        f"numpy {minor(env.get('numpy', '?'))}",
    ]
    if libraries:
        parts += [f"{name} {version}" for name, version in libraries_of(env).items()]
    return ", ".join(parts)


def install_command(found: list[Difference]) -> str:
    """The pip command that gives a worker the job's packages (Python aside)."""
    pins = []
    for d in found:
        if d.what == "numpy":
            pins.append(f'"numpy=={minor(d.job)}.*"')
        elif d.what != "Python":
            pins.append(f'"{d.what}=={d.job}"')
    return "pip install " + " ".join(pins) if pins else ""


def mismatch(theirs: dict, ours: dict | None = None) -> tuple[str, str] | None:
    """Why a payload made in `theirs` must not be decoded here (`ours`, default this
    worker's environment): (cause, fix) naming every version that differs, or None."""
    ours = served_environment() if ours is None else ours
    found = differences(theirs, ours)
    if not found:
        return None
    cause = (
        f"the problem was made with {', '.join(d.job_side() for d in found)} but this worker "
        f"has {', '.join(d.worker_side() for d in found)}; a fit runs only where these match "
        "(Python and numpy to the minor version, bumps and the model libraries exactly: "
        "pickled model code only loads on the same Python, and the others change the numbers)"
    )
    steps = []
    if any(d.what == "Python" for d in found):
        steps.append(f"Run a worker with Python {minor(theirs['python'])}")
    packages = [d for d in found if d.what != "Python"]
    if packages:
        steps.append(
            f"Install {', '.join(d.job_side() for d in packages)} on the worker "
            f"({install_command(packages)})"
        )
    kernel = ", ".join(
        [f"Python {minor(ours['python'])}"]
        + [d.worker_side() for d in packages if d.worker is not None]
    )
    fix = f"{'. '.join(steps)}; or fit from a kernel with {kernel} (docs/compatibility.md)"
    return cause, fix


# -- what the server says when no live worker can run a job -------------------------------------


def queues_of(worker: dict) -> list[str]:
    """The queues a live worker consumes, from its heartbeat entry."""
    queues = worker.get("queues")
    if isinstance(queues, list):
        return queues
    return [worker["queue"]] if isinstance(worker.get("queue"), str) else []  # older workers


def no_worker_message(job: dict, workers: list[dict]) -> str:
    """Why none of the live `workers` can run a job made in `job`, what each kind of them
    serves, and what to do."""
    kinds: dict[str, list[dict]] = {}
    for worker in workers:
        env = worker.get("environment") or {}
        kinds.setdefault(environment_key(env) if env else "?", []).append(worker)
    described = []
    for group in kinds.values():
        env = group[0].get("environment") or {}
        names = ", ".join(str(w.get("name", "?")) for w in group[:3])
        names += f" and {len(group) - 3} more" if len(group) > 3 else ""
        plural = len(group) > 1
        count = f"{len(group)} worker{'s' if plural else ''} ({names})"
        if not env:
            described.append(f"{count} of an unknown environment")
            continue
        why = ", ".join(_difference_phrase(d) for d in differences(job, env))
        served = libraries_of(env)
        with_libraries = (
            f" with any of {', '.join(f'{n} {v}' for n, v in served.items())} or none"
            if served
            else " without model libraries"
        )
        described.append(
            f"{count} {'differ' if plural else 'differs'}: {why or 'its queues'}; "
            f"{'they serve' if plural else 'it serves'} "
            f"{describe(env, libraries=False)}{with_libraries}"
        )
    pins = " ".join(
        [f'"bumps=={job["bumps"]}"', f'"numpy=={minor(job.get("numpy", "?"))}.*"']
        + [f'"{n}=={v}"' for n, v in libraries_of(job).items()]
    )
    return (
        f"no live worker can run this job: it was made with {describe(job)}. "
        f"{'. '.join(described)}. Start a worker with Python {minor(job['python'])} and "
        f"pip install {pins} (then bumps-remote worker; see docs/compatibility.md), or submit "
        "again with wait_for_worker to queue the job until such a worker starts"
    )


def _difference_phrase(d: Difference) -> str:
    if d.worker is None:
        return f"no {d.what} (the job uses {d.what} {d.job})"
    return f"{d.what} {d.worker} (the job's: {d.job})"
