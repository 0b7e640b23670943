"""A test identity provider: `Authorization: token user-<name>` is the user <name>.

jupyter_server's default provider gives one OS user per server; JupyterHub gives many.
This stands in for the hub so that the tests can act as several users at once.
"""

from __future__ import annotations

from jupyter_server.auth.identity import IdentityProvider, User

PREFIX = "token user-"


class TokenUsers(IdentityProvider):
    def get_user(self, handler):
        header = handler.request.headers.get("Authorization", "")
        if header.startswith(PREFIX) and len(header) > len(PREFIX):
            name = header[len(PREFIX) :]
            return User(username=name, name=name)
        return None

    def is_token_authenticated(self, handler) -> bool:
        """A token in the Authorization header, as JupyterHub's API tokens: jupyter_server
        then skips the XSRF and Origin checks that only cookie (browser) logins need."""
        return self.get_user(handler) is not None


def auth(user: str) -> dict:
    return {"Authorization": PREFIX + user}
