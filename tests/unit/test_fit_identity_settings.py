"""Who a fit runs as and what it may read are worker settings (BUMPS_REMOTE_FIT_USER,
…_FIT_UID_BASE, …_FIT_READABLE_PATHS) that reach the fit's sandbox; bad values are refused
naming the setting."""

from __future__ import annotations

import pytest

from jupyter_bumps_remote.shared.settings import SettingsError, WorkerSettings
from jupyter_bumps_remote.worker.pool.spare import sandbox_settings


def test_the_settings_reach_the_sandbox():
    settings = WorkerSettings.from_env(
        {
            "BUMPS_REMOTE_FIT_USER": "nobody",
            "BUMPS_REMOTE_FIT_UID_BASE": "100000",
            "BUMPS_REMOTE_FIT_READABLE_PATHS": "/srv/data:/opt/models",
        }
    )
    confinement = sandbox_settings(settings)
    assert confinement.fit_user == "nobody"
    assert confinement.fit_uid_base == 100000
    assert confinement.readable_paths[-2:] == ("/srv/data", "/opt/models")


def test_by_default_each_fit_has_a_uid_of_its_own():
    confinement = sandbox_settings(WorkerSettings())
    assert confinement.fit_user is None
    assert confinement.fit_uid_base == 1_900_000_000


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("BUMPS_REMOTE_FIT_USER", "root", "never run as root"),
        ("BUMPS_REMOTE_FIT_USER", "0", "never run as root"),
        ("BUMPS_REMOTE_FIT_UID_BASE", "0", "above 0"),
        ("BUMPS_REMOTE_FIT_UID_BASE", str(2**31 - 1), "below 2^31"),
        ("BUMPS_REMOTE_FIT_READABLE_PATHS", "/srv/data:relative/dir", "'relative/dir'"),
    ],
)
def test_a_bad_value_is_refused_naming_the_setting(variable, value, says):
    with pytest.raises(SettingsError, match=variable) as refused:
        WorkerSettings.from_env({variable: value})
    assert says in str(refused.value)
