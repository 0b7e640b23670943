"""For the JupyterHub that spawns the users' servers: each server gets a Redis user fenced
to its owner's keys (docs/design.md#users-fenced-from-one-another-jupyterhub). Runs in the
hub's process, not in the servers'."""

from .spawn import RedisFence, fence_users

__all__ = ["RedisFence", "fence_users"]
