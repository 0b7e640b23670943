"""One Redis URL for the job store and the Celery broker: TLS options, masking, errors.

A shared Redis is reached with one URL everywhere (server, workers, CLI), TLS options in
its query as redis-py and kombu both read them:
`rediss://user:password@host:6380/0?ssl_ca_certs=/etc/ssl/redis-ca.pem`.
"""

from __future__ import annotations

import ssl
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit

# redis-py checks certificates by default; kombu, given rediss:// without ssl_cert_reqs,
# warns and does not check them at all. Say it once so both sides check.
DEFAULT_CERT_REQS = "required"
# The server's clients, asyncio and sync alike: a pooled connection idle for 2 s gets a PING
# before use. After a Redis restart its socket is dead, and redis-py retries single commands
# on it but not pipelines (a POST's first write was answered 503).
SERVER_CLIENT_CHECKS: dict = {"socket_connect_timeout": 5, "health_check_interval": 2}


def normalize(url: str) -> str:
    """The URL both libraries read alike: a user or password given in the query
    (`?password=…`, which redis-py accepts and kombu cannot parse beside its own) moved
    into `user:password@`, and `ssl_cert_reqs=required` added to a rediss:// URL that names
    none."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    credentials = {name: value for name, value in query if name in _CREDENTIALS}
    needs_reqs = parts.scheme == "rediss" and all(name != "ssl_cert_reqs" for name, _ in query)
    if not credentials and not needs_reqs:
        return url
    if credentials:
        query = [(name, value) for name, value in query if name not in _CREDENTIALS]
        parts = parts._replace(netloc=_with_credentials(parts, credentials))
    if needs_reqs:
        query.append(("ssl_cert_reqs", DEFAULT_CERT_REQS))
    return _unsplit(parts._replace(query=urlencode(query, safe="/:")))


_CREDENTIALS = ("username", "password")


def _with_credentials(parts: SplitResult, credentials: dict[str, str]) -> str:
    """The netloc with the query's user and password; the netloc's own win, as in redis-py
    (which reads both and prefers the netloc's)."""
    user = parts.username
    if user is None:
        user = quote(credentials.get("username", ""), safe="")
    password = parts.password
    if password is None and "password" in credentials:
        password = quote(credentials["password"], safe="")
    host = parts.netloc.rpartition("@")[2]
    userinfo = user + (f":{password}" if password is not None else "")
    return f"{userinfo}@{host}" if userinfo else host


def masked(url: str) -> str:
    """The URL as logs may show it: every password, in `user:password@` or in the query
    (`password`, `ssl_password`), as `**`. Never for a client: see `explain(detail=False)`."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not even a URL, and it may still hold a password
        return "<a Redis URL that does not parse>"
    if password:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username or ''}:**@{host}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any("password" in name.lower() for name, _ in query):
        hidden = [(n, "**" if "password" in n.lower() else v) for n, v in query]
        parts = parts._replace(query=urlencode(hidden, safe="/:*"))
    return _unsplit(parts)


def _unsplit(parts: SplitResult) -> str:
    """urlunsplit, but keeping the `//` of unix:///path (it drops it for schemes it does not
    know to have a host)."""
    url = f"{parts.scheme}://{parts.netloc}{parts.path}"
    url += f"?{parts.query}" if parts.query else ""
    return url + (f"#{parts.fragment}" if parts.fragment else "")


def classify(exc: BaseException, url: str) -> str:
    """`credentials`, `tls`, `permissions` (an ACL user not allowed enough): configuration
    errors that waiting will not cure; `closed` (the server dropped the connection: Redis
    going down, or a TLS-only server spoken to in plain text), or `unreachable`."""
    import redis.exceptions

    lowered = _describe(exc).lower()
    if _is_auth_error(exc, lowered):
        return "credentials"
    if _is_tls_error(exc, lowered):
        return "tls"
    if isinstance(exc, redis.exceptions.NoPermissionError) or "noperm" in lowered:
        return "permissions"
    if urlsplit(url).scheme == "redis" and any(
        s in lowered for s in ("closed by server", "reset by peer", "connection closed")
    ):
        return "closed"
    return "unreachable"


def explain(
    exc: BaseException, url: str, setting: str, speaks_tls: bool = False, detail: bool = True
) -> str:
    """What went wrong reaching Redis at `url`, and what to change (`setting` names where the
    URL is configured). Never shows a password. `speaks_tls`: a probe found that the
    server answers TLS (see `speaks_tls`). `detail=False`: the message for a client of the
    server, without the address, the user or the error's own text (which names the host)."""
    text = _describe(exc)
    where = f" at {masked(url)}" if detail else ""
    said = f" ({text})" if detail else ""
    kind = classify(exc, url)
    if kind == "credentials":
        return (
            f"Redis{where} refused the credentials{said}: set the right user and "
            f"password in {setting} (redis://user:password@host:port/db)"
        )
    if kind == "tls":
        return (
            f"the TLS connection to Redis{where} failed{said}: give the CA that signed "
            f"the server's certificate in {setting} (…?ssl_ca_certs=/path/to/ca.pem) and a host "
            f"name the certificate names"
        )
    if kind == "permissions":
        user = f"the Redis user of {masked(url)}" if detail else "the Redis user"
        return (
            f"{user} may not do what bumps-remote needs{said}: grant it "
            f"its keys and Celery's pub/sub channels (ACL: `~* &* +@all`), or use another user "
            f"in {setting}. A server whose Redis user is fenced to its owner's jobs "
            "(JupyterHub's fence_users) reaches no other owner's: leave c.BumpsRemote.owner "
            "unset there"
        )
    if kind == "closed" and speaks_tls:
        return f"Redis{where} accepts TLS only{said}: use rediss:// in {setting}"
    cause = f": {text}" if detail else ""
    message = f"the job store (Redis){where} is not reachable{cause}; retry when it is back"
    if kind == "closed":
        message += f"; if it accepts TLS only, use rediss:// in {setting}"
    return message


def speaks_tls(url: str, timeout: float = 2.0) -> bool:
    """Whether the server at the URL's host and port completes a TLS handshake (nothing is
    checked or sent: only to tell a TLS-only Redis from one that is going down)."""
    import socket

    parts = urlsplit(url)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout) as raw:
            with context.wrap_socket(raw):
                return True
    except (OSError, ValueError):
        return False


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.rstrip(".")


def _is_auth_error(exc: BaseException, lowered: str) -> bool:
    import redis.exceptions

    if isinstance(exc, redis.exceptions.AuthenticationError):
        return True
    return any(s in lowered for s in ("noauth", "wrongpass", "invalid username-password"))


def _is_tls_error(exc: BaseException, lowered: str) -> bool:
    seen: BaseException | None = exc
    while seen is not None:  # redis-py wraps the ssl error in its ConnectionError
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return any(s in lowered for s in ("ssl", "certificate", "tls"))
