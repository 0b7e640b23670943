"""A fit process's stdout and stderr: /dev/null until its job arrives (sandbox.enter made
them so), then the job's output pipes, which its pool process reads (pool/output.py).

Python's side follows the descriptors: Celery's pool processes replace sys.stdout and
sys.stderr by loggers of the worker, and their log handlers write to the worker's log (a
descriptor that is /dev/null in the fit). Both are replaced here, so that print(), a C
library's write(1, ...) and logging all end up in the job's output.
"""

from __future__ import annotations

import io
import logging
import os
import sys


def detach() -> None:
    """Python's stdout and stderr on descriptors 1 and 2 (no longer the worker's log), and
    no log handler: logging's last resort writes to sys.stderr at the time of each record."""
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            logger.handlers.clear()
    sys.stdout, sys.stderr = _text(1), _text(2)


def connect(stdout_fd: int, stderr_fd: int) -> None:
    """The job's output pipes become this process's stdout and stderr."""
    for pipe, fd in ((stdout_fd, 1), (stderr_fd, 2)):
        os.dup2(pipe, fd)
        os.close(pipe)
    sys.stdout, sys.stderr = _text(1), _text(2)


def _text(fd: int) -> io.TextIOWrapper:
    # line-buffered: a model's progress lines go out as they are printed
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", line_buffering=True)
