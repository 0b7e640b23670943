"""Fit bumps problems on remote workers from Jupyter, live."""

from ._version import __version__

__all__ = ["__version__"]


def _jupyter_server_extension_points():
    from .server_ext import BumpsRemote

    return [{"module": "jupyter_bumps_remote", "app": BumpsRemote}]
