"""Hardening of the web app: server-side sessions that end at sign-out, on a new password or
role and on removal, across restarts and from the CLI, with idle and absolute expiry; sign-in
limits per client and per name from one client, with the password check off the event loop;
bad cookies, Host headers, unexpected errors and unreadable files answered safely."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sqlite3
import threading
import time
import uuid

import httpx
import pytest
from callscope.core.config import load_config
from callscope.core.errors import ConfigError
from callscope.web.app import SESSION_COOKIE, create_app
from callscope.web.auth import UserStore
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from callscope.cli import app as cli
from tests.web_support import PASSWORD, SECRET, csrf, form_token, make_app, sign_in

NEW_PASSWORD = "a brand new password"
CSP_START = "default-src 'self'"


@pytest.fixture
def user(web_warehouse):
    """A supervisor of this test only."""
    name = f"sec-{uuid.uuid4().hex[:8]}"
    users = UserStore(web_warehouse.settings.web_dir / "users.json")
    users.add(name, "supervisor", PASSWORD)
    yield name
    users.remove(name)


@pytest.fixture
def app(web_warehouse):
    return make_app(web_warehouse)


def me(app, cookie: str) -> int:
    return TestClient(app, cookies={SESSION_COOKIE: cookie}).get("/api/me").status_code


def users_cli(built, *args: str):
    result = CliRunner().invoke(cli, ["users", *args, "--warehouse", str(built.settings.warehouse)])
    assert result.exit_code == 0, result.output
    return result.output


def attempt(client: TestClient, name: str, password: str, token: str, next_url: str = ""):
    data = {"name": name, "password": password, "csrf": token, "next": next_url}
    return client.post("/login", data=data)


def sessions_db(built) -> sqlite3.Connection:
    return sqlite3.connect(built.settings.web_dir / "sessions.sqlite", isolation_level=None)


# sessions --------------------------------------------------------------------------------
def test_a_signed_out_cookie_stays_dead_after_a_restart(web_warehouse, app, user):
    client, other = sign_in(app, user), sign_in(app, user)
    cookie = client.cookies[SESSION_COOKIE]
    assert client.post("/logout", data={"csrf": csrf(client)}).status_code == 303
    restarted = make_app(web_warehouse)
    assert me(restarted, cookie) == 401
    assert me(restarted, other.cookies[SESSION_COOKIE]) == 200  # the other session lives on


def test_a_new_password_from_the_cli_ends_every_session_of_that_user(
    web_warehouse, app, user, monkeypatch
):
    cookies = [sign_in(app, user).cookies[SESSION_COOKIE] for _ in range(2)]
    bystander = sign_in(app, "analyst").cookies[SESSION_COOKIE]
    monkeypatch.setenv("SEC_PASSWORD", NEW_PASSWORD)
    output = users_cli(
        web_warehouse, "add", user, "--role", "supervisor", "--password-env", "SEC_PASSWORD",
        "--replace",
    )  # fmt: skip
    assert "2 sessions ended" in output
    for server in (app, make_app(web_warehouse)):
        assert [me(server, cookie) for cookie in cookies] == [401, 401]
        assert me(server, bystander) == 200
    assert sign_in(app, user, NEW_PASSWORD).get("/api/me").status_code == 200


def test_removing_and_adding_a_user_again_revives_no_session(web_warehouse, app, user):
    cookie = sign_in(app, user).cookies[SESSION_COOKIE]
    users = UserStore(web_warehouse.settings.web_dir / "users.json")
    users.remove(user)  # as a second process would: the server only sees the files
    users.add(user, "supervisor", PASSWORD)
    assert me(app, cookie) == 401
    assert me(make_app(web_warehouse), cookie) == 401


def test_remove_and_add_from_the_cli_end_sessions_at_once(web_warehouse, app, user, monkeypatch):
    cookie = sign_in(app, user).cookies[SESSION_COOKIE]
    removed = users_cli(web_warehouse, "remove", user)
    monkeypatch.setenv("SEC_PASSWORD", PASSWORD)
    users_cli(web_warehouse, "add", user, "--role", "supervisor", "--password-env", "SEC_PASSWORD")
    assert me(app, cookie) == 401
    assert "1 session ended" in removed


def test_a_role_change_ends_sessions_even_when_changed_back(web_warehouse, app, user):
    cookie = sign_in(app, user).cookies[SESSION_COOKIE]
    users = UserStore(web_warehouse.settings.web_dir / "users.json")
    users.add(user, "marketing", PASSWORD, replace=True)
    users.add(user, "supervisor", PASSWORD, replace=True)
    assert me(app, cookie) == 401


def test_the_cookie_holds_only_a_signed_random_id(web_warehouse, app, user):
    cookie = sign_in(app, user).cookies[SESSION_COOKIE]
    sid, _ = cookie.split(".")
    assert len(sid) >= 40 and user not in cookie and "supervisor" not in cookie
    db = sessions_db(web_warehouse)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    keys = [row[0] for row in db.execute("SELECT key FROM session WHERE name = ?", (user,))]
    assert len(keys) == 1 and sid not in keys[0]  # the id itself is not stored
    data = (web_warehouse.settings.web_dir / "sessions.sqlite").read_bytes()
    assert sid.encode() not in data


def test_idle_and_absolute_expiry(web_warehouse, user):
    app = make_app(web_warehouse, session_idle_minutes=30, session_hours=8)
    db = sessions_db(web_warehouse)
    cookie = sign_in(app, user).cookies[SESSION_COOKIE]
    db.execute("UPDATE session SET last_seen = last_seen - 29 * 60 WHERE name = ?", (user,))
    assert me(app, cookie) == 200  # a request restarts the idle clock
    last_seen = db.execute("SELECT last_seen FROM session WHERE name = ?", (user,)).fetchone()[0]
    assert last_seen > time.time() - 60
    db.execute("UPDATE session SET last_seen = last_seen - 31 * 60 WHERE name = ?", (user,))
    assert me(app, cookie) == 401
    cookie = sign_in(app, user).cookies[SESSION_COOKIE]
    db.execute("UPDATE session SET expires = ? WHERE name = ?", (time.time() - 1, user))
    assert me(app, cookie) == 401


def test_session_settings_are_validated():
    web = load_config(None, web={"session_idle_minutes": 15, "session_hours": 2}).web
    assert (web.session_idle_minutes, web.session_hours) == (15, 2)
    for bad in (
        {"session_idle_minutes": 0},
        {"session_hours": 0},
        {"login_client_attempts": 0},
        {"trusted_proxies": ["not-an-address"]},
    ):
        with pytest.raises(ConfigError, match=f"web.{next(iter(bad))}"):
            load_config(None, web=bad)


def sign_ins_in_threads(path, rounds: int, check: bool) -> list[Exception]:
    """Eight threads signing in and out through two stores of one sessions file."""
    from callscope.web.auth import SessionSigner, SessionStore, User

    stores = [SessionStore(path, idle_s=600), SessionStore(path, idle_s=600)]
    signer = SessionSigner(SECRET, 3600)
    errors: list[Exception] = []

    def work(n: int) -> None:
        try:
            for i in range(rounds):
                _, session = signer.issue(User(f"u{n}", "analyst", "stamp"))
                stores[i % 2].add(session)
                if check:
                    assert stores[(i + 1) % 2].get(session.sid).name == f"u{n}"
                stores[(i + 1) % 2].end(session.sid)
                if check:
                    assert stores[i % 2].get(session.sid) is None
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def test_sessions_are_shared_by_processes_and_threads(tmp_path):
    assert sign_ins_in_threads(tmp_path / "sessions.sqlite", rounds=25, check=True) == []


def test_servers_starting_together_on_a_new_sessions_file_all_open_it(tmp_path):
    for round_ in range(40):
        path = tmp_path / f"sessions{round_}.sqlite"
        assert sign_ins_in_threads(path, rounds=4, check=False) == [], f"round {round_}"


# sign-in limits --------------------------------------------------------------------------
def test_failed_sign_ins_pause_a_name_only_from_that_client(web_warehouse, user):
    app = make_app(web_warehouse, login_attempts=5)
    attacker = TestClient(app, follow_redirects=False, client=("203.0.113.5", 5000))
    token = form_token(attacker)
    codes = [attempt(attacker, user, "wrong password", token).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    refused = attempt(attacker, user, PASSWORD, token)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 300
    assert "Too many sign-in attempts" in refused.text
    assert refused.headers["content-security-policy"].startswith(CSP_START)
    owner = TestClient(app, follow_redirects=False, client=("203.0.113.6", 5000))
    assert attempt(owner, user, PASSWORD, form_token(owner)).status_code == 303


def test_one_client_spraying_names_is_cut_off_before_any_hashing(web_warehouse, user, monkeypatch):
    app = make_app(web_warehouse, login_client_attempts=10)
    checked = []
    verify = UserStore.verify
    monkeypatch.setattr(
        UserStore, "verify", lambda self, n, p: checked.append(n) or verify(self, n, p)
    )
    sprayer = TestClient(app, follow_redirects=False, client=("198.51.100.20", 5000))
    token = form_token(sprayer)
    codes = [attempt(sprayer, f"name{i}", "password1", token).status_code for i in range(30)]
    assert codes == [401] * 10 + [429] * 20
    assert len(checked) == 10
    other = TestClient(app, follow_redirects=False, client=("198.51.100.21", 5000))
    assert attempt(other, user, PASSWORD, form_token(other)).status_code == 303


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(web_warehouse, user):
    def codes(client: TestClient, forwarded: list[str]) -> list[int]:
        token = form_token(client)
        return [
            client.post(
                "/login", data=_data(user, token), headers={"X-Forwarded-For": f}
            ).status_code
            for f in forwarded
        ]

    direct = make_app(web_warehouse, login_attempts=2)
    client = TestClient(direct, follow_redirects=False, client=("198.51.100.7", 5000))
    assert codes(client, ["192.0.2.1", "192.0.2.2", "192.0.2.3"]) == [401, 401, 429]

    proxied = make_app(web_warehouse, login_attempts=2, trusted_proxies=["127.0.0.0/8"])
    proxy = TestClient(proxied, follow_redirects=False, client=("127.0.0.1", 5000))
    one, two = "192.0.2.8", "10.9.9.9, 192.0.2.9, 127.0.0.1"
    assert codes(proxy, [one, one, one, two]) == [401, 401, 429, 401]


def _data(name: str, token: str, password: str = "nope") -> dict:
    return {"name": name, "password": password, "csrf": token}


def test_the_password_check_leaves_the_event_loop_free(web_warehouse, user, monkeypatch):
    verify = UserStore.verify

    def slow_verify(self, name, password):
        time.sleep(0.6)
        return verify(self, name, password)

    monkeypatch.setattr(UserStore, "verify", slow_verify)
    app = make_app(web_warehouse)

    async def scenario() -> tuple[float, float]:
        transport = httpx.ASGITransport(app=app, client=("192.0.2.50", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            page = await http.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            started = time.perf_counter()
            login = asyncio.create_task(http.post("/login", data=_data(user, token, PASSWORD)))
            await asyncio.sleep(0.05)
            for _ in range(5):
                assert (await http.get("/healthz")).status_code == 200
            answered = time.perf_counter() - started
            assert (await login).status_code == 303
            return answered, time.perf_counter() - started

    answered, signed_in = asyncio.run(scenario())
    assert signed_in >= 0.6
    assert answered < 0.4, "the other requests waited for the password check"


# headers and errors ----------------------------------------------------------------------
@pytest.mark.parametrize("value", ["abc.é", "é", "x.y.中文", "\u00ff.\u00ff"])
def test_non_ascii_cookies_count_as_no_session(app, value):
    client = TestClient(app, follow_redirects=False)
    for name in ("callscope_session", "callscope_login"):
        header = [(b"cookie", f"{name}={value}".encode())]
        api = client.get("/api/me", headers=header)
        assert api.status_code == 401 and api.json()["status"] == 401
        assert api.headers["content-security-policy"].startswith(CSP_START)
        page = client.get("/search", headers=header)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        login = client.get("/login", headers=header)
        assert login.status_code == 200 and 'id="login-form"' in login.text
        posted = client.post("/login", data=_data("analyst", "é"), headers=header)
        assert posted.status_code == 400 and "expired" in posted.text


def test_a_non_ascii_form_token_is_refused_not_a_crash(app):
    client = TestClient(app, follow_redirects=False)
    form_token(client)
    response = client.post("/login", data=_data("analyst", "é", PASSWORD))
    assert response.status_code == 400
    signed_in = sign_in(app, "analyst")
    assert signed_in.post("/logout", data={"csrf": "é"}).status_code == 403


def test_unexpected_errors_still_carry_the_security_headers(web_warehouse):
    app = make_app(web_warehouse)

    def boom():
        raise RuntimeError("/secret/path/of/the/server")

    app.add_api_route("/api/boom", boom)
    app.add_api_route("/boom", boom)
    client = TestClient(app, raise_server_exceptions=False)
    for url in ("/api/boom", "/boom"):
        response = client.get(url)
        assert response.status_code == 500
        assert response.headers["content-security-policy"].startswith(CSP_START)
        assert response.headers["x-frame-options"] == "DENY"
        assert "/secret/path" not in response.text
    assert client.get("/api/boom").json()["status"] == 500


@pytest.mark.parametrize("signed_in", [False, True])
def test_redirects_are_paths_of_this_site_whatever_the_host_header(app, signed_in):
    client = sign_in(app, "supervisor") if signed_in else TestClient(app, follow_redirects=False)
    host = {"Host": "evil.example"}
    for url in ("/", "/search/", "/login/", "/api/me/", "/trends/", "/search", "/login"):
        response = client.get(url, headers=host)
        location = response.headers.get("location", "")
        assert "evil.example" not in location, (url, location)
        assert not location or (location.startswith("/") and not location.startswith("//"))


def test_sign_in_never_follows_next_off_the_site(app):
    for target in ("/\t/evil.example", "/\n/evil.example", "https://evil.example", "/\\evil"):
        client = TestClient(app, follow_redirects=False)
        response = attempt(client, "supervisor", PASSWORD, form_token(client), target)
        assert response.headers["location"] == "/overview", target


def test_an_unreadable_search_index_shows_no_server_path(web_warehouse, tmp_path):
    settings = web_warehouse.settings
    gone = tmp_path / "moved" / "search"
    moved = settings.model_copy(
        update={"search": settings.search.model_copy(update={"index": gone})}
    )
    app = create_app(moved, recordings=web_warehouse.recordings, secret=SECRET)
    for role in ("marketing", "supervisor"):
        client = sign_in(app, role)
        for url in ("/api/search?q=退款", "/search?q=退款"):
            response = client.get(url)
            assert response.status_code == 503, (role, url)
            assert str(tmp_path) not in response.text and "moved" not in response.text
            assert "search index" in response.text


def test_unreadable_saved_queries_and_users_files_show_no_server_path(tmp_path):
    settings = load_config(None, warehouse=tmp_path / "wh")
    web = settings.web_dir
    UserStore(web / "users.json").add("lee", "analyst", PASSWORD)
    (web / "saved_queries.json").write_text("not json")
    app = create_app(settings, secret=SECRET)
    client = sign_in(app, "lee")
    response = client.get("/api/saved")
    assert response.status_code == 503 and str(tmp_path) not in response.text
    assert "saved-queries file" in response.json()["error"]

    (web / "users.json").write_text("not json")
    fresh = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    response = attempt(fresh, "lee", PASSWORD, form_token(fresh))
    assert response.status_code == 503 and str(tmp_path) not in response.text
    assert response.headers["content-security-policy"].startswith(CSP_START)
    assert client.get("/api/me").status_code == 503


def test_users_cli_under_a_live_server_keeps_its_sessions_database(tmp_path):
    """A server whose threads each hold a connection, then `users add` in another process:
    the sessions database keeps its -wal and -shm files and the server keeps working."""
    import subprocess
    import sys

    from callscope.web.auth import SessionSigner, SessionStore, User

    path = tmp_path / "sessions.sqlite"
    server = SessionStore(path, idle_s=600)
    signer = SessionSigner(SECRET, 3600)
    _, kept = signer.issue(User("keeper", "analyst", "stamp"))
    server.add(kept)

    def second_thread() -> None:  # a request on another server thread opens its connection
        assert server.get(kept.sid) is not None

    thread = threading.Thread(target=second_thread)
    thread.start()
    thread.join(30)
    ended = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from web.auth import SessionStore; "
            "print(SessionStore(sys.argv[1]).end_user('someone'))",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert ended.stdout.strip() == "0"
    assert path.with_name(path.name + "-wal").exists()
    assert path.with_name(path.name + "-shm").exists()
    _, fresh = signer.issue(User("newcomer", "analyst", "stamp"))
    server.add(fresh)
    assert server.get(fresh.sid).name == "newcomer"
    assert server.get(kept.sid).name == "keeper"


def test_incidents_for_marketing_are_checked_by_today_s_redaction_rules(web_warehouse, tmp_path):
    """An incident stored by an older night's rules (a name and a phone in an example, a
    phone in its label): marketing sees them redacted, a supervisor as stored."""
    import shutil

    import pyarrow as pa
    from callscope.storage.warehouse import Warehouse

    shutil.copytree(web_warehouse.settings.warehouse, tmp_path / "warehouse")
    settings = web_warehouse.settings.model_copy(update={"warehouse": tmp_path / "warehouse"})
    store = Warehouse(settings.warehouse)
    rows = store.read("incidents", web_warehouse.launch).to_pylist()
    leaked = "我叫王建国，电话一三九。二零四五。七七八一"
    rows[0]["examples"][0]["text"] = leaked
    rows[0]["label"] = "13912345678 · 预约"
    schema = store.read("incidents", web_warehouse.launch).schema
    store.replace_day("incidents", web_warehouse.launch, pa.Table.from_pylist(rows, schema))
    app = create_app(settings, recordings=web_warehouse.recordings, secret=SECRET)
    seen = {
        role: json.dumps(sign_in(app, role).get("/api/incidents").json(), ensure_ascii=False)
        for role in ("marketing", "supervisor")
    }
    assert "王建国" not in seen["marketing"] and "七七八一" not in seen["marketing"]
    assert "13912345678" not in seen["marketing"]
    assert "[name]" in seen["marketing"] and "[phone]" in seen["marketing"]
    assert leaked in seen["supervisor"]


def test_a_shard_host_down_is_said_on_the_search_page_without_its_address(web_warehouse):
    from callscope.keywords.remote import forget_failures

    forget_failures()
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = web_warehouse.settings
    search = settings.search.model_copy(
        update={"remote_shards": {"2020-01-01": f"http://127.0.0.1:{port}"}}
    )
    app = create_app(
        settings.model_copy(update={"search": search}),
        recordings=web_warehouse.recordings,
        secret=SECRET,
    )
    client = sign_in(app, "marketing")
    data = client.get("/api/search", params={"q": "退款"}).json()
    assert data["missing_shards"] == [{"key": "2020-01-01"}]
    assert "Results incomplete" in data["warnings"][0] and "127.0.0.1" not in data["warnings"][0]
    page = client.get("/search", params={"q": "退款"}).text
    assert 'id="search-incomplete"' in page and f":{port}" not in page
    forget_failures()
