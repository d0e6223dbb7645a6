"""Shard hosts under bad requests and bad answers: a host checks the token and the size of a
request before its body, every field of it before use, serves a bounded number of connections
and writes after it has let go of its index; a search waits a short while for a host, retries a
failure once, skips a host that keeps failing for a cool-down, names every shard it left out,
redacts a host's hits once more, and takes a malformed answer as that host failing.

Everything runs on 127.0.0.1; each test ends in seconds."""

from __future__ import annotations

import dataclasses
import json
import random
import socket
import socketserver
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from callscope.core.config import load_config
from callscope.keywords.daily import update_index
from callscope.keywords.index import SearchIndex, open_index
from callscope.keywords.remote import (
    TOKEN_ENV,
    RemoteOptions,
    ShardHost,
    ShardUnavailable,
    filters_to_json,
    forget_failures,
)
from callscope.keywords.shard import SearchFilters, SearchIndexError
from callscope.storage.warehouse import Warehouse

from tests.test_search import put_day
from tests.test_search_shards import DAYS, TURNS

TOKEN = "s3cret-for-this-test"
QUERY = "您好"  # said in every call: 6 matches a day
EVERY_DAY, ONE_DAY = 24, 6
FAST = RemoteOptions(timeout_s=2.0, cooldown_s=30.0, partial=True)


@pytest.fixture(autouse=True)
def fresh_start(monkeypatch):
    """No host remembered as failing from another test; the token of this test's hosts."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    forget_failures()
    yield
    forget_failures()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Warehouse:
    """The days of tests/test_search_shards.py, made once for this module."""
    rng = random.Random(3)
    store = Warehouse(tmp_path_factory.mktemp("shard-hosts") / "warehouse")
    for day in DAYS:
        calls = {
            f"{day:%m%d}-{n}": (f"A{n % 4}", "general", [TURNS[0], *rng.sample(TURNS[1:], 3)])
            for n in range(6)
        }
        put_day(store, day, calls)
    return store


@pytest.fixture(scope="module")
def host_index(store, tmp_path_factory):
    """September's and October's shards, on the machine that serves them (SQLite FTS5: a
    request the host took as it came never reaches an allocation that aborts the test)."""
    index = SearchIndex(tmp_path_factory.mktemp("host") / "search", engine="sqlite")
    for day in DAYS[:3]:
        update_index(store, index, day)
    yield index
    index.close()


@pytest.fixture(scope="module")
def local(store, tmp_path_factory):
    """The searching machine's own index: November."""
    index = SearchIndex(tmp_path_factory.mktemp("local") / "search")
    update_index(store, index, DAYS[3])
    index.close()
    return index.path


@pytest.fixture
def hosts(host_index):
    """Start shard hosts in this process; all are stopped at the end."""
    started: list[ShardHost] = []

    def start(port: int = 0, **options) -> ShardHost:
        host = ShardHost(host_index, "127.0.0.1", port, TOKEN, **options)
        threading.Thread(target=host.serve_forever, daemon=True).start()
        started.append(host)
        return host

    yield start
    for host in started:
        stop(host)


def stop(host: ShardHost) -> None:
    if host.server.socket.fileno() != -1:
        host.shutdown()


def url_of(host) -> str:
    return f"http://127.0.0.1:{host.port}"


def searching(local, host, options: RemoteOptions = FAST) -> SearchIndex:
    """The searching machine's index with September and October on `host`."""
    remote = {"2026-09-01": url_of(host), "2026-10-01": url_of(host)}
    return SearchIndex(local, create=False, remote=remote, remote_options=options)


# raw HTTP -----------------------------------------------------------------------------------
def exchange(port: int, raw: bytes, wait: float = 3.0) -> tuple[int, dict | None]:
    """Send `raw`, read the answer until the host closes: (status, JSON body); status 0 when
    the host answered nothing at all."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(1 << 16):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head:
        return 0, None
    try:
        return int(head.split()[1]), json.loads(body)
    except ValueError:
        return int(head.split()[1]), None


def request(what: str, body: bytes, headers: dict[str, str | bytes] | None = None) -> bytes:
    lines = [f"POST /{what} HTTP/1.0".encode(), b"Host: 127.0.0.1"]
    for name, value in (headers or {}).items():
        lines.append(
            name.encode() + b": " + (value if isinstance(value, bytes) else value.encode())
        )
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def post(port: int, what: str, body, token: str = TOKEN, **headers) -> tuple[int, dict | None]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = {"Authorization": f"Bearer {token}", "Content-Length": str(len(data)), **headers}
    return exchange(port, request(what, data, head))


def asking(what: str, **fields) -> dict:
    """A well-formed request of September's shard, with `fields` changed."""
    body = {"key": "2026-09-01", "query": QUERY, "redacted": False}
    if what == "hits":
        body |= {"found": [[0, None]], "context": 1}
    else:
        body["filters"] = filters_to_json(SearchFilters())
    if what == "count":
        body |= {"cap": 100, "lo": 0, "hi": 1 << 62}
    if what == "page":
        body |= {"order": "id DESC", "limit": 20, "offset": 0, "lo": 0, "hi": 1 << 62}
    return body | fields


