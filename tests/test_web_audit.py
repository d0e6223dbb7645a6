"""Findings of the web app's audit, each checked on the real app: request bodies bounded
before any route reads them (a real uvicorn on 127.0.0.1 too), saved queries checked against
the user's current role and tied to the user's record, audio served only while it is the
recording the night hashed."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
from callscope.core.config import load_config
from callscope.keywords.query import parse
from callscope.storage.warehouse import Warehouse
from callscope.web import data as web_data
from callscope.web.app import MAX_REQUEST_BODY, create_app
from callscope.web.auth import UserStore
from fastapi.testclient import TestClient

from tests.conftest import write_tone
from tests.web_support import PASSWORD, add_users, csrf, sign_in

SECRET = b"audit-secret-" + b"y" * 32
NEW_PASSWORD = "another long password"
CHUNK = 64 * 1024
MAX_CHUNKS = 64  # a chunked body of at most 4 MiB: far past the limit, quick to send


# request bodies --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bare_app(tmp_path_factory):
    """The app over an empty warehouse: nobody signed in, nothing to read."""
    root = tmp_path_factory.mktemp("bare")
    settings = load_config(None, warehouse=root / "warehouse", recordings=root / "recordings")
    settings.web.language = "en"  # its messages are read in English
    return create_app(settings, secret=SECRET)


class Counted:
    """The app, counting the request body bytes it is handed (what a route could read)."""

    def __init__(self, app):
        self.app = app
        self.received = 0

    async def __call__(self, scope, receive, send):
        async def counting():
            message = await receive()
            self.received += len(message.get("body", b""))
            return message

        await self.app(scope, counting, send)


@pytest.fixture(scope="module")
def served(bare_app):
    """The counted app under uvicorn on a free loopback port, in a thread."""
    import uvicorn

    counted = Counted(bare_app)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(counted, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield counted, port
    server.should_exit = True
    thread.join(10)


def _head(port: int, path: str, headers: dict[str, str]) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


def _answer(sock: socket.socket) -> bytes:
    """What the server answered, up to the close (or 5 s of silence: then a timeout)."""
    data = b""
    while True:
        part = sock.recv(65536)
        if not part:
            return data
        data += part
        if b"\r\n\r\n" in data and len(data) > 2 * MAX_REQUEST_BODY:
            return data


def test_a_declared_body_over_the_limit_is_refused_before_a_byte_is_read(served):
    counted, port = served
    counted.received = 0
    form = "application/x-www-form-urlencoded"
    with _head(port, "/login", {"Content-Type": form, "Content-Length": "400000000"}) as sock:
        answer = _answer(sock)  # no body is ever sent: the answer must not wait for one
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"too large (at most 65536 bytes)" in answer
    assert counted.received == 0


def test_a_chunked_body_is_read_only_up_to_the_limit(served):
    counted, port = served
    counted.received = 0
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Transfer-Encoding": "chunked"}
    chunk = f"{CHUNK:x}\r\n".encode() + b"a" * CHUNK + b"\r\n"
    with _head(port, "/login", headers) as sock:
        try:
            for _ in range(MAX_CHUNKS):
                sock.sendall(chunk)
            sock.sendall(b"0\r\n\r\n")
        except OSError:  # the server answered and closed while the body was still coming
            pass
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    # uvicorn hands on what it has buffered (its high-water mark is 64 KiB) in one piece
    assert counted.received <= MAX_REQUEST_BODY + 4 * CHUNK < MAX_CHUNKS * CHUNK


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/login"),
        ("POST", "/logout"),
        ("POST", "/api/saved"),  # before the sign-in check: nothing is read signed out
        ("DELETE", "/api/saved/abc"),
        ("POST", "/no-such-page"),
        ("PUT", "/api/search"),
    ],
)
def test_every_route_refuses_an_oversized_body_first(bare_app, method, path):
    client = TestClient(bare_app)
    response = client.request(method, path, content=b"x" * (MAX_REQUEST_BODY + 1))
    assert response.status_code == 413
    assert "at most 65536 bytes" in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    if path.startswith("/api/"):
        assert response.json() == {
            "error": "the request body is too large (at most 65536 bytes)",
            "status": 413,
        }


def test_bodies_within_the_limit_and_bad_lengths(bare_app):
    client = TestClient(bare_app)
    form = {"content-type": "application/x-www-form-urlencoded"}
    small = client.post("/login", content=b"name=a&password=b&csrf=c", headers=form)
    assert small.status_code == 400 and "The form expired" in small.text  # reached the route
    bad = client.post("/login", content=b"x", headers={"content-length": "12abc"})
    assert bad.status_code == 400 and "Content-Length" in bad.text


# saved queries ---------------------------------------------------------------------------
@pytest.fixture
def warehouse_app(web_warehouse):
    return create_app(web_warehouse.settings, recordings=web_warehouse.recordings, secret=SECRET)


@pytest.fixture
def member(web_warehouse):
    """A supervisor of this test only, and the users file to change them in."""
    name = f"aud-{uuid.uuid4().hex[:8]}"
    users = UserStore(web_warehouse.settings.web_dir / "users.json")
    users.add(name, "supervisor", PASSWORD)
    yield name, users
    users.remove(name)


def save(client: TestClient, params: dict, name: str = "audit") -> str:
    token = csrf(client)
    response = client.post(
        "/api/saved", json={"name": name, "params": params}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def listed(client: TestClient) -> list[str]:
    return [saved["id"] for saved in client.get("/api/saved").json()]


def test_a_user_moved_to_marketing_cannot_run_an_old_agent_filter(warehouse_app, member):
    name, users = member
    supervisor = sign_in(warehouse_app, name)
    by_agent = save(supervisor, {"q": "退款", "agent": ["A100"]}, "one agent's refunds")
    plain = save(supervisor, {"q": "退款"}, "refunds")
    assert supervisor.get(f"/api/saved/{by_agent}/calls").status_code == 200

    users.add(name, "marketing", PASSWORD, replace=True)
    marketing = sign_in(warehouse_app, name)
    refused = marketing.get(f"/api/saved/{by_agent}/calls")
    assert refused.status_code == 403, refused.text
    message = refused.json()["error"]
    assert "one agent's refunds" in message and "filters by agent" in message
    assert "marketing role" in message and "save the search again without an agent" in message
    page = marketing.get(f"/saved/{by_agent}")
    assert page.status_code == 403 and "filters by agent" in page.text and "A100" not in page.text
    assert marketing.get(f"/api/saved/{plain}/calls").status_code == 200

    shown = {saved["id"]: saved for saved in marketing.get("/api/saved").json()}
    assert set(shown) == {by_agent, plain}  # still listed, so that it can be deleted
    assert "agent" not in shown[by_agent]["params"] and "A100" not in json.dumps(shown)
    assert "A100" not in marketing.get("/search").text
    token = csrf(marketing)
    assert (
        marketing.delete(f"/api/saved/{by_agent}", headers={"X-CSRF-Token": token}).status_code
        == 204
    )


def test_a_name_added_again_starts_without_the_old_users_saved_queries(
    warehouse_app, member, web_warehouse
):
    name, users = member
    old = save(sign_in(warehouse_app, name), {"q": "退款"})
    users.add(name, "analyst", NEW_PASSWORD, replace=True)  # a new password and role keep them
    assert listed(sign_in(warehouse_app, name, NEW_PASSWORD)) == [old]

    users.remove(name)
    users.add(name, "supervisor", PASSWORD)
    newcomer = sign_in(warehouse_app, name)
    assert listed(newcomer) == []
    assert newcomer.get(f"/api/saved/{old}/calls").status_code == 404
    assert newcomer.get(f"/saved/{old}").status_code == 404
    token = csrf(newcomer)
    assert newcomer.delete(f"/api/saved/{old}", headers={"X-CSRF-Token": token}).status_code == 404

    own = save(newcomer, {"q": "投诉"})
    assert listed(newcomer) == [own]
    stored = json.loads((web_warehouse.settings.web_dir / "saved_queries.json").read_text())
    assert [saved["id"] for saved in stored["users"][name]] == [own]  # the old ones dropped


# audio -----------------------------------------------------------------------------------
DAY = dt.date(2026, 11, 20)


@pytest.fixture
def audio_site(tmp_path):
    """A warehouse whose calls store their recording's SHA-256 (as the night does), but one
    staged without it; the recordings as the night found them."""
    root = tmp_path / "recordings"
    settings = load_config(None, warehouse=tmp_path / "warehouse", recordings=root)
    folder = root / DAY.isoformat()
    folder.mkdir(parents=True)
    store = Warehouse(settings.warehouse)
    for call_id, seconds in {"kept": 1.0, "swapped": 1.2, "rewritten": 1.4, "linked": 1.6}.items():
        path = write_tone(folder / f"{call_id}.wav", seconds)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        row = {"call_id": call_id, "date": DAY, "status": "ok", "source_uri": str(path)}
        store.stage_call(DAY, row | {"audio_sha256": digest}, [])
    unhashed = write_tone(folder / "unhashed.wav", 0.8)
    row = {"call_id": "unhashed", "date": DAY, "status": "ok", "source_uri": str(unhashed)}
    store.stage_call(DAY, row, [])
    store.commit_day(DAY)
    add_users(settings)
    app = create_app(settings, recordings=root, secret=SECRET)
    return sign_in(app, "supervisor"), folder, tmp_path


def audio(client: TestClient, call_id: str):
    return client.get(f"/api/calls/{call_id}/audio")


def refused_naming_the_call(response, call_id: str, where: Path) -> str:
    assert response.status_code == 403, response.text
    message = response.json()["error"]
    assert f"call {call_id!r}" in message and str(where) not in message
    return message


def test_a_recording_swapped_since_the_night_is_not_served(audio_site):
    client, folder, tmp_path = audio_site
    kept = audio(client, "kept")
    assert kept.status_code == 200 and kept.content == (folder / "kept.wav").read_bytes()
    assert client.get("/api/calls/swapped").json()["audio_url"] == "/api/calls/swapped/audio"

    other = write_tone(tmp_path / "other.wav", 1.2, rate=16000)
    os.replace(other, folder / "swapped.wav")  # a new file under the old name
    message = refused_naming_the_call(audio(client, "swapped"), "swapped", tmp_path)
    assert "SHA-256" in message and "not the file that was transcribed" in message
    assert client.get("/api/calls/swapped").json()["audio_url"] is None
    assert "audio_sha256" not in client.get("/api/calls/kept").json()["call"]


def test_a_recording_rewritten_in_place_with_its_old_time_is_not_served(audio_site):
    client, folder, tmp_path = audio_site
    path = folder / "rewritten.wav"
    assert audio(client, "rewritten").status_code == 200  # hashed and remembered
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[-100:] = bytes(100)  # same size, other samples
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    refused_naming_the_call(audio(client, "rewritten"), "rewritten", tmp_path)


def test_a_hard_link_to_another_file_is_not_served(audio_site):
    client, folder, tmp_path = audio_site
    path = folder / "linked.wav"
    path.unlink()
    os.link(folder / "kept.wav", path)  # a regular file inside the root, with other content
    refused_naming_the_call(audio(client, "linked"), "linked", tmp_path)
    assert audio(client, "kept").status_code == 200  # the file itself is still its recording


def test_a_call_without_a_stored_hash_is_served_only_without_other_hard_links(audio_site):
    client, folder, tmp_path = audio_site
    assert audio(client, "unhashed").status_code == 200
    os.link(folder / "unhashed.wav", tmp_path / "elsewhere.wav")
    message = refused_naming_the_call(audio(client, "unhashed"), "unhashed", tmp_path)
    assert "hard links" in message


def test_a_recording_is_hashed_once_until_it_changes(audio_site, monkeypatch):
    client, folder, _ = audio_site
    hashed = []
    real = web_data._sha256
    monkeypatch.setattr(web_data, "_sha256", lambda handle: hashed.append(1) or real(handle))
    for _ in range(3):
        assert audio(client, "kept").status_code == 200
    assert client.get("/api/calls/kept").json()["audio_url"]
    assert len(hashed) == 1
    path = folder / "kept.wav"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert audio(client, "kept").status_code == 200 and len(hashed) == 2


# search queries --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("退款 ＯＲ 预约", "退款 OR 预约"),
        ("预约 ＡＮＤ 退款", "预约 AND 退款"),
        ("预约 ＮＯＴ 退款", "预约 NOT 退款"),
        ("（退款 ＯＲ 预约） 投诉", "(退款 OR 预约) 投诉"),
        ("退\u200b款", "退款"),
        ("\ufeff预\u200d约", "预约"),
    ],
)
def test_full_width_operators_and_zero_width_spaces_in_a_search(typed, meant):
    assert parse(typed).fts == parse(meant).fts
    assert parse(typed).text == typed  # the answer still echoes what was typed


def test_a_full_width_or_searches_like_or(warehouse_app):
    client = sign_in(warehouse_app, "analyst")
    meant = client.get("/api/search", params={"q": "退款 OR 预约"}).json()["total"]
    assert meant > client.get("/api/search", params={"q": "退款"}).json()["total"]
    assert client.get("/api/search", params={"q": "退款 ＯＲ 预约"}).json()["total"] == meant
    spaced = client.get("/api/search", params={"q": "退\u200b款"})
    assert spaced.status_code == 200
    assert spaced.json()["total"] == client.get("/api/search", params={"q": "退款"}).json()["total"]
