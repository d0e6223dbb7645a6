"""Shards on other machines: a shard host serves the shards of its index folder over HTTP, and a
search index lists them by key (`search.remote_shards`) beside its own.

    host B:  callscope index serve --host 10.0.0.2 --port 8790     (CALLSCOPE_SHARD_TOKEN set)
    host A:  search.remote_shards: {"2026-01-01": "http://10.0.0.2:8790", ...}

A shard answers the same four questions wherever it lives (how many match, which page, how
many per day, the hits of a page), so the merge in keywords/index.py does not know where a
shard is. The query goes as its text, filters and redaction; the host parses it by the shard's
own confusions. Every request carries the shared token; a host binds to loopback unless a
token is set, because its answers hold transcripts.

Either side trusts the other no further than the protocol:

- the host checks the token and the size of a request before it reads the body, and every field
  of the body for type and bounds (a 4xx naming the field, never a traceback); it serves a
  bounded number of connections at once (more are answered 503), drops a connection that
  stalls (`search.shard_host_timeout_s`), and writes an answer after it has let go of the index;
- the searching side waits `search.remote_timeout_s` at most, retries a failed request once,
  and skips a host whose request still failed for `search.remote_cooldown_s` before it tries
  again (one breaker per host, shared by every search of the process). An answer is checked
  field by field (unknown fields are ignored): a malformed one is that host failing. The hits
  of a redacted search are redacted once more by today's rules, whatever the host did.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import http.client
import json
import math
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from callscope.core.errors import CallscopeError
from callscope.core.logs import get_logger
from callscope.core.secrets import SecretError, is_placeholder, read_secret
from callscope.keywords.query import QueryError, parse
from callscope.keywords.shard import TOP, SearchFilters, SearchHit, SearchIndexError, matches_for
from callscope.privacy.redact import redact, redact_marked

logger = get_logger(__name__)

TOKEN_ENV = "CALLSCOPE_SHARD_TOKEN"
TOKEN_MIN = 16  # characters of a shard token
LOOPBACK = ("127.0.0.1", "localhost", "::1")

# the searching side (search.remote_timeout_s, search.remote_cooldown_s)
TIMEOUT_S = 5.0  # to connect, for the answer to start, and for the rest of it
COOLDOWN_S = 30.0  # a host whose request failed twice is skipped this long
ANSWER_MAX = 64 << 20  # bytes of one answer

# the host side (search.shard_host_timeout_s, search.shard_host_connections)
HOST_TIMEOUT_S = 10.0  # a connection that sends nothing this long is dropped
HOST_CONNECTIONS = 32  # connections served at once; more are answered 503
BODY_MAX = 1 << 20  # bytes of a request body
ROWS_MAX = 1_000_000  # offset + limit of one page
FOUND_MAX = 1_000  # hits asked for at once
CONTEXT_MAX = 5  # segments before / after a hit (search.context_segments)
KEY_MAX = 64  # characters of a shard key
LIST_MAX = 1_000  # values of one filter
VALUE_MAX = 200  # characters of one filter value
ORDERS = ("score", "id DESC", "id")
QUESTIONS = ("shards", "count", "page", "day_counts", "hits")
DAY_MAX = TOP >> 32  # day numbers of rowids (keywords/postings.py DAY_SHIFT)


class ShardUnavailable(SearchIndexError):
    """A shard host did not answer as it should (away, too slow, refused, or a malformed
    answer): a search names the shards it left out, or fails with this message."""

    def __init__(self, host: str, message: str, key: str | None = None):
        super().__init__(message)
        self.host = host
        self.key = key

    def of(self, key: str) -> ShardUnavailable:
        """The same trouble, for shard `key` of that host."""
        return ShardUnavailable(self.host, str(self), key)


class BadMessage(ValueError):
    """A request or an answer that breaks the protocol; the text names the field."""


@dataclass(frozen=True)
class RemoteOptions:
    """How a search talks to shard hosts (the search section of the config)."""

    timeout_s: float = TIMEOUT_S
    cooldown_s: float = COOLDOWN_S
    partial: bool = False  # answer without a host that failed (naming it), rather than fail


# checking a message, either way ------------------------------------------------------------
def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def _field(data: dict, name: str):
    if name not in data:
        raise BadMessage(f"{name} is missing")
    return data[name]


def _int(value, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadMessage(f"{name} must be a whole number, not {_kind(value)}")
    if not lo <= value <= hi:
        raise BadMessage(f"{name} must be from {lo} to {hi}, not {value}")
    return value


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadMessage(f"{name} must be a number, not {_kind(value)}")
    if not math.isfinite(value):
        raise BadMessage(f"{name} must be a finite number")
    return float(value)


def _optional_number(value, name: str) -> float | None:
    return None if value is None else _number(value, name)


def _text(value, name: str, most: int = BODY_MAX) -> str:
    if not isinstance(value, str):
        raise BadMessage(f"{name} must be a string, not {_kind(value)}")
    if len(value) > most:
        raise BadMessage(f"{name} is longer than {most} characters")
    return value


def _optional_text(value, name: str) -> str | None:
    return None if value is None else _text(value, name)


def _flag(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise BadMessage(f"{name} must be true or false, not {_kind(value)}")
    return value


def _list(value, name: str, most: int) -> list:
    if not isinstance(value, list):
        raise BadMessage(f"{name} must be a list, not {_kind(value)}")
    if len(value) > most:
        raise BadMessage(f"{name} holds more than {most} items")
    return value


def _object(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise BadMessage(f"{name} must be an object, not {_kind(value)}")
    return value


def _row(value, name: str, lo: int = 0, hi: int = TOP) -> tuple[int, float | None]:
    """A (rowid, score) pair."""
    pair = _list(value, name, 2)
    if len(pair) != 2:
        raise BadMessage(f"{name} must be a [rowid, score] pair")
    return _int(pair[0], f"{name} rowid", lo, hi), _optional_number(pair[1], f"{name} score")


# requests ---------------------------------------------------------------------------------
def filters_to_json(filters: SearchFilters) -> dict:
    out = dataclasses.asdict(filters)
    for name in ("date_from", "date_to"):
        out[name] = out[name].isoformat() if out[name] else None
    return out


def filters_from_json(data) -> SearchFilters:
    """The filters of a request, each field checked (BadMessage names the one that is not)."""
    data = _object(data, "filters")
    known = {f.name for f in dataclasses.fields(SearchFilters)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BadMessage(f"filters: unknown field {unknown[0]!r}")
    out: dict = {}
    for name in ("date_from", "date_to"):
        value = _optional_text(data.get(name), f"filters.{name}")
        try:
            out[name] = dt.date.fromisoformat(value) if value else None
        except ValueError as exc:
            raise BadMessage(f"filters.{name} {value!r} is not a date (YYYY-MM-DD)") from exc
    for name in ("agents", "queues", "speakers", "categories"):
        values = _list(data.get(name, []), f"filters.{name}", LIST_MAX)
        out[name] = [_text(value, f"filters.{name}", VALUE_MAX) for value in values]
    for name in ("sentiment_min", "sentiment_max"):
        out[name] = _optional_number(data.get(name), f"filters.{name}")
    return SearchFilters(**out)


def checked_request(what: str, body) -> dict:
    """The arguments of request `what`, each checked for type and bounds (BadMessage: a 400
    naming the field; NotServed: a 404). Fields the request does not use are ignored."""
    if what not in QUESTIONS:
        raise NotServed(f"no such request {what!r}: ask one of {', '.join(QUESTIONS)}")
    if what == "shards":
        return {}
    body = _object(body, "the request body")
    asked = {
        "key": _text(_field(body, "key"), "key", KEY_MAX),
        "query": _text(_field(body, "query"), "query"),
        "redacted": _flag(_field(body, "redacted"), "redacted"),
    }
    if what == "hits":
        found = _list(_field(body, "found"), "found", FOUND_MAX)
        asked["found"] = [_row(row, "found") for row in found]
        asked["context"] = _int(_field(body, "context"), "context", 0, CONTEXT_MAX)
        return asked
    asked["filters"] = filters_from_json(_field(body, "filters"))
    if what in ("count", "page"):
        asked["lo"] = _int(_field(body, "lo"), "lo", 0, TOP)
        asked["hi"] = _int(_field(body, "hi"), "hi", 0, TOP)
    if what == "count":
        cap = _field(body, "cap")
        asked["cap"] = None if cap is None else _int(cap, "cap", 0, TOP)
    if what == "page":
        order = _field(body, "order")
        if order not in ORDERS:
            raise BadMessage(f"order must be one of {', '.join(ORDERS)}")
        asked["order"] = order
        asked["limit"] = _int(_field(body, "limit"), "limit", 0, ROWS_MAX)
        asked["offset"] = _int(_field(body, "offset"), "offset", 0, ROWS_MAX - asked["limit"])
    return asked


# answers ----------------------------------------------------------------------------------
def _count_answer(answer) -> int:
    return _int(answer, "the count", 0, TOP)


def _page_answer(limit: int, lo: int, hi: int) -> Callable:
    def read(answer) -> list[tuple[int, float | None]]:
        return [_row(row, "a row of the page", lo, hi) for row in _list(answer, "the page", limit)]

    return read


def _day_counts_answer(answer) -> dict[int, int]:
    counts = {}
    for day, n in _object(answer, "the day counts").items():
        if not (day.isascii() and day.isdigit() and len(day) <= 10):
            raise BadMessage(f"day {day!r} is not a day number")
        counts[_int(int(day), "a day", 0, DAY_MAX)] = _int(n, f"the count of day {day}", 0, TOP)
    return counts


def _hits_answer(found: int) -> Callable:
    def read(answer) -> list[SearchHit | None]:
        rows = _list(answer, "the hits", found)
        if len(rows) != found:
            raise BadMessage(f"{len(rows)} hits for {found} rows asked")
        return [None if row is None else _hit(row) for row in rows]

    return read


def _hit(row) -> SearchHit:
    """A hit as the host sent it, each field checked; fields this version does not know are
    left out."""
    row = _object(row, "a hit")
    text = _text(_field(row, "text"), "text")
    spans = [
        _span(span, len(text)) for span in _list(_field(row, "highlights"), "highlights", LIST_MAX)
    ]
    categories = _list(_field(row, "categories"), "categories", LIST_MAX)
    return SearchHit(
        call_id=_text(_field(row, "call_id"), "call_id"),
        date=_text(_field(row, "date"), "date"),
        agent_id=_optional_text(_field(row, "agent_id"), "agent_id"),
        queue=_optional_text(_field(row, "queue"), "queue"),
        speaker=_optional_text(_field(row, "speaker"), "speaker"),
        idx=_int(_field(row, "idx"), "idx", 0, TOP),
        start_s=_number(_field(row, "start_s"), "start_s"),
        end_s=_number(_field(row, "end_s"), "end_s"),
        hit_s=_number(_field(row, "hit_s"), "hit_s"),
        text=text,
        highlights=spans,
        before=_lines(_field(row, "before"), "before"),
        after=_lines(_field(row, "after"), "after"),
        categories=[_text(category, "a category") for category in categories],
        score=_optional_number(_field(row, "score"), "score"),
    )


def _span(value, size: int) -> tuple[int, int]:
    """A highlight: (start, end) within a text of `size` characters."""
    pair = _list(value, "a highlight", 2)
    if len(pair) != 2:
        raise BadMessage("a highlight must be a [start, end] pair")
    start = _int(pair[0], "a highlight's start", 0, size)
    return start, _int(pair[1], "a highlight's end", start, size)


def _lines(value, name: str) -> list[dict]:
    """The context lines of a hit: speaker, start and text."""
    out = []
    for line in _list(value, name, CONTEXT_MAX):
        line = _object(line, f"a line of {name}")
        out.append(
            {
                "speaker": _optional_text(_field(line, "speaker"), "speaker"),
                "start_s": _number(_field(line, "start_s"), "start_s"),
                "text": _optional_text(_field(line, "text"), "text"),
            }
        )
    return out


def _listing_answer(answer) -> dict[str, frozenset[str]]:
    listed = {}
    for key, confusions in _object(answer, "the list of shards").items():
        _text(key, "a shard key", KEY_MAX)
        names = _list(confusions, f"the confusions of {key}", LIST_MAX)
        listed[key] = frozenset(_text(name, "a confusion", VALUE_MAX) for name in names)
    return listed


def redacted_again(hit: SearchHit) -> SearchHit | None:
    """A hit from another machine as a role without access to personal data may see it, by
    today's rules; None when its every match lies in personal data."""
    text, marks = redact_marked(hit.text, hit.highlights)
    if hit.highlights and not marks:
        return None
    before, after = (
        [{**line, "text": redact(line["text"] or "")[0]} for line in lines]
        for lines in (hit.before, hit.after)
    )
    return dataclasses.replace(hit, text=text, highlights=marks, before=before, after=after)


