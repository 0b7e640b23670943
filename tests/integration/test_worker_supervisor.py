"""The embedded server's WorkerSupervisor with real processes that die at once: each is
replaced under a name of its own, after pauses that double while replacements die young,
and the log says how each ended. (A real worker killed under a real Jupyter server:
tests/reliability/test_lost_workers.py.)"""

from __future__ import annotations

import asyncio
import logging
import re
import sys

from jupyter_bumps_remote.server_ext.embedded import WorkerSupervisor
from jupyter_bumps_remote.shared.settings import WorkerSettings

NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens: deleting an advertisement fails quietly


class DyingAtOnce(WorkerSupervisor):
    FIRST_PAUSE = 0.1

    def _command(self, name: str) -> list[str]:
        return [sys.executable, "-c", f"import sys; print({name!r}); sys.exit(3)"]


async def test_a_worker_that_keeps_dying_is_restarted_with_a_doubling_pause(caplog):
    caplog.set_level(logging.INFO)
    log = logging.getLogger("supervisor-test")
    supervisor = DyingAtOnce(WorkerSettings(redis_url=NOWHERE), 1, 0, log, check_interval=0.02)
    await supervisor.start()
    try:
        while len(re.findall("restarted as", caplog.text)) < 3:
            await asyncio.sleep(0.05)
    finally:
        await supervisor.stop()
    ended = [r.getMessage() for r in caplog.records if "exited with status 3" in r.getMessage()]
    pauses = [float(re.search(r"restarting it in ([\d.]+) s", m)[1]) for m in ended[:3]]
    assert pauses == [0.1, 0.2, 0.4]
    names = re.findall(r"restarted as (\S+) \(pid \d+\)", caplog.text)
    assert len(set(names)) == len(names) == 3  # a name per process
    assert all(re.fullmatch(r"embedded0\.[1-3]-\d+@.+", n) for n in names)
