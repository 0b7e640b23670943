"""The warm-up moved to the fit launcher (worker/fit/warm.py, worker/fit/launcher.py); the
worker's main process runs it itself only when it has no launcher (fit_launcher.py)."""

from __future__ import annotations

from ..fit.warm import MODULES, warm_up

__all__ = ["MODULES", "warm_up"]