# the searching side -----------------------------------------------------------------------
class _HostFailure(Exception):
    """A request that did not get an answer: counted by the host's breaker."""

    def __init__(self, message: str, retry: bool):
        super().__init__(message)
        self.retry = retry


class _Breaker:
    """One shard host's record: asked while it answers; skipped for the cool-down after a
    request of it failed (and its retry); then asked again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0  # monotonic time the cool-down ends
        self.reason = ""

    def skipping(self) -> float | None:
        """Seconds left of the cool-down while the host is skipped; None when it may be asked."""
        with self._lock:
            left = self._until - time.monotonic()
        return left if left > 0 else None

    def answered(self) -> None:
        with self._lock:
            self._until, self.reason = 0.0, ""

    def failed(self, reason: str, cooldown_s: float) -> None:
        with self._lock:
            self._until, self.reason = time.monotonic() + cooldown_s, reason


_BREAKERS: dict[str, _Breaker] = {}
_BREAKERS_LOCK = threading.Lock()


def breaker(url: str) -> _Breaker:
    """The breaker of the host at `url`: one per process, shared by every search."""
    with _BREAKERS_LOCK:
        return _BREAKERS.setdefault(url.rstrip("/"), _Breaker())


def forget_failures() -> None:
    """Every host is asked again at once (a fresh start, as after a restart)."""
    with _BREAKERS_LOCK:
        _BREAKERS.clear()


class ShardHostClient:
    """Asks one shard host: within the timeout, a failure retried once, through its breaker."""

    def __init__(self, url: str, token: str | None, options: RemoteOptions | None = None):
        self.url = url.rstrip("/")
        self.options = options or RemoteOptions()
        self.headers = {"Content-Type": "application/json", **_auth(token)}
        self.breaker = breaker(self.url)

    def check(self, key: str | None = None) -> None:
        """ShardUnavailable while this host is skipped after failing."""
        left = self.breaker.skipping()
        if left is None:
            return
        reason = self.breaker.reason or f"the shard host {self.url} failed"
        raise ShardUnavailable(
            self.url, f"{reason}; skipped until it is tried again in {math.ceil(left)} s", key
        )

    def listing(self) -> dict[str, frozenset[str]]:
        """The shards the host serves, with the confusions each was built with."""
        return self.ask("shards", None, _listing_answer)

    def ask(self, what: str, body: dict | None, read: Callable, key: str | None = None):
        """The answer to `what` as `read` checks it. ShardUnavailable when the host does not
        answer (after one retry), answers nonsense, or is skipped; QueryError on a 400."""
        self.check(key)
        try:
            answer = self._with_retry(what, body, read)
        except _HostFailure as exc:
            self.breaker.failed(str(exc), self.options.cooldown_s)
            logger.warning("%s; skipped for %g s", exc, self.options.cooldown_s)
            raise ShardUnavailable(self.url, str(exc), key) from exc
        except (QueryError, ShardUnavailable):
            self.breaker.answered()  # it answered: a refusal is not an outage
            raise
        self.breaker.answered()
        return answer

    def _with_retry(self, what: str, body: dict | None, read: Callable):
        try:
            return self._once(what, body, read)
        except _HostFailure as exc:
            if not exc.retry:
                raise
            logger.info("%s; asking once more", exc)
        return self._once(what, body, read)

    def _once(self, what: str, body: dict | None, read: Callable):
        data = self._exchange(what, body)
        try:
            return read(json.loads(data))
        except (ValueError, TypeError, RecursionError) as exc:  # BadMessage, or not JSON
            raise _HostFailure(
                f"the shard host {self.url} sent a malformed answer to {what} ({exc})", retry=False
            ) from exc

    def _exchange(self, what: str, body: dict | None) -> bytes:
        """The body of the host's answer to `what`; _HostFailure when none came in time."""
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        request = urllib.request.Request(f"{self.url}/{what}", data=data, headers=self.headers)
        timeout = self.options.timeout_s
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return _read_answer(response, time.monotonic() + timeout)
        except urllib.error.HTTPError as exc:
            raise self._refusal(exc) from exc
        except TimeoutError as exc:
            raise self._slow() from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise self._slow() from exc
            raise self._away(exc.reason) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise self._away(exc) from exc

    def _refusal(self, exc: urllib.error.HTTPError) -> Exception:
        message = _error_text(exc)
        if exc.code == 400:
            return QueryError(message)
        if exc.code >= 500:
            return _HostFailure(f"the shard host {self.url} failed: {message}", retry=True)
        return ShardUnavailable(self.url, f"the shard host {self.url}: {message}")

    def _slow(self) -> _HostFailure:
        return _HostFailure(
            f"the shard host {self.url} did not answer within {self.options.timeout_s:g} s "
            "(search.remote_timeout_s)",
            retry=False,  # a host that hangs is not waited for twice
        )

    def _away(self, reason) -> _HostFailure:
        return _HostFailure(
            f"the shard host {self.url} cannot be reached ({reason}); is its shard host "
            "(`callscope index serve`) running?",
            retry=True,
        )


