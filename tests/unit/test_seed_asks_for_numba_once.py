"""A fit's seeding asks whether numba imports once per process (shared/fitting.py): where it
is not installed, each failed `import numba` searched sys.path again, at every fit."""

from __future__ import annotations

import sys

import numpy as np

from jupyter_bumps_remote.shared.fitting import seed_fit


class SearchesSeen:
    """A finder that finds nothing and notes what the import system searched for."""

    def __init__(self):
        self.names: list[str] = []

    def find_spec(self, name, path=None, target=None):
        self.names.append(name)
        return None


def test_seeding_again_searches_for_nothing():
    seed_fit(1)
    seen = SearchesSeen()
    sys.meta_path.insert(0, seen)
    try:
        seed_fit(2)
        drawn = np.random.random()
    finally:
        sys.meta_path.remove(seen)
    assert seen.names == []
    np.random.seed(2)
    assert np.random.random() == drawn  # and numpy's generator is still seeded
