"""The names of the Celery tasks: the server sends by name, the worker registers by name."""

FIT_TASK = "bumps_remote.fit"
# the build of a session file on request (args: job id, owner, build token), sent on the
# worker's build queue (shared/versions.py build_queue_name)
BUILD_TASK = "bumps_remote.session"
