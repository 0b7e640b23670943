"""The kernel side: %bumps_remote, the Python API, RemoteJob, FitResult, the live panel."""

from .api import connect, get_job, list_jobs, submit, submit_many
from .job import RemoteFitError, RemoteJob
from .result import FitResult


def load_ipython_extension(shell) -> None:
    from .magic import BumpsRemoteMagics

    shell.register_magics(BumpsRemoteMagics)


__all__ = [
    "FitResult",
    "RemoteFitError",
    "RemoteJob",
    "connect",
    "get_job",
    "list_jobs",
    "load_ipython_extension",
    "submit",
    "submit_many",
]
