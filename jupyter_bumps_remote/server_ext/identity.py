"""Who owns a job: a name that stays the same across server restarts.

`c.BumpsRemote.owner`, when set, wins: for servers that share one OS user. Else, under
JupyterHub (or any identity provider that knows users) it is the user's name. With
jupyter_server's default provider a token or password login yields a random anonymous
name per server start, which would orphan every job at restart: there the server runs
for one OS user, so that user owns the jobs.
"""

from __future__ import annotations

import getpass
import os

from jupyter_server.auth.identity import IdentityProvider


def owner_of(handler) -> str:
    configured = getattr(handler.extensionapp, "owner", "")
    if configured:
        return configured
    if _is_builtin(handler.identity_provider):
        return os.environ.get("JUPYTERHUB_USER") or _os_user()
    return handler.current_user.username


def _is_builtin(provider) -> bool:
    """jupyter_server's own providers (token, password) know no stable user names."""
    return type(provider).__module__ == IdentityProvider.__module__


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers): the uid is stable too
        return f"uid-{os.getuid()}"
