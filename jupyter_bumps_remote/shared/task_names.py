"""The names of the Celery tasks: the server sends by name, the worker registers by name."""

FIT_TASK = "bumps_remote.fit"
