"""What a store operation raises when the job does not allow it."""

from __future__ import annotations


class JobNotFound(LookupError):
    pass


class TransitionRefused(Exception):
    """The job is not in a state that allows the change (e.g. cancel of a finished job)."""

    def __init__(self, status: str, action: str):
        super().__init__(f"cannot {action} a job that is {status}")
        self.status = status


class QuotaExceeded(Exception):
    """One of the owner's limits (quotas.py) refuses the request: HTTP 429. The message
    names the limit and its setting; `retry_after` is when trying again may succeed."""

    def __init__(self, setting: str, message: str, retry_after: float):
        super().__init__(message)
        self.setting = setting
        self.retry_after = retry_after