# F6: every number of a request is checked ----------------------------------------------------
@pytest.fixture
def cli_host(store, tmp_path):
    """`callscope index serve` in its own process (Tantivy shards), with its limits set in
    the config: 2 connections at once, 1 s before a stalled one is dropped."""
    host_index = SearchIndex(tmp_path / "host" / "search")
    for day in DAYS[:3]:
        update_index(store, host_index, day)
    host_index.close()
    config = tmp_path / "host.yaml"
    search = {"shard_host_connections": 2, "shard_host_timeout_s": 1.0}
    config.write_text(yaml.safe_dump({"warehouse": str(tmp_path / "host"), "search": search}))
    command = "from callscope.cli import app; app()"
    proc = subprocess.Popen(
        [sys.executable, "-c", command, "index", "serve", "--port", "0", "--config", str(config)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving shards"), line
        yield proc, int(line.strip().rsplit(":", 1)[1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_page_of_ten_billion_rows_is_a_400_and_the_host_serves_on(cli_host):
    proc, port = cli_host
    status, answer = post(port, "page", asking("page", limit=10**10))
    assert status == 400 and "limit" in answer["error"], answer
    status, answer = post(port, "page", asking("page", limit=20, offset=10**12))
    assert status == 400 and "offset" in answer["error"], answer
    assert proc.poll() is None  # still running
    assert post(port, "count", asking("count")) == (200, ONE_DAY)


@pytest.mark.parametrize(
    ("what", "fields", "named"),
    [
        ("page", {"limit": -1}, "limit"),
        ("page", {"limit": "20"}, "limit"),
        ("page", {"limit": True}, "limit"),
        ("page", {"limit": 2.5}, "limit"),
        ("page", {"offset": 10**12}, "offset"),
        ("page", {"order": "id; DROP TABLE call"}, "order"),
        ("page", {"lo": -1}, "lo"),
        ("count", {"hi": 1 << 70}, "hi"),
        ("count", {"cap": -5}, "cap"),
        ("count", {"cap": "all"}, "cap"),
        ("hits", {"context": 99}, "context"),
        ("hits", {"found": [[1]]}, "found"),
        ("hits", {"found": [[1, None]] * 2000}, "found"),
        ("hits", {"found": [["x", None]]}, "found"),
        ("count", {"filters": {"nope": 1}}, "filters"),
        ("count", {"filters": {"date_from": "yesterday"}}, "date_from"),
        ("count", {"filters": {"agents": "A1"}}, "agents"),
        ("count", {"redacted": "no"}, "redacted"),
        ("day_counts", {"query": 3}, "query"),
    ],
)
def test_every_field_of_a_request_is_checked(hosts, what, fields, named):
    host = hosts()
    status, answer = post(host.port, what, asking(what, **fields))
    assert status == 400 and named in answer["error"], (status, answer)
    assert post(host.port, "count", asking("count")) == (200, ONE_DAY)


# malformed requests are a 4xx, never a traceback or a dropped connection ----------------------
AUTH = f"Authorization: Bearer {TOKEN}".encode()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (request("count", b"{not json", {"Content-Length": "9", "Authorization": f"Bearer {TOKEN}"}), 400),
        (request("count", b"[1, 2]", {"Content-Length": "6", "Authorization": f"Bearer {TOKEN}"}), 400),
        (request("count", b"[" * 60000, {"Content-Length": "60000", "Authorization": f"Bearer {TOKEN}"}), 400),
        (request("count", b"\xff\xfe{}", {"Content-Length": "4", "Authorization": f"Bearer {TOKEN}"}), 400),
        (request("count", b"{}", {"Content-Length": "2", "Authorization": b"Bearer \xff\xfe"}), 401),
        (request("count", b"{}", {"Content-Length": "2", "Authorization": "Bearer wrong"}), 401),
        (request("count", b"{}", {"Content-Length": "2"}), 401),
        (b"GET /nothing HTTP/1.0\r\n" + AUTH + b"\r\n\r\n", 404),
        (b"GET /\xe5\x88\x86\xe7\x89\x87 HTTP/1.0\r\n" + AUTH + b"\r\n\r\n", 404),
        (b"GET /count HTTP/x.y\r\n\r\n", 400),
        (b"GET /count HTTP/1.0 and more\r\n\r\n", 400),
    ],
    ids=[
        "not-json", "a-list", "nested-60000-deep", "not-utf8", "non-ascii-token", "wrong-token",
        "no-token", "no-such-question", "non-ascii-path", "bad-version", "bad-request-line",
    ],
)  # fmt: skip
def test_a_malformed_request_is_a_4xx(hosts, raw, expected):
    host = hosts()
    assert exchange(host.port, raw)[0] == expected
    assert post(host.port, "count", asking("count")) == (200, ONE_DAY)


def test_a_shard_or_a_question_the_host_does_not_serve_is_a_404(hosts):
    host = hosts()
    status, answer = post(host.port, "count", asking("count", key="1999-01-01"))
    assert status == 404 and "1999-01-01" in answer["error"]
    assert post(host.port, "drop_everything", asking("count"))[0] == 404


# F7: token and size before the body; bounded threads; stalled connections dropped ---------------
def test_the_token_is_checked_before_the_body_is_read(hosts):
    host = hosts()
    head = {"Authorization": "Bearer wrong", "Content-Length": str(500_000_000)}
    started = time.monotonic()
    status, answer = exchange(host.port, request("count", b"", head))
    assert status == 401 and TOKEN_ENV in answer["error"]
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Content-Length": str(2 << 20)}, 413),
        ({"Content-Length": "9" * 40}, 413),
        ({}, 411),
        ({"Transfer-Encoding": "chunked"}, 411),
        ({"Content-Length": "abc"}, 400),
        ({"Content-Length": "-5"}, 400),
        ({"Content-Length": b"\xb2"}, 400),  # a superscript two: a digit, not a number
    ],
    ids=["2-mib", "40-digits", "none", "chunked", "letters", "negative", "superscript"],
)
def test_the_size_of_a_body_is_checked_before_it_is_read(hosts, headers, expected):
    host = hosts()
    started = time.monotonic()
    status, answer = exchange(
        host.port, request("count", b"", {"Authorization": f"Bearer {TOKEN}", **headers})
    )
    assert status == expected and answer["error"]
    assert time.monotonic() - started < 2


