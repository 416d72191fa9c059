"""How ``aigc-gateway serve`` runs uvicorn: connection limits and a header-read deadline.

uvicorn bounds idle keep-alive connections and, with ``limit_concurrency``, answers 503
once too many are open, but a connection whose request line and headers trickle in a
byte at a time is held for as long as the sender likes — the app sees a request only
once its headers are complete, so no middleware can bound that. The protocols here add
the deadline nginx calls ``client_header_timeout``: from the connection (or the end of
the previous response) to the last header, else the connection is closed::

    uvicorn.run(app, host="127.0.0.1", port=8000, **uvicorn_options(settings.server))

Both of uvicorn's HTTP/1.1 implementations are covered (httptools when installed, h11
otherwise); they rely on the hooks of the uvicorn release pinned in ``pyproject.toml``.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import TYPE_CHECKING, Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.settings import ServerSettings

__all__ = ["header_deadline_protocol", "uvicorn_options"]


def uvicorn_options(server: ServerSettings) -> dict[str, Any]:
    """uvicorn's connection limits from ``settings.server``."""
    return {
        # Forwarded headers only from the proxies named; with none, the client is the
        # socket peer (uvicorn would otherwise believe anyone on 127.0.0.1).
        "proxy_headers": bool(server.forwarded_allow_ips),
        "forwarded_allow_ips": server.forwarded_allow_ips or None,
        "limit_concurrency": server.limit_concurrency,
        "timeout_keep_alive": server.timeout_keep_alive_s,
        "h11_max_incomplete_event_size": server.max_header_bytes,
        "http": header_deadline_protocol(server.header_read_timeout_s),
    }


if TYPE_CHECKING:

    class _UvicornHttp(asyncio.Protocol):
        """What the mixin's ``super()`` calls reach: the hooks both protocols share."""

        def on_response_complete(self) -> None: ...

else:
    _UvicornHttp = object


class _HeaderDeadline(_UvicornHttp):
    """Closes a connection whose next request's headers are not complete in time.

    Mixed in before uvicorn's protocol class, which each subclass names; that subclass
    adds the hook at which a request's headers are complete.
    """

    header_timeout_s: float
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    _header_timer: asyncio.TimerHandle | None = None

    # uvicorn's own connection_made narrows BaseTransport to Transport the same way.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


class _H11WithHeaderDeadline(_HeaderDeadline, H11Protocol):
    def handle_events(self) -> None:
        super().handle_events()
        # h11 leaves IDLE once a request's headers are parsed.
        if self.conn.their_state is not h11.IDLE:
            self._disarm_header_deadline()


def _httptools_protocol() -> type[asyncio.Protocol] | None:
    if importlib.util.find_spec("httptools") is None:
        return None
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HttpToolsWithHeaderDeadline(_HeaderDeadline, HttpToolsProtocol):
        def on_headers_complete(self) -> None:
            self._disarm_header_deadline()
            super().on_headers_complete()

    return HttpToolsWithHeaderDeadline


def header_deadline_protocol(timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's fastest HTTP/1.1 protocol, with the header-read deadline ``timeout_s``."""
    base = _httptools_protocol() or _H11WithHeaderDeadline
    return type(base.__name__, (base,), {"header_timeout_s": timeout_s})