def _read_answer(response, deadline: float) -> bytes:
    """An answer's body, read by the deadline and no longer than ANSWER_MAX."""
    chunks, size = [], 0
    while chunk := response.read1(1 << 16):
        size += len(chunk)
        if size > ANSWER_MAX:
            raise _HostFailure(f"an answer longer than {ANSWER_MAX} bytes", retry=False)
        if time.monotonic() > deadline:
            raise TimeoutError("the answer came too slowly")
        chunks.append(chunk)
    return b"".join(chunks)


class RemoteShard:
    """A shard on a shard host, with the reading calls of a local one."""

    readable = True

    def __init__(self, client: ShardHostClient, key: str, confusions: frozenset[str]):
        self.client = client
        self.url = client.url
        self.key = key
        self.read_confusions = confusions
        self.path = f"{self.url}/{key}"

    def count(self, matches, cap=None, lo=0, hi=TOP) -> int:
        return self._ask("count", matches, _count_answer, cap=cap, lo=lo, hi=hi)

    def page(self, matches, order, limit, offset=0, lo=0, hi=TOP) -> list[tuple]:
        read = _page_answer(limit, lo, hi)
        return self._ask(
            "page", matches, read, order=order, limit=limit, offset=offset, lo=lo, hi=hi
        )

    def day_counts(self, matches) -> dict[int, int]:
        return self._ask("day_counts", matches, _day_counts_answer)

    def hits(self, found, parsed, context: int, redacted: bool) -> list[SearchHit | None]:
        body = {"query": parsed.text, "redacted": redacted, "found": found, "context": context}
        hits = self._ask("hits", None, _hits_answer(len(found)), **body)
        if redacted:
            return [None if hit is None else redacted_again(hit) for hit in hits]
        return hits

    def _ask(self, what: str, matches, read: Callable, **extra):
        body = dict(extra, key=self.key)
        if matches is not None:
            body |= {
                "query": matches.query,
                "filters": filters_to_json(matches.filters),
                "redacted": matches.redacted,
            }
        return self.client.ask(what, body, read, self.key)