def test_a_stalled_connection_is_dropped_after_the_timeout(hosts):
    host = hosts(timeout_s=0.5)
    started = time.monotonic()
    assert exchange(host.port, b"POST /count HTTP/1.0\r\nContent-Le", wait=3)[0] == 0  # closed
    slow_body = request(
        "count", b'{"key": ', {"Content-Length": "100", "Authorization": f"Bearer {TOKEN}"}
    )
    assert exchange(host.port, slow_body, wait=3)[0] == 408
    assert time.monotonic() - started < 3


def test_a_head_sent_a_byte_at_a_time_is_dropped_after_the_timeout_all_told(hosts):
    """Each byte restarts a socket's own timeout: the head as a whole has one deadline."""
    host = hosts(timeout_s=0.6)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", host.port), timeout=3) as sock:
        sock.settimeout(0.05)
        for byte in b"POST /count HTTP/1.0\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 40:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(64) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
    assert time.monotonic() - started < 1.5  # not the 4 s the trickle would take


def test_connections_beyond_the_limit_are_answered_503_and_threads_stay_bounded(hosts):
    host = hosts(connections=3, timeout_s=5.0)
    threads = threading.active_count()
    stalled = [socket.create_connection(("127.0.0.1", host.port), timeout=3) for _ in range(3)]
    try:
        for sock in stalled:
            sock.sendall(b"POST /count HTTP/1.0\r\n")  # and nothing more
        time.sleep(0.2)
        started = time.monotonic()
        for _ in range(60):
            with socket.create_connection(("127.0.0.1", host.port), timeout=3) as sock:
                assert sock.recv(1 << 16).startswith(b"HTTP/1.0 503")
        assert time.monotonic() - started < 5
        assert threading.active_count() <= threads + 3
    finally:
        for sock in stalled:
            sock.close()
    deadline = time.monotonic() + 3
    while post(host.port, "count", asking("count"))[0] == 503 and time.monotonic() < deadline:
        time.sleep(0.05)  # the stalled connections' threads end as their sockets close
    assert post(host.port, "count", asking("count")) == (200, ONE_DAY)


