"""What a spare fit process runs, from its fork to its exit: it enters the fit sandbox,
rehearses a tiny fit unless its job is expected at once, waits on a pipe for its job, and
runs it (fit_process.py). A job that says `reuse` (one of a backlog: a sweep) is followed
by a message that it is done, and the process then waits for the owner's next job, which
its pool process hands it only if nothing of the last one runs on
(docs/design.md#one-fit-one-forked-process-forked-ahead).

The fit launcher (launcher.py) forks spares and runs this in them; a pool process does the
same itself only while the launcher cannot answer (worker/pool/spare.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import resource
import select
import threading
from collections.abc import Callable

from . import fit_process, frames, model_caches, process_tree, rehearsal, sandbox, stdio
from .cancel import CancelFlag, JobPipe
from .channel import Channel
from .fit_process import error_of
from .fit_settings import FitSettings

_PR_SET_CHILD_SUBREAPER = 36
_F_SETPIPE_SZ = 1031
# A session file of a small fit in one or two reads rather than sixteen (Linux' default
# pipe holds 64 KiB; an unprivileged process may raise it to 1 MiB).
MESSAGE_PIPE_BYTES = 1 << 20


class ChildEnds:
    """The spare's ends of its four pipes."""

    def __init__(self, job: int, messages: int, stdout: int, stderr: int):
        self.job, self.messages, self.stdout, self.stderr = job, messages, stdout, stderr

    def all(self) -> set[int]:
        return {self.job, self.messages, self.stdout, self.stderr}


def sandbox_settings(
    fit_user: str | int | None,
    fit_uid_base: int,
    max_memory_mb: int,
    max_cpu_seconds: int,
    max_processes: int,
    readable_paths: list[str] | tuple[str, ...] = (),
) -> sandbox.SandboxSettings:
    """The fit sandbox as the worker's settings ask (worker/pool/spare.sandbox_fields):
    its user, its limits (0: none), what fits may read besides the worker's model caches;
    the sandbox's defaults for the rest."""
    return sandbox.SandboxSettings(
        fit_user=fit_user,
        fit_uid_base=fit_uid_base,
        max_memory_mb=max_memory_mb,
        max_cpu_seconds=max_cpu_seconds,
        max_processes=max_processes,
        readable_paths=model_caches.worker_caches() + tuple(readable_paths),
    )


def serve_one_job(
    fit_settings: FitSettings,
    confinement: sandbox.SandboxSettings,
    ends: ChildEnds,
    rehearse: bool,
    forget: Callable[[], None] = lambda: None,
    subreaper: bool = False,
) -> int:
    """The spare's life; returns its exit code. `forget()` drops what the forking process
    holds that a fit must not; `subreaper`: orphans of what the fit starts come back to it
    rather than to the launcher (which kills whatever comes back to it)."""
    forget()
    fit_process.become_fit_process()
    if subreaper:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1)
        except (OSError, AttributeError):
            pass
    try:
        confined = sandbox.enter(confinement, ends.all())
    except sandbox.SandboxError as e:
        return _refuse(ends, e)
    model_caches.use_home(confined.home)
    stdio.detach()
    if rehearse:
        _warm_up(job_waiting=lambda: bool(select.select([ends.job], [], [], 0)[0]))
    job, saved, payload = _receive_job(ends.job)
    if job is None or payload is None:  # the pool process closed the pipe without a job
        return 0
    stdio.connect(ends.stdout, ends.stderr)
    stop = CancelFlag()
    pipe = JobPipe(ends.job, stop)
    channel = Channel(ends.messages)
    served = 0
    while True:
        code = fit_process.main(fit_settings, channel, stop, job, payload, saved)
        served += 1
        if not job.get("reuse") or stop.drained:
            return code
        # its pool process may give this process the owner's next job (a sweep): say this
        # one is over and whether nothing of it runs on, then wait for the next or the end
        channel.done(
            clean=channel.last_outcome == "completed"
            and _nothing_runs_on(pipe)
            and room_for_another_job(confined.private_mounts, served)
        )
        following = pipe.next_job()
        if following is None:
            return code
        job, saved, payload, stop = following


def _nothing_runs_on(pipe: JobPipe) -> bool:
    """No thread but this one and the pipe's reader, no child process: the job's code has
    stopped (a fit process is a child subreaper, so any process it started and orphaned
    is still its child)."""
    if {t.ident for t in threading.enumerate()} - {threading.get_ident(), pipe.thread.ident}:
        return False
    return not process_tree.children()


# Jobs a process serves at most where its /tmp, HOME and TMPDIR are on the host's disk
# (no private tmpfs): what they hold is not measured, so the bound is the count it was.
JOBS_WITHOUT_PRIVATE_TMP = 50


def room_for_another_job(private_tmp: bool, served: int) -> bool:
    """Whether a job in this process would find at least half of what its limits allow
    free, whatever the jobs before it left: its private /tmp, its open files (the pool
    process bounds its memory and CPU time: worker/pool/kept_fit.py)."""
    if private_tmp:
        if temporary_space_half_used():
            return False
    elif served >= JOBS_WITHOUT_PRIVATE_TMP:
        return False
    return not descriptors_half_used()


def temporary_space_half_used(path: str = "/tmp") -> bool:
    """Whether files fill half the filesystem at `path` (the fit's private tmpfs, also its
    HOME and TMPDIR, /var/tmp and /dev/shm) or more."""
    try:
        space = os.statvfs(path)
    except OSError:
        return True  # cannot say: a fresh process for the next job
    if space.f_blocks == 0:  # a tmpfs of no set size: bounded by memory alone
        return False
    return space.f_bavail * 2 <= space.f_blocks


def descriptors_half_used() -> bool:
    """Whether this process holds half its soft limit of open files or more."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    try:
        held = len(os.listdir("/proc/self/fd"))
    except OSError:
        return True
    return soft != resource.RLIM_INFINITY and held * 2 >= soft


def _receive_job(fd: int) -> tuple[dict | None, bytes | None, bytes | None]:
    """The job, the checkpoint it resumes from (if it says one follows), its payload."""
    frame = frames.receive(fd)
    if frame is None:
        return None, None, None
    job = json.loads(frame[1])
    saved = frames.receive(fd, limit=1 << 32) if job.get("resume") else None
    payload = frames.receive(fd, limit=1 << 32)
    return job, (saved[1] if saved else None), (payload[1] if payload else None)


def _refuse(ends: ChildEnds, error: sandbox.SandboxError) -> int:
    """No sandbox, no fit: the job fails saying why, its payload unread."""
    job, _, _ = _receive_job(ends.job)
    if job is not None:
        Channel(ends.messages).outcome("failed", error=error_of(error))
    return 0


def _warm_up(job_waiting) -> None:
    """Run a tiny fit through the steps on a job's path to its result (decode, fit,
    summary) so that the pages they touch are this process's own before the job arrives.
    Nothing of it is sent; a failure here only leaves the spare cold."""
    try:
        rehearsal.rehearse(job_waiting, session=False)
    except Exception:  # noqa: BLE001, S110 - warming up is an optimisation, never an error
        pass


def pipes() -> tuple[tuple[int, int, int, int], ChildEnds]:
    """The four pipes of a spare: the forking side's ends (job to write; messages, stdout,
    stderr to read) and the spare's."""
    job_r, job_w = os.pipe()
    messages_r, messages_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(messages_r, _F_SETPIPE_SZ, MESSAGE_PIPE_BYTES)
    return (job_w, messages_r, stdout_r, stderr_r), ChildEnds(job_r, messages_w, stdout_w, stderr_w)
