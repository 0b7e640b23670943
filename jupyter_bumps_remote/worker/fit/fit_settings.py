"""The part of the worker's settings a fit process is given: nothing of Redis."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ...shared.settings import WorkerSettings


@dataclass(frozen=True)
class FitSettings:
    progress_interval: float = 0.1
    max_memory_mb: int = 0
    max_cpu_seconds: int = 0
    max_processes: int = 0
    max_session_bytes: int = WorkerSettings.max_session_bytes
    checkpoint_interval: float = WorkerSettings.checkpoint_interval

    @classmethod
    def of(cls, settings: WorkerSettings) -> FitSettings:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})
