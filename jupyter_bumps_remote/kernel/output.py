"""A fit's captured output, folded from its `output` events (docs/design.md#events-to-websockets).

Each event carries `{"stream": "stdout" | "stderr", "text": ..., "seq": n}`; a job whose
output reached the worker's cap ends with `{"stream": "stderr", "text": "", "truncated": true}`.
Both streams are kept in arrival order, a run of one stream as one chunk, so that the live
panel can show stderr apart and `job.output` can give the whole text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

TRUNCATED_NOTE = "[output cut off here: it reached the worker's limit of captured output per job]"
STDERR_COLOUR = "#c62828"


class Output:
    def __init__(self) -> None:
        self.chunks: list[tuple[str, str]] = []  # (stream, text)
        self.truncated = False

    def add(self, data: dict) -> bool:
        """Fold in one output event's data; False if it changed nothing."""
        truncated = self.truncated or data.get("truncated") is True
        changed = truncated != self.truncated
        self.truncated = truncated
        text = data.get("text")
        if not isinstance(text, str) or not text:
            return changed
        # anything but stdout is shown as stderr: a stream we do not know is no less suspect
        stream = "stdout" if data.get("stream") == "stdout" else "stderr"
        if self.chunks and self.chunks[-1][0] == stream:
            self.chunks[-1] = (stream, self.chunks[-1][1] + text)
        else:
            self.chunks.append((stream, text))
        return True

    def __bool__(self) -> bool:
        return bool(self.chunks) or self.truncated

    @property
    def lines(self) -> int:
        return len("".join(chunk for _, chunk in self.chunks).splitlines())

    @property
    def text(self) -> str:
        """Both streams as they came; the note last where the worker cut the output off."""
        text = "".join(chunk for _, chunk in self.chunks)
        if self.truncated:
            text += ("\n" if text and not text.endswith("\n") else "") + TRUNCATED_NOTE + "\n"
        return text

    def html(self) -> str:
        """A scrolling <pre>, stderr in red; every character of the fit's text escaped."""
        spans = "".join(
            f'<span style="color:{STDERR_COLOUR}">{html.escape(text)}</span>'
            if stream == "stderr"
            else html.escape(text)
            for stream, text in self.chunks
        )
        note = f"<p><i>{html.escape(TRUNCATED_NOTE)}</i></p>" if self.truncated else ""
        return (
            '<pre style="max-height:240px;overflow:auto;white-space:pre-wrap;margin:0">'
            f"{spans}</pre>{note}"
        )


def output_of(events: Iterable[dict]) -> Output:
    """The output in a job's events (other events are skipped)."""
    output = Output()
    for event in events:
        if event.get("type") == "output" and isinstance(event.get("data"), dict):
            output.add(event["data"])
    return output