def test_the_connection_limit_and_timeout_of_the_config_reach_index_serve(cli_host):
    _, port = cli_host
    stalled = [socket.create_connection(("127.0.0.1", port), timeout=3) for _ in range(2)]
    try:
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            assert sock.recv(1 << 16).startswith(b"HTTP/1.0 503")  # shard_host_connections: 2
        started = time.monotonic()
        assert stalled[0].recv(1 << 16) == b""  # shard_host_timeout_s: 1
        assert time.monotonic() - started < 2.5
    finally:
        for sock in stalled:
            sock.close()


# F8: the answer is written after the index is let go ------------------------------------------
def test_a_slow_reader_does_not_hold_the_index(hosts, monkeypatch):
    host = hosts()
    writing, first = threading.Event(), threading.Lock()
    real_write = socketserver._SocketWriter.write

    def slow_write(self, data):
        if first.acquire(blocking=False):  # the first answer goes to a client that reads slowly
            writing.set()
            time.sleep(1.5)
        return real_write(self, data)

    monkeypatch.setattr(socketserver._SocketWriter, "write", slow_write)
    slow = threading.Thread(target=post, args=(host.port, "count", asking("count")))
    slow.start()
    assert writing.wait(3)
    started = time.monotonic()
    assert post(host.port, "count", asking("count")) == (200, ONE_DAY)
    assert time.monotonic() - started < 1.0
    slow.join(5)


# F9: a host that hangs costs a search the timeout, not 30 s -----------------------------------
class FakeHost:
    """A shard host that answers /shards as a real one and every other request as told:
    bytes, or `None` to hang (up to 3 s, then close)."""

    def __init__(self, answers: dict[str, bytes | None]):
        listing = json.dumps({"2026-09-01": [], "2026-10-01": []}).encode()
        answers = {"shards": listing} | answers
        self.asked: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                what = self.path.strip("/")
                fake.asked.append(what)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                data = answers.get(what, b"0")
                if data is None:
                    fake.release.wait(3)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args) -> None:
                pass

        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_host():
    made = []

    def make(answers: dict[str, bytes | None]) -> FakeHost:
        made.append(FakeHost(answers))
        return made[-1]

    yield make
    for fake in made:
        fake.close()


def test_a_hung_host_costs_a_search_its_configured_timeout(local, fake_host, tmp_path):
    hung = fake_host({"count": None})
    config = tmp_path / "searching.yaml"
    search = {
        "index": str(local),
        "remote_shards": {"2026-09-01": url_of(hung), "2026-10-01": url_of(hung)},
        "remote_timeout_s": 0.5,
    }
    config.write_text(yaml.safe_dump({"warehouse": str(tmp_path / "warehouse"), "search": search}))
    index = open_index(load_config(config), create=False)
    started = time.monotonic()
    result = index.search(QUERY)
    assert time.monotonic() - started < 2
    assert result.total == ONE_DAY
    assert {shard["key"] for shard in result.missing_shards} == {"2026-09-01", "2026-10-01"}
    assert "did not answer within 0.5 s" in result.warnings[0]
    assert hung.asked.count("count") == 2  # each shard at once; neither asked twice
    started = time.monotonic()
    assert index.search(QUERY).missing_shards and time.monotonic() - started < 0.5
    assert hung.asked.count("count") == 2  # skipped in its cool-down


def test_a_hung_host_fails_a_strict_search_in_the_timeout(local, fake_host):
    hung = fake_host({"count": None})
    strict = RemoteOptions(timeout_s=0.5, partial=False)
    started = time.monotonic()
    with pytest.raises(ShardUnavailable, match=f"{url_of(hung)} did not answer within 0.5 s"):
        searching(local, hung, strict).search(QUERY)
    assert time.monotonic() - started < 2


