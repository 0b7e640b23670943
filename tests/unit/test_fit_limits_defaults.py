"""A fit's limits are on by default, sized by the machine; `parallel` never exceeds its CPUs."""

from __future__ import annotations

import pytest

from jupyter_bumps_remote.shared import machine
from jupyter_bumps_remote.shared.fork_mapper import pool_size
from jupyter_bumps_remote.shared.settings import SettingsError, WorkerSettings


def test_the_default_limits_are_this_machines_not_none():
    settings = WorkerSettings()
    assert settings.max_memory_mb == machine.memory_mb() // 2 > 0
    assert settings.max_cpu_seconds == 12 * 3600 * machine.usable_cpus()
    assert settings.max_processes > machine.usable_cpus()
    # a child process given these settings gets the same numbers, not "automatic" again
    again = WorkerSettings.from_env(settings.to_env())
    assert again.max_memory_mb == settings.max_memory_mb


def test_zero_turns_a_limit_off_and_a_number_sets_it():
    settings = WorkerSettings.from_env(
        {"BUMPS_REMOTE_MAX_MEMORY_MB": "0", "BUMPS_REMOTE_MAX_PROCESSES": "50"}
    )
    assert settings.max_memory_mb == 0 and settings.max_processes == 50


def test_a_negative_limit_is_refused_naming_the_setting():
    with pytest.raises(SettingsError, match="BUMPS_REMOTE_MAX_CPU_SECONDS"):
        WorkerSettings.from_env({"BUMPS_REMOTE_MAX_CPU_SECONDS": "-5"})


def test_parallel_is_capped_at_the_cpus_this_process_may_use():
    cpus = machine.usable_cpus()
    assert pool_size(0) == cpus
    assert pool_size(1) == 1
    assert pool_size(cpus + 7) == cpus
