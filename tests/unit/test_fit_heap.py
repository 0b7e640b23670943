"""A fit process keeps the memory its model frees (worker/fit/heap.py): arrays of a MB made
and dropped at each evaluation cost no page faults once the thresholds are set."""

from __future__ import annotations

import subprocess
import sys

EVALUATIONS = """
import resource, sys
import numpy as np
from jupyter_bumps_remote.worker.fit.heap import keep_freed_heap
if sys.argv[1] == "kept":
    assert keep_freed_heap()
x = np.linspace(-6, 6, 400)[:, None] + np.linspace(-1, 1, 300)[None, :]  # 120,000 doubles
np.exp(-x**2).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    np.exp(-0.5 * ((x - 0.3) / 0.7) ** 2).sum()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", EVALUATIONS, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


def test_freed_arrays_are_reused_without_page_faults():
    # without: each evaluation faults its temporaries in afresh (hundreds of pages each)
    assert faults("default") > 20 * 200
    assert faults("kept") < 200
