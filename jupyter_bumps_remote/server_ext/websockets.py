"""WebSockets: one job's events, or every status event of the user's jobs.

A client that reconnects with `?since=<last id seen>` gets exactly what it missed: events
are read from Redis streams (replay, then the server's one EventHub reader), never pub/sub.
Protocol pings (WebSocketMixin) keep idle proxies from cutting the connection.
"""

from __future__ import annotations

import re

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web, websocket

from ..shared import jobs
from .event_hub import Subscriber
from .handlers import AUTH_RESOURCE, extension_of
from .identity import owner_of
from .redis_errors import REDIS_ERRORS

_STREAM_ID = re.compile(r"^(0|\d{1,20}-\d{1,20})$")


class EventsSocket(
    ExtensionHandlerMixin, WebSocketMixin, JupyterHandler, websocket.WebSocketHandler
):
    auth_resource = AUTH_RESOURCE
    subscriber: Subscriber | None = None

    def write_error(self, status_code: int, **kwargs) -> None:
        """A refused handshake answers like the REST routes: JSON {message, reason}."""
        APIHandler.write_error(self, status_code, **kwargs)  # pyright: ignore[reportArgumentType]

    @ws_authenticated
    async def get(self, job_id: str | None = None):
        # tornado checks the Origin only in its own get(), after ours has looked the job up
        # in Redis: a foreign page could tell a job that exists (403 later) from one that
        # does not (404), or make the server watch an owner. So check it first.
        if self._foreign_origin():
            raise web.HTTPError(403, "Cross origin websockets not allowed")
        user = self.current_user
        if not await ensure_async(self.authorizer.is_authorized(self, user, "read", AUTH_RESOURCE)):
            raise web.HTTPError(403)
        app = extension_of(self)
        service = app.service
        if service is None:
            raise web.HTTPError(503, app.unavailable_reason)
        self.owner = owner_of(self)
        service.reconcile.watch(self.owner)
        self.job_id = job_id
        self.since = self.get_query_argument("since", "0")
        if not _STREAM_ID.match(self.since):
            raise web.HTTPError(400, "since: must be an event id like 1700000000000-0, or 0")
        if job_id is not None:
            if not jobs.is_job_id(job_id):
                raise web.HTTPError(404, "no such job")
            try:
                record = await service.store.get(self.owner, job_id)
            except REDIS_ERRORS as e:
                self.log.warning("bumps-remote: %s", service.explain(e, detail=True))
                raise web.HTTPError(503, service.explain(e)) from e
            if record is None:
                raise web.HTTPError(404, "no such job")
        result = super().get(job_id) if job_id is not None else super().get()
        if result is not None:
            await result

    def _foreign_origin(self) -> bool:
        """What tornado's get() will refuse as cross-origin, with jupyter_server's rules
        (`check_origin`: the server's host, `allow_origin`, `allow_origin_pat`)."""
        tornados_check = getattr(self, "_check_cross_origin", None)  # tornado 6.6 has it, 6.5 not
        if tornados_check is not None:  # also reads Sec-Fetch-Site
            return tornados_check(self.check_origin) is not None
        headers = self.request.headers  # as tornado's get() did before
        origin = (
            headers.get("Origin") if "Origin" in headers else headers.get("Sec-Websocket-Origin")
        )
        return origin is not None and not self.check_origin(origin)

    async def open(self, *args, **kwargs):
        super().open(*args, **kwargs)  # WebSocketMixin starts the keep-alive pings here
        service = extension_of(self).service
        if service is None:  # the extension stopped since get() accepted the handshake
            self.close(1011, "the bumps-remote extension stopped; reconnect later")
            return
        try:
            self.subscriber = await service.hub.subscribe(
                self.owner, self.job_id, self.since, self._send
            )
        except REDIS_ERRORS:
            self.close(1011, "the job store (Redis) is not reachable; reconnect later")

    def on_message(self, message):
        """Clients only listen; anything they send is ignored."""

    def on_close(self):
        service = extension_of(self).service
        if self.subscriber is not None and service is not None:
            service.hub.unsubscribe(self.subscriber)

    def _send(self, text: str) -> None:
        try:
            self.write_message(text)
        except websocket.WebSocketClosedError:
            self.on_close()
