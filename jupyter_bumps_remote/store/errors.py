"""What a store operation raises when the job does not allow it."""

from __future__ import annotations


class JobNotFound(LookupError):
    pass


class TransitionRefused(Exception):
    """The job is not in a state that allows the change (e.g. cancel of a finished job)."""

    def __init__(self, status: str, action: str):
        super().__init__(f"cannot {action} a job that is {status}")
        self.status = status
