"""One Redis URL for the job store and the Celery broker: TLS options, masking, errors.

A shared Redis is reached with one URL everywhere (server, workers, CLI), TLS options in
its query as redis-py and kombu both read them:
`rediss://user:password@host:6380/0?ssl_ca_certs=/etc/ssl/redis-ca.pem`.
"""

from __future__ import annotations

import ssl
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# redis-py checks certificates by default; kombu, given rediss:// without ssl_cert_reqs,
# warns and does not check them at all. Say it once so both sides check.
DEFAULT_CERT_REQS = "required"


def normalize(url: str) -> str:
    """The URL with `ssl_cert_reqs=required` added to a rediss:// URL that names none."""
    parts = urlsplit(url)
    if parts.scheme != "rediss":
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name == "ssl_cert_reqs" for name, _ in query):
        return url
    query.append(("ssl_cert_reqs", DEFAULT_CERT_REQS))
    return urlunsplit(parts._replace(query=urlencode(query, safe="/:")))


def masked(url: str) -> str:
    """The URL as logs and messages may show it: the password as `**`."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:**@{host}"))


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


def explain(exc: BaseException, url: str, setting: str, speaks_tls: bool = False) -> str:
    """What went wrong reaching Redis at `url`, and what to change (`setting` names where the
    URL is configured). Never shows the password. `speaks_tls`: a probe found that the
    server answers TLS (see `speaks_tls`)."""
    text = _describe(exc)
    where = masked(url)
    kind = classify(exc, url)
    if kind == "credentials":
        return (
            f"Redis at {where} refused the credentials ({text}): set the right user and "
            f"password in {setting} (redis://user:password@host:port/db)"
        )
    if kind == "tls":
        return (
            f"the TLS connection to Redis at {where} failed ({text}): give the CA that signed "
            f"the server's certificate in {setting} (…?ssl_ca_certs=/path/to/ca.pem) and a host "
            f"name the certificate names"
        )
    if kind == "permissions":
        return (
            f"the Redis user of {where} may not do what bumps-remote needs ({text}): grant it "
            f"its keys and Celery's pub/sub channels (ACL: `~* &* +@all`), or use another user "
            f"in {setting}"
        )
    if kind == "closed" and speaks_tls:
        return f"Redis at {where} accepts TLS only ({text}): use rediss:// in {setting}"
    message = f"the job store (Redis) at {where} is not reachable: {text}; retry when it is back"
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
