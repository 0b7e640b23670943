"""FitResult: a remote fit's result as bumps objects in the kernel.

The summary (x, dx, chisq, cov, convergence, …) comes as JSON at once. `problem` is rebuilt
here from the job's payload, the problem as this owner submitted it, the first time it is
asked for: no worker has to build a session file for a plot, however busy the workers are.
The session file, which holds the problem and the DREAM state, is fetched the first time
`state` or `save()` needs it (or `problem`, where the payload is gone or does not decode
here), and opened with bumps' own `load_fit_from_session`.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


class FitResult:
    def __init__(
        self,
        job_id: str,
        summary: dict,
        fetch_session: Callable[[], bytes],
        fetch_payload: Callable[[], bytes] | None = None,
    ):
        self.job_id = job_id
        self._summary = summary
        self._fetch_session = fetch_session
        self._fetch_payload = fetch_payload
        self._session_bytes: bytes | None = None
        self._loaded: Any = None  # (problem, fit state) from the session file
        self._submitted: Any = None  # the problem rebuilt from the payload
        self.x = np.asarray(summary["x"], dtype=float)
        self.dx = _array(summary.get("dx"))
        self.chisq = summary.get("chisq")
        self.labels: list[str] = list(summary["labels"])
        self.cov = _array(summary.get("cov"))
        self.stderr = _array(summary.get("stderr"))
        self.convergence = _array(summary.get("convergence"))
        self.nit = summary.get("nit")
        self.method: str = summary["method"]  # method and seed: every summary has them
        self.options = summary.get("options", {})
        self.seed: int = summary["seed"]
        self.partial = bool(summary.get("partial"))
        self.dream = summary.get("dream")

    # -- the session file, lazily ------------------------------------------------------------

    def session_bytes(self) -> bytes:
        if self._session_bytes is None:
            self._session_bytes = self._fetch_session()
        return self._session_bytes

    def _load(self):
        if self._loaded is None:
            from bumps.fitters import load_fit_from_session

            fd, path = tempfile.mkstemp(suffix=".h5", prefix="bumps-remote-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(self.session_bytes())
                self._loaded = load_fit_from_session(path)
            finally:
                os.unlink(path)
        return self._loaded

    @property
    def problem(self):
        """The problem rebuilt in the kernel with the best point set: `.plot()` works."""
        problem = self._from_payload()
        if problem is None:
            problem, _ = self._load()
        problem.setp(self.x)
        return problem

    def _from_payload(self):
        """The problem as submitted, from the job's payload; None where the payload is gone,
        the server has no such route, or it does not decode here (another environment):
        the session file has it then."""
        if self._submitted is None and self._fetch_payload is not None:
            from ..shared import transport
            from .client import RemoteError

            try:
                self._submitted = transport.decode(self._fetch_payload())
            except (RemoteError, transport.PayloadError):
                self._fetch_payload = None  # the session file from now on
        return self._submitted

    @property
    def state(self):
        """DREAM's MCMCDraw (None for the other fitters)."""
        return self._load()[1].state

    def save(self, path) -> Path:
        """Write the bumps session file (open it with bumps' webview or load_fit_from_session)."""
        path = Path(path)
        path.write_bytes(self.session_bytes())
        return path

    # -- reproducing and showing ---------------------------------------------------------------

    def local_fit(self, problem):
        """Run the same fit in this kernel: with the recorded seed, the same result.

        The seed goes to numpy's global generator and, where numba is installed (refl1d
        requires it), to numba's, which bumps' DREAM draws from (`fitting.seed_fit`).
        """
        from ..shared.fitting import local_fit

        return local_fit(problem, self.method, self.seed, **self.options)

    def to_dict(self) -> dict:
        return dict(self._summary)

    def parameters(self) -> list[tuple[str, float, float | None]]:
        dx = self.dx if self.dx is not None else [None] * len(self.x)
        return list(zip(self.labels, self.x.tolist(), list(dx), strict=True))

    def __repr__(self) -> str:
        chisq = "?" if self.chisq is None else html.escape(_number(self.chisq, ".4g"))
        head = f"FitResult({self.method}, chisq={chisq}{', partial' if self.partial else ''})"
        rows = [
            f"  {name} = {_value_error(value, error)}" for name, value, error in self.parameters()
        ]
        return "\n".join([head, *rows])

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{_value_error(value, error)}</td></tr>"
            for name, value, error in self.parameters()
        )
        chisq = "?" if self.chisq is None else html.escape(_number(self.chisq, ".4g"))
        note = " (partial: the fit was stopped)" if self.partial else ""
        return (
            f"<div><b>{html.escape(str(self.method))}</b> χ² = {chisq}{note}, "
            f"seed {html.escape(str(self.seed))}</div><table><thead><tr><th>parameter</th>"
            f"<th>value ± uncertainty</th></tr></thead><tbody>{rows}</tbody></table>"
        )


def _array(values):
    """JSON lists (null for what was nan) to a float array: numpy makes None nan itself."""
    if values is None:
        return None
    return np.asarray(values, dtype=float)


def _number(value: Any, spec: str) -> str:
    """A number as `spec` formats it; anything else (a summary is data) as its text."""
    try:
        return format(float(value), spec)
    except (TypeError, ValueError):
        return str(value)


def _value_error(value: float, error: float | None) -> str:
    shown = html.escape(_number(value, ".6g"))
    if error is None or not isinstance(error, (int, float)) or not np.isfinite(error):
        return shown
    return f"{shown} ± {html.escape(_number(error, '.2g'))}"