def token_from_env() -> str | None:
    """The shared token: $CALLSCOPE_SHARD_TOKEN, or the file $CALLSCOPE_SHARD_TOKEN_FILE names
    (core/secrets.py); None when neither is set. An example's placeholder is refused here; its
    length is checked where shards are served (the searching side sends what it has)."""
    try:
        token = read_secret(TOKEN_ENV)
    except SecretError as exc:
        raise SearchIndexError(str(exc)) from exc
    if token and is_placeholder(token):
        raise SearchIndexError(
            f"${TOKEN_ENV} is a placeholder from an example (change-me...), not a token: use "
            f"at least {TOKEN_MIN} random characters, the same here and on the shard hosts"
        )
    return token


def _auth(token: str | None) -> dict[str, str]:
    if not token:
        return {}
    if not (token.isascii() and token.isprintable()):
        raise SearchIndexError(f"${TOKEN_ENV} must be printable ASCII characters")
    return {"Authorization": f"Bearer {token}"}


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read(1 << 16))["error"])
    except (ValueError, KeyError, TypeError, OSError, http.client.HTTPException):
        return f"HTTP {exc.code}"


# the host side ----------------------------------------------------------------------------
class NotServed(LookupError):
    """A request for a shard or a question this host does not serve (a 404)."""


