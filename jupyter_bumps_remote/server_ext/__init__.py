"""The jupyter_server extension: REST + WebSocket job API, embedded Redis and workers."""

from .app import BumpsRemote

__all__ = ["BumpsRemote"]
