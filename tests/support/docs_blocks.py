"""The fenced code blocks of README.md and docs/*.md, and what each says about running
(the convention: tests/kernel/test_docs_code.py's docstring)."""

from __future__ import annotations

import re
from pathlib import Path

from .services import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(.*)$")
RUN = {"python", "sh"}
NOT_RUN = {"text"}


def blocks(page: Path) -> list[tuple[int, str, str]]:
    """(line, info string, code) of each fenced block; fences are at the line start."""
    found, info, start, lines = [], None, 0, []
    for number, line in enumerate(page.read_text().splitlines(), 1):
        fence = FENCE.match(line)
        if fence and info is None:
            info, start, lines = fence.group(1).strip(), number, []
        elif fence:
            found.append((start, info, "\n".join(lines)))
            info = None
        elif info is not None:
            lines.append(line)
    assert info is None, f"{page.name}:{start}: a code block is not closed"
    return found


def kind(info: str) -> str:
    words = info.split()
    if not words:
        return "bare"
    if "no-run" in words[1:] or words[0] in NOT_RUN:
        return "skip"
    return words[0] if words[0] in RUN else "unknown"


def required_library(info: str) -> str | None:
    """LIB of a ```python requires=LIB block, else None."""
    for word in info.split()[1:]:
        if word.startswith("requires="):
            return word.split("=", 1)[1]
    return None


def page_id(page: Path) -> str:
    return str(page.relative_to(REPO))