class _Refused(Exception):
    """A request answered with an error before its body is read or used."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _BoundedServer(ThreadingHTTPServer):
    """A threading server that serves `connections` at once and answers 503 beyond."""

    daemon_threads = True
    request_queue_size = 128  # a burst waits to be answered 503, not dropped by the kernel

    def __init__(self, address, handler, connections: int):
        self.slots = threading.BoundedSemaphore(connections)
        self.connections = connections
        self.heads = _HeadDeadlines()
        if ":" in address[0]:  # an IPv6 address: ::1, ::
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def server_close(self) -> None:
        self.heads.stop()
        super().server_close()

    def process_request(self, request, client_address) -> None:
        if not self.slots.acquire(blocking=False):
            logger.warning(
                "shard host: %d connections already open; %s answered 503",
                self.connections,
                client_address[0],
            )
            _answer_busy(request, self.connections)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            logger.info("shard host: the connection of %s failed (%s)", client_address[0], exc)
        else:
            logger.exception("shard host: a request of %s failed", client_address[0])


class _HeadDeadlines:
    """Closes the connections whose request head is not whole by its deadline; one thread
    for the host, however many connections."""

    POLL_S = 0.1

    def __init__(self) -> None:
        self._due: dict[socket.socket, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        threading.Thread(target=self._run, daemon=True, name="shard-host-heads").start()

    def stop(self) -> None:
        self._stopped.set()

    def watch(self, connection: socket.socket, client: str, timeout_s: float) -> None:
        with self._lock:
            self._due[connection] = (time.monotonic() + timeout_s, client)

    def done(self, connection: socket.socket) -> None:
        with self._lock:
            self._due.pop(connection, None)

    def _run(self) -> None:
        while not self._stopped.wait(self.POLL_S):
            now = time.monotonic()
            with self._lock:
                late = [(c, who) for c, (due, who) in self._due.items() if due <= now]
                for connection, _ in late:
                    del self._due[connection]
            for connection, client in late:
                logger.info("shard host: %s sent no whole request head in time; closed", client)
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _answer_busy(request: socket.socket, connections: int) -> None:
    """A 503 written at once to a connection beyond the limit (never waited for)."""
    payload = json.dumps(
        {"error": f"the shard host is busy ({connections} connections); try again"}
    ).encode()
    head = (
        "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    try:
        request.setblocking(False)
        request.recv(1 << 16)  # what came already: closing on unread bytes would reset
    except OSError:
        pass
    try:
        request.settimeout(0.5)
        request.sendall(head.encode() + payload)
    except OSError:
        pass


class ShardHost:
    """Serves the shards of `index` (a SearchIndex) to other machines' searches."""

    def __init__(
        self,
        index,
        host: str,
        port: int,
        token: str | None,
        timeout_s: float = HOST_TIMEOUT_S,
        connections: int = HOST_CONNECTIONS,
        body_max: int = BODY_MAX,
    ):
        if not token and host not in LOOPBACK:
            raise CallscopeError(
                f"serving shards on {host} needs a shared token: set ${TOKEN_ENV} here and on "
                "the machines that search (shard answers hold transcripts)"
            )
        if token and len(token) < TOKEN_MIN:
            raise CallscopeError(
                f"${TOKEN_ENV} is too short: use at least {TOKEN_MIN} random characters, the "
                "same here and on the machines that search"
            )
        self.index = index
        self.token = token
        self.expected = f"Bearer {token}".encode() if token else b""
        self.timeout_s = timeout_s
        self.body_max = body_max
        self.lock = threading.Lock()  # one index object: one request at a time reads it
        self.server = _BoundedServer((host, port), self._handler(), connections)
        self.port = self.server.server_address[1]

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def authorized(self, given: str | None) -> bool:
        """Whether an Authorization header carries the token (compared in constant time)."""
        if not self.token:
            return True
        return hmac.compare_digest((given or "").encode("latin-1", "replace"), self.expected)

    def answer(self, what: str, asked: dict):
        """The answer to a checked request (`checked_request`); called under `lock`."""
        if what == "shards":
            return {key: sorted(self.index.shard(key).read_confusions) for key in self.index.keys()}
        if asked["key"] not in self.index.keys():
            raise NotServed(f"no shard {asked['key']!r} on this host")
        shard = self.index.shard(asked["key"])
        query = parse(asked["query"], shard.read_confusions)
        if what == "hits":
            hits = shard.hits(asked["found"], query, asked["context"], asked["redacted"])
            return [None if hit is None else dataclasses.asdict(hit) for hit in hits]
        matches = matches_for(query, asked["filters"], asked["redacted"])
        if what == "count":
            return shard.count(matches, asked["cap"], asked["lo"], asked["hi"])
        if what == "page":
            args = ("order", "limit", "offset", "lo", "hi")
            return shard.page(matches, *(asked[name] for name in args))
        return shard.day_counts(matches)

    def reply(self, what: str, body) -> tuple[int, dict | list | int]:
        """The status and answer of a request: the answer worked out under the lock, the lock
        let go before anything is written."""
        try:
            asked = checked_request(what, body)
            with self.lock:
                return 200, self.answer(what, asked)
        except (BadMessage, QueryError) as exc:
            return 400, {"error": str(exc)}
        except NotServed as exc:
            return 404, {"error": str(exc)}
        except SearchIndexError as exc:
            return 503, {"error": str(exc)}
        except Exception:
            logger.exception("shard host: %s failed", what)
            return 500, {"error": f"the shard host failed on {what}; its log says why"}

    def _handler(self):
        return type("Handler", (_Handler,), {"host": self, "timeout": self.timeout_s})