# F10: retried once, skipped for a cool-down, tried again, and always named ---------------------
def test_a_host_that_fails_is_named_skipped_for_the_cooldown_then_asked_again(local, hosts):
    host = hosts()
    port = host.port
    index = searching(local, host, RemoteOptions(timeout_s=2.0, cooldown_s=1.0, partial=True))
    whole = index.search(QUERY, limit=100)
    assert (whole.total, whole.missing_shards, whole.warnings) == (EVERY_DAY, [], [])
    stop(host)
    for _ in range(2):  # the failure, then the cool-down: the same shards named each time
        partial = index.search(QUERY, limit=100)
        assert partial.total == ONE_DAY
        assert [(s["key"], s["host"]) for s in partial.missing_shards] == [
            ("2026-09-01", url_of(host)),
            ("2026-10-01", url_of(host)),
        ]
        [warning] = partial.warnings
        assert warning.startswith("results incomplete") and url_of(host) in warning
        assert "cannot be reached" in warning
        assert partial.as_dict()["missing_shards"] == partial.missing_shards
    assert "skipped until it is tried again" in partial.missing_shards[0]["reason"]
    hosts(port=port)  # back, but still in its cool-down
    assert index.search(QUERY).missing_shards
    time.sleep(1.1)
    again = index.search(QUERY, limit=100)
    assert (again.total, again.missing_shards, again.warnings) == (EVERY_DAY, [], [])


def test_a_failed_contact_is_not_kept_for_later_searches(local, hosts):
    host = hosts()
    port = host.port
    stop(host)
    index = searching(local, host, RemoteOptions(timeout_s=2.0, cooldown_s=0.2, partial=False))
    with pytest.raises(ShardUnavailable, match=f"{url_of(host)} cannot be reached"):
        index.search(QUERY)
    with pytest.raises(ShardUnavailable, match="skipped until it is tried again"):
        index.search(QUERY)
    hosts(port=port)
    time.sleep(0.3)
    assert index.search(QUERY).total == EVERY_DAY  # not the local shard alone


def test_a_failure_is_retried_once(local, hosts):
    host = hosts()
    dropped = []
    serve = host.server.process_request

    def drop_the_first(request, client_address):
        if not dropped:
            dropped.append(client_address)
            host.server.shutdown_request(request)
            return
        serve(request, client_address)

    host.server.process_request = drop_the_first
    result = searching(local, host).search(QUERY)
    assert len(dropped) == 1
    assert (result.total, result.missing_shards) == (EVERY_DAY, [])


def test_day_counts_fail_naming_a_host_that_does_not_answer(local, hosts):
    host = hosts()
    index = searching(local, host)
    assert sum(index.day_counts(QUERY).values()) == EVERY_DAY
    stop(host)
    for _ in range(2):
        with pytest.raises(ShardUnavailable, match=url_of(host)):
            index.day_counts(QUERY)


# F12: a host's hits are redacted again for roles without personal data ---------------------------
PHONE = "13800138000"


def test_hits_from_a_host_are_redacted_again(local, hosts):
    host = hosts()
    answer = host.answer

    marked = []

    def outdated_host(what, asked):  # a host that redacts by older rules, or not at all
        rows = answer(what, asked)
        if what != "hits":
            return rows
        for row in rows:
            at = len(f"我的号码是{PHONE}，")
            row |= {"text": f"我的号码是{PHONE}，{QUERY}", "highlights": [[at, at + len(QUERY)]]}
            row["before"] = [{"speaker": "agent", "start_s": 0.0, "text": f"记下了{PHONE}"}]
        if not marked:
            rows[0]["highlights"] = [[5, 5 + len(PHONE)]]  # one match inside the number
            marked.append(rows[0]["call_id"])
        return rows

    host.answer = outdated_host
    index = searching(local, host)
    shown = index.search(QUERY, limit=100, sort="oldest", redacted=True).hits
    remote = [hit for hit in shown if hit.date < "2026-11-01"]
    assert len(remote) == EVERY_DAY - ONE_DAY - 1  # the hit that matched the number is gone
    for hit in remote:
        assert PHONE not in hit.text and PHONE not in hit.before[0]["text"]
        assert [hit.text[start:end] for start, end in hit.highlights] == [QUERY]
    supervisor = index.search(QUERY, limit=100, sort="oldest").hits
    assert sum(PHONE in hit.text for hit in supervisor) == EVERY_DAY - ONE_DAY


