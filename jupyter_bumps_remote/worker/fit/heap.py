"""A fit process keeps the memory its model frees, instead of handing it back to the kernel
and faulting it in again on the next evaluation.

A model on a few hundred points seen through a resolution (bench/sweep_medium.py) makes
arrays of about 1 MB at each evaluation. glibc's malloc gives blocks that large their own
mmap, or returns the top of its heap to the kernel once 2 × its (adaptive) mmap threshold
is free there; either way the next evaluation touches fresh pages: about 34,000 minor page
faults per fit of 38 evaluations, 110 ms of CPU where the same fit takes 27 ms without them
(measured in docs/benchmarks.md#before-and-after-a-change). A long-lived process (a kernel)
ends up with adapted thresholds; a fit process, fresh for each job or a few, never does.
Fixed thresholds here: blocks below 32 MiB from the heap (glibc's own adaptive maximum), and
up to 64 MiB of free heap kept. The fit process's memory limit still bounds what it maps.
"""

from __future__ import annotations

import ctypes

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 64 * 1024 * 1024


def keep_freed_heap() -> bool:
    """Set the thresholds in this process; False where there is no glibc mallopt (musl,
    not Linux): the fit then runs as before, only slower."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
