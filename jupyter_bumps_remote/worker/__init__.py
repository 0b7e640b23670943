"""Celery worker. `celery -A jupyter_bumps_remote.worker worker` finds `app` here.

The app is built on first access, not at import, so that importing the package (the
server does, for settings) reads no configuration as a side effect.
"""

from __future__ import annotations

from .main.celery_app import make_app

__all__ = ["app", "make_app"]
_app = None


def __getattr__(name: str):
    global _app
    if name == "app":
        if _app is None:
            _app = make_app()
        return _app
    raise AttributeError(name)
