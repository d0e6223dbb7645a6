"""Shards on other machines: a shard host serves the shards of its index folder over HTTP, and a
search index lists them by key (`search.remote_shards`) beside its own.

    host B:  callscope index serve --host 10.0.0.2 --port 8790     (CALLSCOPE_SHARD_TOKEN set)
    host A:  search.remote_shards: {"2026-01-01": "http://10.0.0.2:8790", ...}

A shard answers the same four questions wherever it lives (how many match, which page, how
many per day, the hits of a page), so the merge in keywords/index.py does not know where a
shard is. The query goes as its text, filters and redaction; the host parses it by the shard's
own confusions. Every request carries the shared token; a host binds to loopback unless a
token is set, because its answers hold transcripts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from core.errors import CallscopeError
from core.logs import get_logger
from keywords.query import QueryError, parse
from keywords.shard import SearchFilters, SearchHit, SearchIndexError, matches_for

logger = get_logger(__name__)

TOKEN_ENV = "CALLSCOPE_SHARD_TOKEN"
TIMEOUT_S = 30.0


def filters_to_json(filters: SearchFilters) -> dict:
    out = dataclasses.asdict(filters)
    for name in ("date_from", "date_to"):
        out[name] = out[name].isoformat() if out[name] else None
    return out


def filters_from_json(data: dict) -> SearchFilters:
    data = dict(data)
    for name in ("date_from", "date_to"):
        data[name] = dt.date.fromisoformat(data[name]) if data.get(name) else None
    return SearchFilters(**data)


class RemoteShard:
    """A shard on a shard host, with the reading calls of a local one."""

    readable = True

    def __init__(self, url: str, key: str, confusions: frozenset[str], token: str | None):
        self.url = url.rstrip("/")
        self.key = key
        self.read_confusions = confusions
        self.token = token
        self.path = f"{self.url}/{key}"

    def count(self, matches, cap=None, lo=0, hi=1 << 62) -> int:
        return self._ask("count", matches, cap=cap, lo=lo, hi=hi)

    def page(self, matches, order, limit, offset=0, lo=0, hi=1 << 62) -> list[tuple]:
        rows = self._ask("page", matches, order=order, limit=limit, offset=offset, lo=lo, hi=hi)
        return [tuple(row) for row in rows]

    def day_counts(self, matches) -> dict[int, int]:
        return {int(day): n for day, n in self._ask("day_counts", matches).items()}

    def hits(self, found, parsed, context: int, redacted: bool) -> list[SearchHit | None]:
        rows = self._ask(
            "hits", None, query=parsed.text, redacted=redacted, found=found, context=context
        )
        return [
            None
            if row is None
            else SearchHit(**(row | {"highlights": [tuple(span) for span in row["highlights"]]}))
            for row in rows
        ]

    def _ask(self, what: str, matches, **extra):
        body = dict(extra, key=self.key)
        if matches is not None:
            body |= {
                "query": matches.query,
                "filters": filters_to_json(matches.filters),
                "redacted": matches.redacted,
            }
        request = urllib.request.Request(
            f"{self.url}/{what}",
            data=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json", **_auth(self.token)},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            message = _error_text(exc)
            if exc.code == 400:
                raise QueryError(message) from exc
            raise SearchIndexError(f"shard {self.key} at {self.url}: {message}") from exc
        except OSError as exc:
            raise SearchIndexError(
                f"shard {self.key} at {self.url} cannot be reached ({exc}); is its shard host "
                "(`callscope index serve`) running?"
            ) from exc


def remote_keys(url: str, token: str | None) -> dict[str, frozenset[str]]:
    """The shards a host serves, with the confusions each was built with."""
    request = urllib.request.Request(f"{url.rstrip('/')}/shards", headers=_auth(token))
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            listed = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise SearchIndexError(f"the shard host {url}: {_error_text(exc)}") from exc
    except OSError as exc:
        raise SearchIndexError(f"the shard host {url} cannot be reached ({exc})") from exc
    return {key: frozenset(confusions) for key, confusions in listed.items()}


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        return json.loads(exc.read())["error"]
    except (ValueError, KeyError, OSError):
        return f"HTTP {exc.code}"


# the host side ----------------------------------------------------------------------------
class ShardHost:
    """Serves the shards of `index` (a SearchIndex) to other machines' searches."""

    def __init__(self, index, host: str, port: int, token: str | None):
        if not token and host not in ("127.0.0.1", "localhost", "::1"):
            raise CallscopeError(
                f"serving shards on {host} needs a shared token: set ${TOKEN_ENV} here and on "
                "the machines that search (shard answers hold transcripts)"
            )
        self.index = index
        self.token = token
        self.lock = threading.Lock()  # one index object: one request at a time reads it
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.port = self.server.server_address[1]

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, what: str, body: dict):
        if what == "shards":
            return {key: sorted(self.index.shard(key).read_confusions) for key in self.index.keys()}
        shard = self.index.shard(body["key"])
        query = parse(body["query"], shard.read_confusions)
        if what == "hits":
            found = [tuple(row) for row in body["found"]]
            hits = shard.hits(found, query, body["context"], body["redacted"])
            return [None if hit is None else dataclasses.asdict(hit) for hit in hits]
        matches = matches_for(query, filters_from_json(body["filters"]), body["redacted"])
        if what == "count":
            return shard.count(matches, body["cap"], body["lo"], body["hi"])
        if what == "page":
            args = (body["order"], body["limit"], body["offset"], body["lo"], body["hi"])
            return shard.page(matches, *args)
        if what == "day_counts":
            return shard.day_counts(matches)
        raise KeyError(what)

    def _handler(self):
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._reply(self.path.strip("/"), {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._send(400, {"error": "the request body is not JSON"})
                    return
                self._reply(self.path.strip("/"), body)

            def _reply(self, what: str, body: dict) -> None:
                given = self.headers.get("Authorization", "")
                if host.token and not hmac.compare_digest(given, f"Bearer {host.token}"):
                    self._send(401, {"error": f"a wrong or missing token (${TOKEN_ENV})"})
                    return
                try:
                    with host.lock:
                        self._send(200, host.answer(what, body))
                except QueryError as exc:
                    self._send(400, {"error": str(exc)})
                except (KeyError, TypeError, ValueError) as exc:
                    self._send(404, {"error": f"no such shard or request ({exc})"})
                except SearchIndexError as exc:
                    self._send(503, {"error": str(exc)})

            def _send(self, status: int, payload) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args) -> None:
                logger.debug("shard host: " + format, *args)

        return Handler


def serve(folder: Path, host: str, port: int, token: str | None, ready=None) -> None:
    """Run a shard host for the index at `folder` until interrupted."""
    from keywords.index import SearchIndex

    index = SearchIndex(folder, create=False)
    server = ShardHost(index, host, port, token)
    logger.info(
        "shard host: %d shards of %s on %s:%d", len(index.keys()), folder, host, server.port
    )
    if ready is not None:
        ready(server.port)
    try:
        server.serve_forever()
    finally:
        index.close()
