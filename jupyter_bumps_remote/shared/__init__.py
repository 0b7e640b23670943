"""Code every process imports: the kernel, the Jupyter server, the worker's processes, the CLI.

Nothing here holds a process's state or starts anything: job states and validation
(`jobs.py`), the settings read from `BUMPS_REMOTE_*` variables (`settings.py`), the Celery
task's name (`task_names.py`), the Redis URL rules (`redis_url.py`), environments and queue
names (`versions.py`), the payload format (`transport.py`, `encodings.py`, `by_value.py`,
`sameness.py`), bumps' moved names (`bumps_compat.py`), a result summary's JSON
(`fast_json.py`) and one fit as `bumps.fitters.fit` runs it (`fitting.py`, `fork_mapper.py`),
used by the fit process and by the kernel's local reproduction alike. Modules here import
nothing from `server_ext`, `worker`, `kernel` or `cli`.
"""
