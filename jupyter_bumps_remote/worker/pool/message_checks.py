"""What a worker runs a delivered message for: the fit task and the session build task
only, with the arguments and headers a job's server sends (server_ext/dispatch.py,
server_ext/session_builds.py), and nothing more.

Under JupyterHub any user may push a message onto the queues (hub/redis_users.py), and the
worker acts on it with Redis rights over every user's keys. The dispatch token keeps a
forged message from starting another user's job (store/lua/start.lua), as the build token
keeps one from building another user's file (store/lua/session.lua), but Celery acts on
more than the arguments: callbacks, errbacks, chains and chords make the worker send
messages of the sender's choosing (onto any key, another user's included), a time limit
in the message makes the worker record a hard timeout of the job its arguments name, and
Celery's built-in tasks run whatever they are given. A message that asks for any of these
is refused before it runs (Celery logs it as invalid and acks it); other task names are
unknown to the worker (docs/design.md#forged-and-dropped-messages).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.exceptions import InvalidTaskError
from celery.worker.request import Request

from ...shared.task_names import BUILD_TASK, FIT_TASK

# Headers a server leaves empty; what each would make the worker do is in the module doc
EMPTY_HEADERS = ("eta", "expires", "shadow", "group", "group_index")
# What the body may embed besides the arguments: messages the worker would send
EMPTY_EMBEDS = ("callbacks", "errbacks", "chain", "chord")


class FitRequest(Request):
    """A delivered fit message, refused unless it is what a server sends."""

    checked_as = FIT_TASK

    def __init__(self, message: Any, *args: Any, **kwargs: Any):
        super().__init__(message, *args, **kwargs)
        problem = refusal(self._request_dict, self._payload, self.checked_as)
        if problem:
            raise InvalidTaskError(f"refused, not a message a server sends: {problem}")


class BuildRequest(FitRequest):
    """A delivered session build message, refused unless it is what a server sends."""

    checked_as = BUILD_TASK


def refusal(headers: dict, payload: Any, task: str = FIT_TASK) -> str:
    """Why a message of `task` is refused ('' if it is not): `headers` and the decoded body
    `(args, kwargs, embed)` of a Celery protocol 2 message. Never raises: a header or an
    embed of another type than Celery's (which a user who may push onto the queues can
    write) is a refusal too, not an error in the worker's consumer."""
    try:
        return _refusal(headers, payload, task)
    except (TypeError, AttributeError, ValueError) as e:
        return f"a malformed message ({type(e).__name__})"


def _refusal(headers: dict, payload: Any, task: str) -> str:
    for name in EMPTY_HEADERS:
        if headers.get(name):
            return f"header {name}"
    if any(limit is not None for limit in headers.get("timelimit") or ()):
        return "header timelimit"
    try:
        args, kwargs, embed = payload
    except (TypeError, ValueError):
        return "a body that is not (args, kwargs, embed)"
    for name in EMPTY_EMBEDS:
        if (embed or {}).get(name):
            return name
    if kwargs:
        return "keyword arguments"
    if task == BUILD_TASK:  # job id, owner and the build token, each a string
        if not isinstance(args, list | tuple) or len(args) != 3:
            return "arguments other than (job id, owner, build token)"
        if not all(isinstance(arg, str) and arg for arg in args):
            return "a job id, owner or build token that is not a string"
        return ""
    # job id, owner and (since tokens) the dispatch token, each a string
    if not isinstance(args, list | tuple) or not 2 <= len(args) <= 3:
        return "arguments other than (job id, owner, dispatch token)"
    if not all(isinstance(arg, str) and arg for arg in args[:2]):
        return "a job id or owner that is not a string"
    if len(args) == 3 and not isinstance(args[2], str):
        return "a dispatch token that is not a string"
    return ""


def only_the_fit_task(app: Celery) -> None:
    """Celery's built-in tasks (celery.chord_unlock, celery.map, ...) out of the app's
    registry once it is finalized: the worker then refuses them as unregistered. Ours (the
    fit and the session build) stay."""

    def drop_others(sender: Any = None, **_: Any) -> None:
        for name in [name for name in sender.tasks if name not in (FIT_TASK, BUILD_TASK)]:
            sender.tasks.unregister(name)

    finalized: Any = app.on_after_finalize  # (typed optional: Celery makes it in __init__)
    finalized.connect(drop_others, weak=False)
