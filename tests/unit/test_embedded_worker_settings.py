"""The server's own settings reach the workers it starts (embedded mode)."""

from __future__ import annotations

from jupyter_bumps_remote.server_ext.app import BumpsRemote
from jupyter_bumps_remote.shared.settings import ENV_PREFIX


def test_reconcile_interval_reaches_embedded_workers():
    # embedded workers sweep for lost jobs as the server does: one setting, one pace
    app = BumpsRemote(reconcile_interval=7.5)
    settings = app.worker_settings("redis://127.0.0.1:1/0")
    assert settings.reconcile_interval == 7.5
    assert settings.to_env()[f"{ENV_PREFIX}RECONCILE_INTERVAL"] == "7.5"


def test_reconcile_off_stays_off_for_embedded_workers():
    app = BumpsRemote(reconcile_interval=0)
    assert app.worker_settings("redis://127.0.0.1:1/0").reconcile_interval == 0
