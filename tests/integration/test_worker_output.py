"""A fit's stdout and stderr, Python's and C's, reach its job's event stream as `output`
events: in order, capped, and before the job's end."""

from __future__ import annotations

from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.shared.settings import WorkerSettings

from ..support.talking_models import output_events, printed, talking_problem


def test_print_and_c_level_writes_arrive_in_order_before_the_status(remote):
    job = remote.submit(talking_problem("speak"), "lm")
    assert remote.wait(job["id"])["status"] == jobs.SUCCEEDED
    assert printed(remote, job["id"]) == ("python line 1\nC-level line\npython line 2\ncafé ☃\n")
    assert printed(remote, job["id"], "stderr") == "to stderr\n"
    events = remote.events(job["id"])
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "status" and "output" not in kinds[kinds.index("status", 2) :]
    seqs = [e["seq"] for e in output_events(remote, job["id"])]
    assert seqs == list(range(len(seqs)))
    # the owner's stream (the sidebar's) carries none of it
    owner = remote.store.events(remote.owner, None)
    assert not [e for e in owner if e["type"] == "output"]


def test_c_stdio_buffers_are_flushed_before_the_end(remote):
    job = remote.submit(talking_problem("printf"), "lm")
    assert remote.wait(job["id"])["status"] == jobs.SUCCEEDED
    assert printed(remote, job["id"]) == "from printf\n"


def test_output_past_the_limit_is_cut_with_one_truncated_event(remote):
    limit = WorkerSettings.output_limit
    job = remote.submit(talking_problem("flood", FLOOD_BYTES=limit + 300_000), "lm")
    assert remote.wait(job["id"])["status"] == jobs.SUCCEEDED
    events = output_events(remote, job["id"])
    assert events[-1] == {"stream": "stderr", "text": "", "truncated": True, "seq": len(events) - 1}
    assert [e for e in events if e.get("truncated")] == [events[-1]]
    text = "".join(e["text"] for e in events)
    assert len(text.encode()) == limit and set(text) == {"y", "\n"}
    # chunked: at most 8 KiB an event
    assert max(len(e["text"].encode()) for e in events) <= 8192
    assert len(events) >= limit // 8192
