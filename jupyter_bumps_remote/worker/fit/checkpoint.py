"""Checkpoints of a running DREAM or DE fit, and resuming from one (in the fit process).

bumps resumes a fit from its fitter's state: `FitDriver.fit(fit_state=...)` hands it to
the fitter, whose `solve` continues from it (DREAM: `bumps.dream.state.MCMCDraw`, its
chains; DE: the history snapshot that `DEFit` restores). A monitor here pickles that state
every `checkpoint_interval` seconds and sends the bytes to the pool process, which stores
them, unread, in the job's `checkpoint` key. A redelivered job's fit is handed them back
and unpickles them here, in the fit process of that same job and its sandbox: nothing else
ever unpickles a checkpoint (they come from the user's code, like the payload).

DREAM is checkpointed only between two of its blocks of `Dream.DE_steps` generations,
where a resumed sampler starts its next block (`_run_dream`): a fit resumed there ends
after exactly as many generations as one left alone. The chains up to the checkpoint are
kept as they were; the random draws after it differ from the run that was cut short (the
random state is restored, but the crossover adaptation restarts, as in bumps' own resume).
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

FITTERS = ("dream", "de")
VERSION = 1
# bumps.dream.core.Dream.DE_steps: generations between two of DREAM's updates
DREAM_BLOCK = 10


@dataclass
class Resume:
    state: Any  # the fitter's state, for FitDriver.fit(fit_state=...)
    step: int  # the step it was taken at
    random: Any  # numpy's random state then


def supported(fitter: str) -> bool:
    return fitter in FITTERS


class CheckpointMonitor:
    """A bumps monitor: sends the fitter's state every `interval` seconds (0: only when the
    worker drains), and on a drain request sends it at the next resumable step, then stops
    the fit (`stop.drained`)."""

    def __init__(self, fitter: str, send, interval: float, limit: int, stop, say=print):
        self.fitter, self.send, self.interval, self.limit = fitter, send, interval, limit
        self.stop, self.say = stop, say
        self.last = time.monotonic()
        self.sent_step: int | None = None
        self.too_large = False

    def config_history(self, history):
        history.requires(step=1)

    def __call__(self, history):
        draining = self.stop.drain_requested.is_set()
        now = time.monotonic()
        if not draining and (not self.interval or now - self.last < self.interval):
            return
        state, step = self._state(history)
        if state is None:  # not a step a fit can resume from: the next one
            return
        self.last = now
        if step != self.sent_step:
            self._send(state, step)
        if draining:
            self.stop.drained = True

    def at_end(self, state, step: int) -> None:
        """The fitter's state at the fit's end (before its result)."""
        if state is not None and step != self.sent_step:
            self._send(state, int(getattr(state, "generation", step)))

    def _state(self, history) -> tuple[Any, int]:
        step = int(history.step[0])
        if self.fitter == "dream":
            state = getattr(history, "fit_state", None)
            if state is None or (state.generation - 1) % DREAM_BLOCK:
                return None, step
            return state, int(state.generation)
        return history.snapshot(), step

    def _send(self, state, step: int) -> None:
        data = pickle.dumps(
            {
                "version": VERSION,
                "fitter": self.fitter,
                "step": step,
                "state": state,
                "random": np.random.get_state(),
            },
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        if len(data) > self.limit:
            if not self.too_large:
                self.too_large = True
                self.say(
                    f"bumps-remote: checkpoint not stored: {len(data) / 2**20:.1f} MiB is over "
                    f"the workers' limit of {self.limit / 2**20:.1f} MiB "
                    f"(BUMPS_REMOTE_MAX_SESSION_BYTES)"
                )
            return
        self.send(data)
        self.sent_step = step


def restore(data: bytes, fitter: str) -> Resume:
    """The state a checkpoint holds (unpickled here, in the job's own fit process); raises
    ValueError saying why it cannot be resumed from."""
    try:
        saved = pickle.loads(data)  # noqa: S301 - the job's own bytes, in its own sandbox
    except Exception as e:  # noqa: BLE001 - whatever the bytes hold
        raise ValueError(f"it does not unpickle ({type(e).__name__}: {e})") from None
    if not isinstance(saved, dict) or saved.get("version") != VERSION:
        raise ValueError("it was written by another version of the worker")
    if saved.get("fitter") != fitter:
        raise ValueError(f"it is of fitter {saved.get('fitter')!r}, not {fitter!r}")
    return Resume(state=saved["state"], step=int(saved["step"]), random=saved.get("random"))


def resumed_options(fitter: str, options: dict, resume: Resume, total_steps: int) -> dict:
    """bumps' DE runs `steps` more steps from a state it resumes: what is left of them."""
    if fitter == "de" and total_steps:
        return {**options, "steps": max(total_steps - resume.step, 1)}
    return options
