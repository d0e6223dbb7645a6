"""The web app under uvicorn: `serve(app, host, port, head_timeout_s)` (`callscope serve`).

uvicorn answers a few requests itself, before the app sees them, and offers no hook for
those answers. `SecureH11Protocol` (uvicorn's own h11 protocol, which `serve` names, so no
other parser is picked up when one happens to be installed) closes two gaps:

- a request uvicorn cannot parse (a garbage request line, bytes a header may not hold, a bad
  Content-Length, ...) gets uvicorn's plain 400; here it carries the app's security headers
  and a Content-Length, like everything the app answers (web/app.py, `SecurityHeaders`);
- uvicorn waits for a request's line and headers as long as a client likes: here a
  connection that has not sent a whole request head `head_timeout_s` after it opened, or after
  it started sending the next one, is closed, so stalled clients cannot hold connections;
- uvicorn logs a warning for every request it cannot parse: here at most one every 10 s,
  with how many there were, so a flood of them fills no log.

uvicorn's other answers of its own never happen: its 500 only for an app that fails before
it answers (the app answers every unexpected error itself), its 503 only under
`limit_concurrency` (not set). Should a later uvicorn drop the overridden method, its own
plain 400 comes back: tests/test_web_load.py checks the headers on a real server.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import h11
from callscope.web.app import secure_headers
from callscope.web.pressure import RefusalLog
from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_HEAD_TIMEOUT_S = 10.0
_LATE_HEADS = RefusalLog("connections closed for want of a whole request head in time")


class EveryTenSeconds(logging.Filter):
    """Lets one of the records with `message` through every `every_s` seconds, telling how
    many there were since the last one; other records pass."""

    def __init__(self, message: str, every_s: float = 10.0):
        super().__init__()
        self.message, self.every_s = message, every_s
        self._lock = threading.Lock()
        self._count, self._last = 0, float("-inf")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() != self.message:
            return True
        with self._lock:
            self._count += 1
            now = time.monotonic()
            if now - self._last < self.every_s:
                return False
            count, self._count, self._last = self._count, 0, now
        if count > 1:
            record.msg, record.args = f"{self.message} ({count} since the last such line)", ()
        return True


INVALID_REQUESTS = EveryTenSeconds("Invalid HTTP request received.")


class SecureH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the security headers on its own 400, a time limit on
    each request head and fewer log lines about requests it cannot parse."""

    head_timeout_s = DEFAULT_HEAD_TIMEOUT_S

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if INVALID_REQUESTS not in self.logger.filters:
            self.logger.addFilter(INVALID_REQUESTS)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        body = msg.encode("ascii", "replace")
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        try:
            response = h11.Response(
                status_code=400, headers=secure_headers(headers), reason=b"Bad Request"
            )
            output = self.conn.send(response)
            output += self.conn.send(h11.Data(data=body))
            output += self.conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError:  # h11 refuses an answer in this state: uvicorn's own
            super().send_400_response(msg)
            return
        self._stop_head_timer()
        self.transport.write(output)
        self.transport.close()

    # request heads ---------------------------------------------------------------------
    def _watch_head(self) -> None:
        """A timer runs while the client owes us a request head: from the connection's start,
        and from the first bytes of each later request (between requests uvicorn's own
        keep-alive timeout applies)."""
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if not waiting:
            self._stop_head_timer()
        elif self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_late)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            client = self.client[0] if self.client else "an unknown client"
            _LATE_HEADS.note(f"{client}, closed after {self.head_timeout_s:g} s")
            self.transport.close()


def protocol(head_timeout_s: float) -> type[SecureH11Protocol]:
    """SecureH11Protocol with this head timeout (uvicorn makes one per connection)."""
    return type("SecureH11Protocol", (SecureH11Protocol,), {"head_timeout_s": head_timeout_s})


def serve(app, host: str, port: int, head_timeout_s: float = DEFAULT_HEAD_TIMEOUT_S) -> None:
    """Serve `app` until stopped. The app reads X-Forwarded-For itself, and only from
    web.trusted_proxies, so uvicorn's proxy headers stay off."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        proxy_headers=False,
        http=protocol(head_timeout_s),
    )