class _Handler(BaseHTTPRequestHandler):
    """One connection of a shard host: the token, then the size, then the body, then the
    answer. `host` and `timeout` (seconds a connection may stall) are set per host."""

    host: ShardHost
    default_request_version = "HTTP/1.0"  # an unreadable request line still gets a status line

    def setup(self) -> None:
        """The request line and headers get `timeout` seconds all told: the socket timeout
        alone restarts at every byte, so a head sent a byte at a time would hold a slot."""
        super().setup()
        self.server.heads.watch(self.connection, self.client_address[0], self.timeout)

    def parse_request(self) -> bool:
        parsed = super().parse_request()  # reads the headers too
        self.server.heads.done(self.connection)
        return parsed

    def finish(self) -> None:
        self.server.heads.done(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._serve(read_body=False)

    def do_POST(self) -> None:
        self._serve(read_body=True)

    def _serve(self, read_body: bool) -> None:
        what = self.path.split("?", 1)[0].strip("/")
        if not self.host.authorized(self.headers.get("Authorization")):
            self._send(401, {"error": f"a wrong or missing token (${TOKEN_ENV})"})
            self._discard_body()
            return
        try:
            body = self._body() if read_body else {}
        except _Refused as exc:
            self._send(exc.status, {"error": str(exc)})
            return
        except TimeoutError:
            self._send(408, {"error": f"the request body did not come within {self.timeout:g} s"})
            return
        status, answer = self.host.reply(what, body)
        self._send(status, answer)

    def _length(self) -> int:
        """The body's size from Content-Length, checked before any of the body is read."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise _Refused(411, "send the body with a Content-Length, not chunked")
        given = self.headers.get_all("Content-Length") or []
        if not given:
            raise _Refused(411, "a request with a body needs a Content-Length")
        text = given[0].strip()
        if len(set(given)) > 1 or not (text.isascii() and text.isdigit()):
            raise _Refused(400, f"Content-Length {given[0][:40]!r} is not a number of bytes")
        if len(text) > 12 or int(text) > self.host.body_max:
            raise _Refused(413, f"a request body is at most {self.host.body_max} bytes")
        return int(text)

    def _body(self):
        length = self._length()
        data = self._read(length)
        if data is None:
            raise _Refused(400, f"the request body ended before its {length} bytes")
        try:
            return json.loads(data or b"{}")
        except (ValueError, RecursionError) as exc:
            raise _Refused(400, "the request body is not JSON") from exc

    def _read(self, length: int) -> bytes | None:
        """`length` bytes of body within the connection's timeout, all told; None if the
        client stops short."""
        deadline = time.monotonic() + self.timeout
        chunks, left = [], length
        while left:
            if time.monotonic() > deadline:
                raise TimeoutError("the body came too slowly")
            chunk = self.rfile.read1(min(left, 1 << 16))
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _discard_body(self) -> None:
        """Read and drop a small body left unread by a refusal, so that closing the connection
        does not reset it before the client has read the answer."""
        try:
            length = self._length() if self.command == "POST" else 0
            self.connection.settimeout(min(self.timeout, 1.0))
            self._read(length)
        except (_Refused, OSError):
            pass

    def _send(self, status: int, payload) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError as exc:
            logger.info("shard host: the answer to %s was not delivered (%s)", self.path, exc)
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:
        logger.debug("shard host: " + format, *args)

    def log_error(self, format: str, *args) -> None:
        logger.info("shard host: " + format, *args)


def serve(
    folder: Path,
    host: str,
    port: int,
    token: str | None,
    ready=None,
    timeout_s: float = HOST_TIMEOUT_S,
    connections: int = HOST_CONNECTIONS,
) -> None:
    """Run a shard host for the index at `folder` until interrupted."""
    from callscope.keywords.index import SearchIndex

    index = SearchIndex(folder, create=False)
    server = ShardHost(index, host, port, token, timeout_s, connections)
    logger.info(
        "shard host: %d shards of %s on %s:%d (%d connections at once, %g s timeout)",
        len(index.keys()),
        folder,
        host,
        server.port,
        connections,
        timeout_s,
    )
    if ready is not None:
        ready(server.port)
    try:
        server.serve_forever()
    finally:
        index.close()
