"""A fit's output folded from its events: both streams in arrival order, stderr apart,
the cut-off said, nothing at all for a job that printed nothing."""

from __future__ import annotations

from jupyter_bumps_remote.kernel.output import TRUNCATED_NOTE, Output, output_of


def output_event(stream: str, text: str, seq: int) -> dict:
    return {"id": f"{seq + 1}-0", "type": "output", "data": {"stream": stream, "text": text}}


def test_both_streams_in_arrival_order_a_run_of_one_stream_as_one_chunk():
    out = output_of(
        [
            output_event("stdout", "step 1\n", 0),
            {"id": "9-0", "type": "progress", "data": {"step": 1}},
            output_event("stdout", "step 2\n", 1),
            output_event("stderr", "warning\n", 2),
            output_event("stdout", "done", 3),
        ]
    )
    assert out.chunks == [
        ("stdout", "step 1\nstep 2\n"),
        ("stderr", "warning\n"),
        ("stdout", "done"),
    ]
    assert out.text == "step 1\nstep 2\nwarning\ndone"
    assert out.lines == 4
    assert '<span style="color:#c62828">warning\n</span>' in out.html()


def test_the_cut_off_is_said_on_a_line_of_its_own():
    out = output_of(
        [
            output_event("stdout", "x" * 100, 0),
            {
                "id": "2-0",
                "type": "output",
                "data": {"stream": "stderr", "text": "", "truncated": True},
            },
        ]
    )
    assert out.truncated and out.text == "x" * 100 + "\n" + TRUNCATED_NOTE + "\n"
    assert TRUNCATED_NOTE.replace("'", "&#x27;") in out.html()


def test_a_job_that_printed_nothing_has_no_output():
    out = output_of([{"id": "1-0", "type": "status", "data": {"status": "succeeded"}}])
    assert not out and out.text == "" and out.lines == 0
    assert not Output().add({"stream": "stdout", "text": ""})


def test_text_that_is_not_text_is_skipped_and_an_unknown_stream_counts_as_stderr():
    out = Output()
    assert not out.add({"stream": "stdout", "text": {"a": 1}})
    assert out.add({"stream": "stdin", "text": "odd"})
    assert out.chunks == [("stderr", "odd")]
