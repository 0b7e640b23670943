"""Fit bumps problems on remote workers from Jupyter, live."""

from ._version import __version__

__all__ = ["__version__"]
