"""`job.output` against a real server: the job's events replayed up to now, for an ended job
and for a running one (whose socket would follow it for ever: the replay must end)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from jupyter_bumps_remote.kernel.output import TRUNCATED_NOTE
from jupyter_bumps_remote.shared import jobs

from ..support.problems import gaussian_problem

DEADLINE = 30  # s for one read of job.output; it takes milliseconds


def emit(store, job, stream: str, text: str, **extra) -> None:
    """An output event in the job's stream, as the worker writes it."""
    data = {"stream": stream, "text": text, **extra}
    key = store.keys.events(job.record["owner"], job.id)
    store.redis.xadd(key, {"type": "output", "data": json.dumps(data)})


def read_output(job) -> str:
    """job.output, failing the test rather than hanging if the replay never ends."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: job.output).result(timeout=DEADLINE)


def test_an_ended_job_gives_all_its_output(api_client, store):
    job = api_client.submit(gaussian_problem(), "lm")
    job.wait(timeout=60)
    before = read_output(job)
    emit(store, job, "stdout", "chisq 1.5\n", seq=0)
    emit(store, job, "stderr", "RuntimeWarning: overflow\n", seq=1)
    emit(store, job, "stdout", "done\n", seq=2)
    assert read_output(job) == before + "chisq 1.5\nRuntimeWarning: overflow\ndone\n"
    emit(store, job, "stderr", "", truncated=True)
    assert read_output(job) == before + (
        "chisq 1.5\nRuntimeWarning: overflow\ndone\n" + TRUNCATED_NOTE + "\n"
    )


def test_a_running_job_gives_its_output_so_far_and_more_later(api_client, store):
    job = api_client.submit(gaussian_problem(), "dream", steps=100_000, burn=10)
    try:
        for event in job.events(timeout=60):
            if event["type"] == "progress":
                break  # running, and its stream goes on growing while we read
        emit(store, job, "stdout", "first line\n", seq=0)
        started = time.monotonic()
        first = read_output(job)
        took = time.monotonic() - started
        assert first.endswith("first line\n"), first
        emit(store, job, "stdout", "second line\n", seq=1)
        assert read_output(job).endswith("first line\nsecond line\n")
        assert job.status == jobs.RUNNING, "the fit ended before the test could read it running"
        print(f"job.output of a running job took {took * 1000:.0f} ms")
    finally:
        job.cancel()
        job.wait(timeout=60)


def test_a_replay_longer_than_one_read_of_the_stream_ends_after_its_last_event(api_client, store):
    # the server replays in batches of 500, awaiting Redis between them: the ping that marks
    # the end must still come after the last one
    job = api_client.submit(gaussian_problem(), "lm")
    job.wait(timeout=60)
    before = read_output(job)
    key = store.keys.events(job.record["owner"], job.id)
    pipe = store.redis.pipeline(transaction=False)
    for i in range(1500):
        data = json.dumps({"stream": "stdout", "text": f"{i}\n", "seq": i})
        pipe.xadd(key, {"type": "output", "data": data})
    pipe.execute()
    assert read_output(job) == before + "".join(f"{i}\n" for i in range(1500))
