"""`in_turns` (server_ext/off_loop.py): a thread's long loop offers the GIL as it goes. What
the offers do for other requests is a figure, not a test: bench/submit_lag.py."""

from __future__ import annotations

from jupyter_bumps_remote.server_ext.off_loop import in_turns


def test_every_item_comes_once_in_order_whatever_the_turn():
    for turn in (0.0, 0.001, 60.0):
        assert list(in_turns(range(1000), turn=turn)) == list(range(1000))
