"""The pool process's side of a fit's pipes, on real pipes and no worker: frames capped on
their header, output coalesced, chunked, capped and decoded across reads."""

from __future__ import annotations

import json
import os

import pytest

from jupyter_bumps_remote.worker.fit import frames
from jupyter_bumps_remote.worker.fit.channel import Channel
from jupyter_bumps_remote.worker.pool.output import OutputCapture


@pytest.fixture
def pipe():
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    yield read_end, write_end
    for fd in (read_end, write_end):
        try:
            os.close(fd)
        except OSError:
            pass


def test_frames_arrive_whole_however_the_pipe_cuts_them(pipe):
    read_end, write_end = pipe
    reader = frames.FrameReader(read_end, lambda kind: 1000)
    data = frames.HEADER.pack(frames.PROGRESS, 5) + b"hello" + frames.HEADER.pack(frames.RESULT, 2)
    got = []
    for i in range(len(data)):  # a byte at a time
        os.write(write_end, data[i : i + 1])
        got += reader.read()
    assert got == [(frames.PROGRESS, bytearray(b"hello"))]
    os.write(write_end, b"{}")
    assert reader.read() == [(frames.RESULT, bytearray(b"{}"))]
    os.close(write_end)
    assert reader.read() == [] and reader.ended


def test_a_frame_over_its_cap_is_refused_on_its_header(pipe):
    read_end, write_end = pipe
    reader = frames.FrameReader(read_end, lambda kind: 10 if kind == frames.SESSION else 100)
    os.write(write_end, frames.HEADER.pack(frames.SESSION, 11))
    with pytest.raises(frames.ProtocolError) as refused:
        reader.read()
    assert (refused.value.kind, refused.value.size) == (frames.SESSION, 11)
    os.write(write_end, frames.HEADER.pack(b"Z", 1))
    with pytest.raises(frames.ProtocolError, match="unknown kind"):
        frames.FrameReader(read_end, lambda kind: 100).read()


def test_send_and_receive_round_trip_a_large_body():
    read_end, write_end = os.pipe()
    body = os.urandom(3 * 65536 + 7)
    if os.fork() == 0:  # a writer that blocks until the reader has read
        os.close(read_end)
        frames.send(write_end, frames.PAYLOAD, body)
        os._exit(0)
    os.close(write_end)
    assert frames.receive(read_end, limit=len(body)) == (frames.PAYLOAD, body)
    assert frames.receive(read_end) is None
    os.close(read_end)
    os.wait()


def test_small_writes_are_coalesced_until_due_or_the_other_stream_writes():
    out = OutputCapture(limit=10_000)
    out.feed("stdout", b"a", 0.0)
    out.feed("stdout", b"b", 0.1)
    assert out.take(0.15) == [] and out.due_in(0.15) == pytest.approx(0.05)
    out.feed("stderr", b"!", 0.16)  # stdout goes out first, in the order read
    assert out.take(0.17) == [{"stream": "stdout", "text": "ab", "seq": 0}]
    assert out.take(0.4) == [{"stream": "stderr", "text": "!", "seq": 1}]
    assert out.due_in(0.5) is None


def test_chunks_of_8_kib_and_characters_cut_between_reads():
    out = OutputCapture(limit=100_000)
    snow = "☃".encode()
    out.feed("stdout", b"x" * 8191 + snow[:1], 0.0)  # the chunk ends inside the character
    out.feed("stdout", snow[1:] + b"\xff", 0.0)
    events = out.take(1.0, everything=True)
    assert [e["text"] for e in events] == ["x" * 8191, "☃\ufffd"]


def test_the_cap_cuts_once_with_one_truncated_event():
    out = OutputCapture(limit=10)
    out.feed("stdout", b"0123456", 0.0)
    out.feed("stderr", b"789abc", 0.0)
    out.feed("stdout", b"more", 0.0)
    events = out.take(1.0, everything=True)
    assert events == [
        {"stream": "stdout", "text": "0123456", "seq": 0},
        {"stream": "stderr", "text": "789", "seq": 1},
        {"stream": "stderr", "text": "", "truncated": True, "seq": 2},
    ]
    assert out.used == 10


def test_an_end_and_its_recipe_arrive_in_one_read(pipe):
    """The fit sends a deferred session's recipe with its outcome, in one write: the pool
    process then stores the job's end and the recipe in one round trip."""
    read_end, write_end = pipe
    reader = frames.FrameReader(read_end, lambda kind: 1000)
    recipe = {"version": 1, "x": [1.0], "convergence": [[float("nan")]], "method": "lm"}
    Channel(write_end).outcome("completed", recipe=recipe)
    (outcome_kind, outcome), (recipe_kind, sent) = reader.read()
    assert (outcome_kind, recipe_kind) == (frames.OUTCOME, frames.RECIPE)
    assert json.loads(outcome)["outcome"] == "completed"
    assert sent == b'{"version":1,"x":[1.0],"convergence":[[NaN]],"method":"lm"}'
