"""What a payload's numbers depend on, and which workers may run it.

A kernel records its versions in every payload; a worker advertises its own and consumes the
queue named after them; a worker refuses a payload made elsewhere before decoding it.
"""

from __future__ import annotations

import platform


def environment() -> dict:
    """The versions a payload depends on: pickled code only runs where they match."""
    import bumps
    import numpy

    return {
        "python": platform.python_version(),
        "bumps": bumps.__version__,
        "numpy": numpy.__version__,
    }


def environment_key(env: dict) -> str:
    """What must match between kernel and worker: Python minor and bumps minor."""
    return f"py{minor(env['python'])}-bumps{minor(env['bumps'])}"


def minor(version: str) -> str:
    return ".".join(str(version).split(".")[:2])


def queue_name(queue_prefix: str, env: dict) -> str:
    """The Celery queue of the workers that can run a payload made in `env`."""
    return queue_prefix + environment_key(env)


def mismatch(theirs: dict, ours: dict) -> tuple[str, str] | None:
    """Why a payload made in `theirs` must not be decoded in `ours`: (cause, fix), or None."""
    if minor(theirs["python"]) != minor(ours["python"]):
        return (
            f"the problem was made with Python {theirs['python']} but this worker runs "
            f"Python {ours['python']}; pickled model code only loads on the same Python minor "
            "version",
            f"Run a worker with Python {minor(theirs['python'])}, or fit from a kernel with "
            f"Python {minor(ours['python'])}",
        )
    if minor(theirs["bumps"]) != minor(ours["bumps"]):
        return (
            f"the problem was made with bumps {theirs['bumps']} but this worker has bumps "
            f"{ours['bumps']}",
            f"Install bumps {theirs['bumps']} on the worker, or the worker's version in the kernel",
        )
    return None