# F13: a malformed answer is that host failing, never a 500 --------------------------------------
def test_an_answer_with_fields_this_version_does_not_know_is_read(local, hosts):
    host = hosts()
    answer = host.answer

    def newer_host(what, asked):
        rows = answer(what, asked)
        if what == "hits":
            for row in rows:
                row |= {"sentiment": -0.4, "speaker_name": "王"}
                row["after"] = [line | {"emotion": "calm"} for line in row["after"]]
        return rows

    host.answer = newer_host
    result = searching(local, host).search(QUERY, limit=100, context=1)
    assert (result.total, len(result.hits), result.missing_shards) == (EVERY_DAY, EVERY_DAY, [])
    remote = [hit for hit in result.hits if hit.date < "2026-11-01"]
    assert len(remote) == EVERY_DAY - ONE_DAY
    assert all(set(hit.after[0]) == {"speaker", "start_s", "text"} for hit in remote)


def hit_with(**changes) -> bytes:
    row = {
        "call_id": "c1", "date": "2026-09-29", "agent_id": "A1", "queue": "q", "speaker": "agent",
        "idx": 0, "start_s": 0.0, "end_s": 1.0, "hit_s": 0.5, "text": QUERY,
        "highlights": [[0, 2]], "before": [], "after": [], "categories": [], "score": None,
    }  # fmt: skip
    return json.dumps([row | changes]).encode()


@pytest.mark.parametrize(
    "answers",
    [
        {"count": b'"12"'},
        {"count": b"-3"},
        {"count": b"not json"},
        {"count": b"[" * 100_000},
        {"count": b"{}"},
        {"count": b"6", "page": b"[[1, 2, 3]]"},
        {"count": b"6", "page": b'[["1", null]]'},
        {"count": b"6", "page": json.dumps([[1, None]] * 200).encode()},  # 94 asked
        {"count": b"6", "page": b"[[1, null]]", "hits": hit_with(idx="3")},
        {"count": b"6", "page": b"[[1, null]]", "hits": hit_with(highlights=[[0, 99]])},
        {"count": b"6", "page": b"[[1, null]]", "hits": hit_with(before="none")},
        {"count": b"6", "page": b"[[1, null]]", "hits": b"[null, null]"},
        {"count": b"6", "page": b"[[1, null]]", "hits": json.dumps([{"text": "x"}]).encode()},
        {"shards": b'{"2026-09-01": "all"}'},
        {"shards": b"[]"},
    ],
    ids=[
        "count-a-string", "count-negative", "count-not-json", "count-nested-deep", "count-object",
        "page-triples", "page-string-rowid", "page-longer-than-asked", "hit-idx-a-string",
        "hit-highlight-outside", "hit-context-a-string", "hits-more-than-asked",
        "hit-fields-missing", "shards-confusions-a-string", "shards-a-list",
    ],
)  # fmt: skip
def test_a_malformed_answer_leaves_that_host_out_by_name(local, fake_host, answers):
    bad = fake_host(answers)
    result = searching(local, bad).search(QUERY, sort="newest", limit=100)
    assert result.total == ONE_DAY and len(result.hits) == ONE_DAY
    assert {shard["host"] for shard in result.missing_shards} == {url_of(bad)}
    assert "results incomplete" in result.warnings[0]


def test_a_malformed_answer_fails_a_strict_search_as_the_index_not_the_server(local, fake_host):
    bad = fake_host({"count": b'{"count": 12}'})
    strict = dataclasses.replace(FAST, partial=False)
    with pytest.raises(SearchIndexError, match="malformed answer to count"):
        searching(local, bad, strict).search(QUERY)


def test_the_cli_prints_which_shards_were_left_out(local, fake_host, capsys):
    from callscope.cli_keywords import _print_hits

    bad = fake_host({"count": b"not json"})
    _print_hits(searching(local, bad).search(QUERY, sort="newest", limit=5), page=1)
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("warning: results incomplete") and url_of(bad) in first


def test_a_host_refuses_a_short_token_and_serves_on_ipv6_loopback(host_index):
    from callscope.core.errors import CallscopeError

    with pytest.raises(CallscopeError, match="too short: use at least 16"):
        ShardHost(host_index, "127.0.0.1", 0, "x")
    try:
        host = ShardHost(host_index, "::1", 0, TOKEN)
    except OSError as exc:  # a machine without IPv6
        pytest.skip(f"no IPv6 loopback here: {exc}")
    threading.Thread(target=host.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(("::1", host.port), timeout=3) as sock:
            body = json.dumps(asking("count")).encode()
            head = {"Authorization": f"Bearer {TOKEN}", "Content-Length": str(len(body))}
            sock.sendall(request("count", body, head))
            assert sock.recv(64).startswith(b"HTTP/1.0 200")
    finally:
        stop(host)
