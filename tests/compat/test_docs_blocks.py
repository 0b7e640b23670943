"""The docs' ```python requires=LIB blocks (reproductions that need refl1d or sasmodels), run
as a user would paste them into a plain Python, in each environment that has LIB."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ..support.docs_blocks import PAGES, blocks, page_id, required_library
from ..support.libraries import require

BLOCKS = [
    (page, line, info, code)
    for page in PAGES
    for line, info, code in blocks(page)
    if info.split()[:1] == ["python"] and required_library(info)
]


def test_some_docs_blocks_need_a_model_library():
    assert BLOCKS, "no ```python requires=LIB block left: drop this test file"


@pytest.mark.parametrize(
    "page, line, info, code", BLOCKS, ids=[f"{page_id(b[0])}:{b[1]}" for b in BLOCKS]
)
def test_block_runs(page, line, info, code, tmp_path):
    require(required_library(info))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{page_id(page)}:{line} failed:\n{done.stdout}\n{done.stderr}"
