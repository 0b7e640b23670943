"""The relay reads a fit's pipes in rounds of select(): a stream that the outcome's drain
closed during a round is not read again in the same round. Seen after a worker's link came
back mid-fit (tests/cluster/test_other_hosts.py): the relay, held up by Redis, found the
fit's outcome and its stdout's end in one round, and failed with KeyError."""

from __future__ import annotations

import json
import os
import subprocess

from jupyter_bumps_remote.worker.fit import frames
from jupyter_bumps_remote.worker.pool.relay import Relay
from jupyter_bumps_remote.worker.pool.spare import SpareFitProcess

from ..support.waiting import wait_until


class Recorder:
    """What the relay calls on the job's recorder, kept in a list."""

    def __init__(self):
        self.calls: list[str] = []
        self.has_result = self.finished = self.session_pending = self.discard = False

    def result(self, body):
        self.calls.append("result")
        self.has_result = True

    def outcome(self, body, cancel_reason):
        self.calls.append(json.loads(body)["outcome"])
        self.finished = True

    def output(self, events, patient=False):
        self.calls += [f"{e['stream']}: {e['text']}".strip() for e in events]

    def progress(self, body):
        self.calls.append("progress")


def test_a_round_with_the_outcome_and_the_end_of_stdout_reads_each_once():
    # a stand-in for the fit process, alive until the relay has read everything
    stand_in = subprocess.Popen(["sleep", "60"])
    pipes = [os.pipe() for _ in range(3)]
    (messages, to_messages), (stdout, to_stdout), (stderr, to_stderr) = pipes
    for fd in (messages, stdout, stderr):
        os.set_blocking(fd, False)
    try:
        # all of it written and closed before the relay's first select
        os.write(to_stdout, b"done\n")
        frames.send(to_messages, frames.RESULT, b'{"chisq": 1.0}')
        frames.send(to_messages, frames.OUTCOME, b'{"outcome": "completed"}')
        for fd in (to_messages, to_stdout, to_stderr):
            os.close(fd)
        process = SpareFitProcess(stand_in.pid, -1, messages, stdout, stderr)
        recorder = Recorder()
        relay = Relay(process, recorder, 1 << 20, 1 << 20)  # type: ignore[arg-type]
        relay.start()
        wait_until(lambda: "completed" in recorder.calls or relay.error, 10, "the outcome relayed")
        stand_in.kill()  # the relay ends when its fit process does
        assert relay.wait(10), "the relay did not end"
        assert relay.error is None, repr(relay.error)
        assert recorder.calls[0] == "result" and "completed" in recorder.calls
        assert any("done" in call for call in recorder.calls), recorder.calls
    finally:
        stand_in.kill()
        stand_in.wait()
        for fd in (messages, stdout, stderr):
            os.close(fd)
