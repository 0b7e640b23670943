"""Work over many jobs at once (a sweep's submit, results and cancel), run in threads so that
the IOLoop keeps serving everyone else meanwhile.

A request of 1,000 members is about a quarter of a second of Python in the server: each
member validated and given its Celery message, the create script's arguments packed, 1,000
records decoded. On the IOLoop that was one stall for every other request and WebSocket
(bench/submit_lag.py measures it). In a thread it still takes the GIL, but Python hands the
GIL back every few milliseconds (`sys.getswitchinterval`), so the IOLoop waits that long at
most. A single job's work stays on the IOLoop: a thread's hop would cost it more than it
holds the loop.

At most, that is, each time the IOLoop asks for the GIL, and a request asks at each of its
system calls (reading, writing, polling: about twenty), each time waiting out the switch
interval (5 ms) of a thread that only computes. So the members' loop of a batch takes turns with
it (`in_turns`): during a 1,000-member submit, the longest request of others took 100-150 ms
without, 13-25 ms with (bench/submit_lag.py, with the server's objects frozen out of the
full garbage collections: warm.py). The store's own loops (decoding records, a sweep's
reads) take no turns: the store's code is the worker's too.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import redis

from ..shared import redis_url
from ..shared.settings import WorkerSettings
from ..store import JobStore
from .fit_messages import FitMessages

R = TypeVar("R")
T = TypeVar("T")
# a thread's work between two offers of the GIL: a request, at ~20 system calls that each
# wait for the GIL, waits about 20 turns at most
TURN_SECONDS = 0.001
# seconds a reply may take: far above the longest script (a 1,000-member create, ~0.1 s)
SOCKET_TIMEOUT = 60.0


def in_turns(items: Iterable[T], turn: float = TURN_SECONDS) -> Iterator[T]:
    """`items`, with the GIL offered to the other threads (the IOLoop) after each `turn`
    seconds of work. `time.sleep(0)` hands it over (a thread waiting for it takes it) but
    costs ~70 µs; `os.sched_yield` costs 0.4 µs but the waiting thread seldom wins the GIL."""
    mark = time.perf_counter()
    for item in items:
        yield item
        now = time.perf_counter()
        if now - mark >= turn:
            time.sleep(0)
            mark = time.perf_counter()


class OffLoop:
    """Threads for work over many jobs: a sync store of their own, and a `FitMessages` per
    thread (it is not thread-safe)."""

    def __init__(self, settings: WorkerSettings, celery_app: Any, threads: int = 2):
        # its own connections (redis-py's sync pool is thread-safe), with the checks of the
        # server's asyncio client, and a bound on a reply: a Redis that stops answering
        # would hold a thread, and the server's exit, forever
        self.store = JobStore(
            redis.Redis.from_url(
                settings.redis_url,
                socket_timeout=SOCKET_TIMEOUT,
                **redis_url.SERVER_CLIENT_CHECKS,
            ),
            **settings.store_settings(),
        )
        self._celery_app = celery_app
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="bumps-bulk")
        self._local = threading.local()

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        """`fn(*args)` in one of the threads; its exception raised here."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def messages(self) -> FitMessages:
        """This thread's maker of fit messages (call it in one of the threads)."""
        made = getattr(self._local, "messages", None)
        if made is None:
            made = self._local.messages = FitMessages(self._celery_app)
        return made

    def close(self) -> None:
        """No more work taken; a call under way ends on its own (SOCKET_TIMEOUT bounds it)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.store.redis.close()
