"""What keeps an idle worker's memory shared
(docs/design.md#one-fit-one-forked-process-forked-ahead): a spare's rehearsal only decodes,
as a job's fit process does, the payload the launcher encoded in its warm-up; the main
process freezes its heap before the pool forks, with what it and its pool processes would
import after the fork already imported."""

from __future__ import annotations

import json
import subprocess
import sys

from jupyter_bumps_remote.shared import transport
from jupyter_bumps_remote.worker.fit import rehearsal


def test_a_spares_rehearsal_decodes_the_payload_its_launcher_encoded(monkeypatch):
    rehearsal.rehearse(session=False)  # the launcher's warm-up, before it forks spares
    payload = rehearsal.tiny_payload()

    def encode(problem):
        raise AssertionError("a spare encoded a problem")

    monkeypatch.setattr(transport, "encode", encode)
    rehearsal.rehearse(session=False)  # a spare's, forked after it
    assert rehearsal.tiny_payload() is payload
    # JSON bytes, as a job's payload comes down its pipe: the tiny problem's two parameters
    assert transport.decode(payload).labels() == ["a", "b"]


BEFORE_FORK = """
import gc, json, sys
from jupyter_bumps_remote.worker.main import warm
assert gc.get_freeze_count() == 0
warm.before_fork()
missing = [name for name in warm.AFTER_FORK if name not in sys.modules]
# what the fit launcher imports for the fits, and the main process not at all
fitters = [name for name in ("bumps.fitters", "scipy", "h5py") if name in sys.modules]
print(json.dumps({"frozen": gc.get_freeze_count(), "missing": missing, "fitters": fitters}))
"""


def test_the_main_process_imports_what_comes_after_the_fork_and_freezes_its_heap():
    # in a process of its own: frozen objects stay frozen for good
    out = subprocess.run(
        [sys.executable, "-c", BEFORE_FORK], capture_output=True, text=True, check=True
    )
    found = json.loads(out.stdout)
    assert found["frozen"] > 10_000
    assert found["missing"] == []
    # the heartbeat's fitters come from the fit launcher (worker/main/fit_launcher.py)
    assert found["fitters"] == []
