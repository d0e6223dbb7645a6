"""The web app under load, each finding of the re-audit checked on the real app: a sign-in
flood from many addresses hashes at most a few passwords at once and is refused quickly
beyond that; each user's searches are limited per minute and one at a time; 503 pages name
no server path; a 500 keeps its connection and its security headers; uvicorn's own answers
to malformed requests carry them too."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from callscope.web import auth as web_auth
from callscope.web.app import SESSION_COOKIE
from callscope.web.auth import UserStore

from tests.web_support import PASSWORD, SECRET, make_app, sign_in

PROXY = ("127.0.0.1", 5000)  # the trusted proxy every test request comes through


class ScryptSpy:
    """hashlib.scrypt, counting calls and how many run at once (each made `delay_s` longer,
    so that concurrent checks overlap for sure)."""

    def __init__(self, real, delay_s: float):
        self.real, self.delay_s = real, delay_s
        self.lock = threading.Lock()
        self.calls = self.running = self.most = 0

    def __call__(self, *args, **kwargs):
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.delay_s)
            return self.real(*args, **kwargs)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def scrypt_spy(monkeypatch):
    spy = ScryptSpy(web_auth.hashlib.scrypt, delay_s=0.15)
    monkeypatch.setattr(web_auth.hashlib, "scrypt", spy)
    return spy


@pytest.fixture
def member(web_warehouse):
    """A supervisor of this test only."""
    name = f"load-{uuid.uuid4().hex[:8]}"
    users = UserStore(web_warehouse.settings.web_dir / "users.json")
    users.add(name, "supervisor", PASSWORD)
    yield name
    users.remove(name)


def proxied_app(built, **web):
    return make_app(built, SECRET, trusted_proxies=["127.0.0.0/8"], **web)


async def _login_token(http: httpx.AsyncClient) -> str:
    page = await http.get("/login")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


async def _attempt(http, token: str, name: str, password: str, address: str):
    started = time.perf_counter()
    response = await http.post(
        "/login",
        data={"name": name, "password": password, "csrf": token},
        headers={"X-Forwarded-For": address},
    )
    return response, time.perf_counter() - started


def flood(app, attempts: list[tuple[str, str, str]]) -> list[tuple[httpx.Response, float]]:
    """Every (name, password, address) sign-in sent at once; the answers and their times."""

    async def scenario():
        transport = httpx.ASGITransport(app=app, client=PROXY)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            token = await _login_token(http)
            return await asyncio.gather(*(_attempt(http, token, *attempt) for attempt in attempts))

    return asyncio.run(scenario())


# F16: the server's password-hashing work is bounded --------------------------------------
def test_a_sign_in_flood_from_many_addresses_hashes_at_most_n_at_once(
    web_warehouse, member, scrypt_spy
):
    app = proxied_app(
        web_warehouse,
        login_hash_slots=2,
        login_hash_queue=2,
        login_hash_wait_s=10,
        login_hashes_per_second=1000,
    )
    attempts = [(f"nobody{i}", "wrong password", f"192.0.2.{i + 1}") for i in range(40)]
    answers = flood(app, attempts)
    codes = [response.status_code for response, _ in answers]
    assert scrypt_spy.most <= 2, f"{scrypt_spy.most} password checks ran at once"
    refused = [(r, s) for r, s in answers if r.status_code == 503]
    assert len(refused) >= 40 - 4 * 2, codes  # a slot or the queue for a few, then none
    assert scrypt_spy.calls == codes.count(401), "a refused sign-in was hashed"
    assert set(codes) <= {401, 503}
    for response, seconds in refused:
        assert "Too many sign-ins at once: try again in a few seconds" in response.text
        assert 1 <= int(response.headers["retry-after"]) <= 10
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
        assert 'id="login-form"' in response.text  # the form, to try again
        assert seconds < 1.0, f"a refusal took {seconds:.2f} s"
    ((response, _),) = flood(app, [(member, PASSWORD, "192.0.2.200")])
    assert response.status_code == 303, "the flood is over: a real user signs in"


def test_sign_ins_waiting_longer_than_the_bound_are_refused(web_warehouse, scrypt_spy):
    app = proxied_app(
        web_warehouse,
        login_hash_slots=1,
        login_hash_queue=10,
        login_hash_wait_s=0.2,
        login_hashes_per_second=1000,
    )
    answers = flood(app, [(f"slow{i}", "wrong password", f"198.51.100.{i}") for i in range(6)])
    codes = [response.status_code for response, _ in answers]
    assert scrypt_spy.most == 1
    assert 401 in codes and 503 in codes, codes
    assert scrypt_spy.calls == codes.count(401)
    assert max(seconds for r, seconds in answers if r.status_code == 503) < 1.5


def test_password_checks_per_second_are_bounded_for_everyone(web_warehouse, scrypt_spy):
    app = proxied_app(web_warehouse, login_hashes_per_second=0.3, login_hash_queue=50)
    attempts = [(f"sprayed{i}", "wrong password", f"203.0.113.{i + 1}") for i in range(10)]
    answers = flood(app, attempts)  # 3 checks in any 10 s
    codes = sorted(response.status_code for response, _ in answers)
    assert codes == [401] * 3 + [503] * 7
    assert scrypt_spy.calls == 3
    refused = next(r for r, _ in answers if r.status_code == 503)
    assert 1 <= int(refused.headers["retry-after"]) <= 10


def test_the_hashing_gate_lets_checks_through_again_once_the_window_moved_on():
    from callscope.web.errors import Busy
    from callscope.web.pressure import HashingGate

    gate = HashingGate(slots=1, queue=0, wait_s=1, per_second=2, window_s=1)

    async def checks(count: int) -> list[str]:
        results = []
        for _ in range(count):
            try:
                results.append(await gate.run(lambda: "checked"))
            except Busy as exc:
                results.append(f"busy {exc.retry_after_s:g}")
        return results

    assert asyncio.run(checks(3)) == ["checked", "checked", "busy 1"]
    time.sleep(1.1)
    assert asyncio.run(checks(1)) == ["checked"]


def test_sign_in_load_settings_are_validated():
    from callscope.core.config import load_config
    from callscope.core.errors import ConfigError

    web = load_config(None).web
    assert (web.login_hash_slots, web.login_hashes_per_second) == (1, 5.0)
    for bad in ({"login_hash_slots": 0}, {"login_hash_wait_s": 0}, {"login_hashes_per_second": 0}):
        with pytest.raises(ConfigError, match=f"web.{next(iter(bad))}"):
            load_config(None, web=bad)


# F17: each user's searches are limited ----------------------------------------------------
@pytest.fixture
def two_members(web_warehouse):
    """Two supervisors of this test only."""
    users = UserStore(web_warehouse.settings.web_dir / "users.json")
    names = [f"load-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for name in names:
        users.add(name, "supervisor", PASSWORD)
    yield names
    for name in names:
        users.remove(name)


class SlowSearch:
    """services.search made `delay_s` longer, counting how many of each user's run at once."""

    def __init__(self, real, delay_s: float):
        self.real, self.delay_s = real, delay_s
        self.lock = threading.Lock()
        self.running: dict[str, int] = {}
        self.most: dict[str, int] = {}

    def __call__(self, ctx, user, sp):
        with self.lock:
            self.running[user.name] = self.running.get(user.name, 0) + 1
            self.most[user.name] = max(self.most.get(user.name, 0), self.running[user.name])
        try:
            time.sleep(self.delay_s)
            return self.real(ctx, user, sp)
        finally:
            with self.lock:
                self.running[user.name] -= 1


