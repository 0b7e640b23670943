"""Fit bumps problems on remote workers from Jupyter, live.

In a notebook: `%load_ext jupyter_bumps_remote`, then `job = %bumps_remote problem --fitter
dream`, or the Python API: `submit`, `get_job`, `list_jobs`, `submit_many`, `connect`.
"""

from ._version import __version__

_KERNEL_API = (
    "FitResult",
    "RemoteFitError",
    "RemoteJob",
    "connect",
    "get_job",
    "list_jobs",
    "submit",
    "submit_many",
)
__all__ = ["__version__", *_KERNEL_API]


def __getattr__(name: str):
    # The kernel API loads on first use: the server and the workers import this package
    # too and need none of it.
    if name in _KERNEL_API:
        from . import kernel

        return getattr(kernel, name)
    raise AttributeError(name)


def load_ipython_extension(shell) -> None:
    from .kernel import load_ipython_extension as load

    load(shell)


def _jupyter_server_extension_points():
    from .server_ext import BumpsRemote

    return [{"module": "jupyter_bumps_remote", "app": BumpsRemote}]


def _jupyter_labextension_paths():
    # the prebuilt sidebar; installed wheels ship it in share/jupyter/labextensions
    return [{"src": "labextension", "dest": "jupyter-bumps-remote"}]
