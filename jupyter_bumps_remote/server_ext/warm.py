"""The server's process made ready once its extension has started, in a thread: what the
first requests would otherwise pay for on the IOLoop.

- bumps' fitters are imported: the first submit's check of its fitter needs them, a second
  of imports (scipy's).
- Then what the process holds is frozen out of Python's full garbage collections
  (`gc.freeze`, after one collection so that no garbage pending then is frozen with it).
  Those collections walked every object of jupyter_server, bumps and scipy, 110-130 ms
  each, and a sweep's allocations set them off: a stall of every request
  (docs/design.md#a-sweeps-work-off-the-ioloop). Reference counting frees frozen objects
  as before; only a frozen object in a reference cycle that later becomes garbage stays.
  The worker freezes its own before it forks (worker/main/warm.py).
"""

from __future__ import annotations

import gc
import logging
import threading

from ..shared import jobs

log = logging.getLogger(__name__)
_lock = threading.Lock()
_done = False  # once per process: a second server (tests start many) finds it done


def settle() -> None:
    """Import bumps' fitters, then collect and freeze the heap, once per process
    (blocking: in a thread)."""
    global _done
    with _lock:
        if _done:
            return
        _done = True
    try:
        jobs.fitters()
    except Exception:  # noqa: BLE001 - the first submit imports them then, and says why
        log.exception("bumps-remote: bumps' fitters could not be imported ahead")
    gc.collect()
    gc.freeze()