def session_of(app, name: str) -> str:
    return sign_in(app, name).cookies[SESSION_COOKIE]


def slow_search(monkeypatch, delay_s: float) -> SlowSearch:
    from callscope.web import services

    spy = SlowSearch(services.search, delay_s)
    monkeypatch.setattr(services, "search", spy)
    return spy


def at_once(app, requests: list[tuple[str, str]]) -> list[tuple[httpx.Response, float]]:
    """Every (session cookie, url) GET sent at once; the answers and their times."""

    async def one(http: httpx.AsyncClient, cookie: str, url: str):
        started = time.perf_counter()
        response = await http.get(url, headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
        return response, time.perf_counter() - started

    async def scenario():
        transport = httpx.ASGITransport(app=app, client=PROXY)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await asyncio.gather(*(one(http, cookie, url) for cookie, url in requests))

    return asyncio.run(scenario())


def test_each_users_searches_per_minute_are_limited_for_pages_and_the_api(
    web_warehouse, two_members
):
    app = proxied_app(web_warehouse, search_per_minute=3)
    heavy, other = (sign_in(app, name) for name in two_members)
    assert [heavy.get("/api/search", params={"q": "退款"}).status_code for _ in range(3)] == [
        200
    ] * 3
    api = heavy.get("/api/search", params={"q": "退款"})
    assert api.status_code == 429
    assert api.json()["error"].startswith("Too many searches: at most 3 a minute for each user")
    assert 1 <= int(api.headers["retry-after"]) <= 60
    assert api.headers["content-security-policy"].startswith("default-src 'self'")
    page = heavy.get("/search", params={"q": "退款"})
    assert page.status_code == 429 and 'id="search-error"' in page.text
    assert "Too many searches" in page.text and "retry-after" in page.headers
    assert heavy.get("/api/saved/abc/calls").status_code == 429  # a saved query's matches
    assert heavy.get("/saved/abc").status_code == 429
    assert heavy.get("/search").status_code == 200  # the empty form is no search
    assert other.get("/api/search", params={"q": "退款"}).status_code == 200
    assert other.get("/search", params={"q": "退款"}).status_code == 200


def test_one_search_at_a_time_per_user_others_go_on(web_warehouse, two_members, monkeypatch):
    app = proxied_app(web_warehouse, search_wait_s=0.3)
    heavy, other = (session_of(app, name) for name in two_members)
    spy = slow_search(monkeypatch, delay_s=1.0)
    url = "/api/search?q=%E9%80%80%E6%AC%BE"
    answers = at_once(app, [(heavy, url), (heavy, url), (heavy, "/search?q=x"), (other, url)])
    mine, theirs = answers[:3], answers[3]
    assert sorted(r.status_code for r, _ in mine) == [200, 429, 429]
    assert spy.most[two_members[0]] == 1
    for response, seconds in mine:
        if response.status_code == 429:
            assert "Your earlier search is still running" in response.text
            assert response.headers["retry-after"] == "1"
            assert seconds < 0.9, "the refused search waited for the running one"
    assert theirs[0].status_code == 200
    assert theirs[1] < 1.9, "another user's search waited for this user's"


def test_a_second_search_waits_its_turn_within_the_bound(web_warehouse, member, monkeypatch):
    app = proxied_app(web_warehouse, search_wait_s=5)
    cookies = session_of(app, member)
    spy = slow_search(monkeypatch, delay_s=0.4)
    answers = at_once(app, [(cookies, "/api/search?q=%E5%AE%BD%E5%B8%A6")] * 2)
    assert [r.status_code for r, _ in answers] == [200, 200]
    assert spy.most[member] == 1
    assert max(seconds for _, seconds in answers) >= 0.8  # the second ran after the first


# 503 pages and answers name no server path -----------------------------------------------
def test_a_503_names_no_relative_server_path_to_any_role(web_warehouse, tmp_path, monkeypatch):
    from callscope.web.app import create_app

    monkeypatch.chdir(tmp_path)  # the settings name folders relative to where the server runs
    settings = web_warehouse.settings
    moved = settings.model_copy(
        update={"search": settings.search.model_copy(update={"index": Path("moved/search")})}
    )
    app = create_app(moved, recordings=web_warehouse.recordings, secret=SECRET)
    for role in ("marketing", "analyst", "supervisor"):
        client = sign_in(app, role)
        for url in ("/api/search?q=退款", "/search?q=退款"):
            response = client.get(url)
            assert response.status_code == 503, (role, url)
            assert "moved" not in response.text, (role, url, response.text[:300])
            assert "search index" in response.text


def test_an_unreadable_saved_queries_file_under_a_relative_warehouse(tmp_path, monkeypatch):
    from callscope.core.config import load_config
    from callscope.web.app import create_app

    monkeypatch.chdir(tmp_path)
    settings = load_config(None, warehouse=tmp_path / "wh")
    settings = settings.model_copy(update={"warehouse": Path("wh")})  # as the server runs it
    UserStore(settings.web_dir / "users.json").add("lee", "supervisor", PASSWORD)
    (settings.web_dir / "saved_queries.json").write_text("not json")
    client = sign_in(create_app(settings, secret=SECRET), "lee")
    for url in ("/api/saved", "/search"):
        response = client.get(url)
        assert response.status_code == 503, url
        assert "wh/" not in response.text and "saved_queries.json" not in response.text, url
        assert "saved-queries file" in response.text


@pytest.mark.parametrize(
    ("message", "kept"),
    [
        ("no search index at warehouse/search; run `callscope index update`", "run `callscope"),
        ("the search index /srv/call data/wh/search/2026-11.1.sqlite is locked", "is locked"),
        ("[Errno 13] Permission denied: 'wh/web/saved_queries.json'", "Permission denied"),
        (r"wh\web\users.json: bad; C:\data\wh too", "bad;"),
        ("./wh/x, ../y and ~/z", " and "),
        ("index.sqlite-wal and manifest.json cannot be read", "cannot be read"),
        ("the host http://10.0.0.5:8080/search did not answer", "did not answer"),
    ],
)
def test_paths_absolute_or_relative_are_taken_out_of_public_messages(message, kept):
    from callscope.web.errors import without_paths

    shown = without_paths(message)
    assert kept in shown and "(a path on the server)" in shown
    for word in ("warehouse/", "/srv", "wh/", "wh\\", "C:", ".sqlite", ".json", "10.0.0.5"):
        assert word not in shown, (word, shown)


def test_settings_and_dates_in_public_messages_stay():
    from callscope.web.errors import without_paths

    message = (
        "set search.index or web.trusted_proxies, e.g. 10.5 MB free on 2026-11-20; the calls "
        "table of 2026-11-20 cannot be read; an administrator must restore it"
    )
    assert without_paths(message) == message


# a real server: 500s keep the connection, uvicorn's 400s carry the headers ---------------
@contextmanager
def running(app, http="h11"):
    """`app` under uvicorn on a free loopback port, in a thread; its port."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", http=http)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 answer (with a Content-Length) from `sock`: status, headers, body."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            raise ConnectionError(f"the server closed the connection after {data[:80]!r}")
        data += part
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    size = int(headers.get("content-length", "0"))
    while len(body) < size:
        part = sock.recv(65536)
        if not part:
            raise ConnectionError("the server closed the connection inside an answer")
        body += part
    return int(lines[0].split()[1]), headers, body


def get(sock: socket.socket, path: str) -> tuple[int, dict[str, str], bytes]:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return read_answer(sock)


@pytest.fixture
def failing_app(web_warehouse):
    app = make_app(web_warehouse, SECRET)

    def boom():
        raise RuntimeError("/secret/path/of/the/server")

    app.add_api_route("/api/boom", boom)
    app.add_api_route("/boom", boom)
    return app


def test_an_unexpected_error_answers_500_and_keeps_the_connection(failing_app, caplog):
    with running(failing_app) as port, socket.create_connection(("127.0.0.1", port), 5) as sock:
        for path in ("/boom", "/api/boom"):
            status, headers, body = get(sock, path)
            assert status == 500
            assert headers["content-security-policy"].startswith("default-src 'self'")
            assert headers["x-frame-options"] == "DENY"
            assert headers.get("connection") != "close"
            assert b"internal error" in body and b"/secret/path" not in body
            status, _, body = get(sock, "/healthz")  # the same connection, still open
            assert (status, body) == (200, b'{"ok":true}')
    logged = [r for r in caplog.records if r.name == "callscope.web.app" and r.exc_info]
    assert logged and "/secret/path" in str(logged[0].exc_info[1])


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",  # no Host
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad\x00: y\r\n\r\n",
    b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
]


def test_uvicorns_own_400_carries_the_security_headers(failing_app):
    from callscope.web.server import protocol

    with running(failing_app, protocol(5.0)) as port:
        for request in MALFORMED:
            with socket.create_connection(("127.0.0.1", port), 5) as sock:
                sock.sendall(request)
                status, headers, body = read_answer(sock)
                assert status == 400, request
                assert headers["content-security-policy"].startswith("default-src 'self'")
                assert headers["x-content-type-options"] == "nosniff"
                assert headers["x-frame-options"] == "DENY"
                assert headers["connection"] == "close"
                assert int(headers["content-length"]) == len(body) > 0
                assert sock.recv(100) == b""  # and closed


def test_a_stalled_request_head_is_closed_after_the_timeout(failing_app):
    from callscope.web.server import protocol

    with running(failing_app, protocol(0.5)) as port:
        silent = socket.create_connection(("127.0.0.1", port), 5)
        partial = socket.create_connection(("127.0.0.1", port), 5)
        kept = socket.create_connection(("127.0.0.1", port), 5)
        with silent, partial, kept:
            partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            assert get(kept, "/healthz")[0] == 200
            started = time.monotonic()
            assert partial.recv(100) == b""  # closed, no answer
            assert silent.recv(100) == b""
            assert time.monotonic() - started < 3
            kept.sendall(b"GET /healthz HTTP/1.1\r\n")  # a slow head, but within the limit
            time.sleep(0.2)
            kept.sendall(b"Host: 127.0.0.1\r\n\r\n")
            assert read_answer(kept)[0] == 200


def test_callscope_serve_uses_the_secure_protocol(web_warehouse, monkeypatch):
    import uvicorn
    from callscope.web.server import SecureH11Protocol
    from typer.testing import CliRunner

    from callscope.cli import app as cli

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    monkeypatch.setenv("CALLSCOPE_WEB__REQUEST_HEAD_TIMEOUT_S", "7")
    warehouse = str(web_warehouse.settings.warehouse)
    result = CliRunner().invoke(cli, ["serve", "--warehouse", warehouse, "--port", "8089"])
    assert result.exit_code == 0, result.output
    assert issubclass(seen["http"], SecureH11Protocol) and seen["http"].head_timeout_s == 7
    assert (seen["port"], seen["proxy_headers"]) == (8089, False)


def test_a_client_gone_before_its_body_was_read_is_no_error(failing_app, caplog):
    """uvicorn refuses a bad chunk of a body (its own 400) while the route reads it: the
    route's read ends with a disconnect, which is logged as no error and answered nothing."""
    sent = []

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/login",
        "raw_path": b"/login",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }
    asyncio.run(failing_app(scope, receive, send))
    assert not [m for m in sent if m["type"] == "http.response.start"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_uvicorns_warnings_about_unparsable_requests_are_thinned():
    import logging

    from callscope.web.server import EveryTenSeconds

    thinned = EveryTenSeconds("Invalid HTTP request received.", every_s=60)

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, message, (), None)

    floods = [record("Invalid HTTP request received.") for _ in range(5)]
    assert [thinned.filter(r) for r in floods] == [True, False, False, False, False]
    assert thinned.filter(record("Exceeded concurrency limit."))
    thinned._last -= 61
    later = record("Invalid HTTP request received.")
    assert thinned.filter(later)
    assert later.getMessage() == "Invalid HTTP request received. (5 since the last such line)"
