"""BUMPS_REMOTE_TASK_EVENTS: Celery's task events only when asked for, on a worker's and a
server's app alike (docs/workers.md#task-events)."""

from __future__ import annotations

import pytest

from jupyter_bumps_remote.server_ext.app import BumpsRemote
from jupyter_bumps_remote.shared.settings import ENV_PREFIX, SettingsError, WorkerSettings
from jupyter_bumps_remote.worker import make_app

NAME = f"{ENV_PREFIX}TASK_EVENTS"
URL = "redis://127.0.0.1:1/0"


def test_task_events_are_off_by_default():
    conf = make_app(WorkerSettings.from_env({}, redis_url=URL)).conf
    assert conf.worker_send_task_events is False
    assert conf.task_send_sent_event is False


@pytest.mark.parametrize(
    ("raw", "on"),
    [("1", True), ("true", True), ("On", True), ("yes", True), ("True", True)]
    + [("0", False), ("false", False), ("off", False), ("no", False), ("False", False)],
)
def test_the_variable_spells_a_boolean_out(raw, on):
    # bool("0") would be True: each spelling is read as meant
    settings = WorkerSettings.from_env({NAME: raw}, redis_url=URL)
    assert settings.task_events is on
    conf = make_app(settings).conf
    assert conf.worker_send_task_events is on and conf.task_send_sent_event is on


def test_a_value_that_is_no_boolean_is_refused_naming_the_variable():
    with pytest.raises(SettingsError, match=NAME):
        WorkerSettings.from_env({NAME: "sometimes"}, redis_url=URL)


def test_the_setting_reaches_a_child_process_and_a_server(monkeypatch):
    on = WorkerSettings(redis_url=URL, task_events=True)
    assert WorkerSettings.from_env(on.to_env()).task_events is True  # embedded workers
    # a server takes it from its environment, as every setting no traitlet covers
    monkeypatch.setenv(NAME, "1")
    assert BumpsRemote().worker_settings(URL).task_events is True
