"""Findings of the web app's audit, each checked on the real app: request bodies bounded
before any route reads them (a real uvicorn on 127.0.0.1 too), saved queries checked against
the user's current role and tied to the user's record, audio served only while it is the
recording the night hashed."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient

from core.config import load_config
from web.app import MAX_BODY, create_app

SECRET = b"audit-secret-" + b"y" * 32
CHUNK = 64 * 1024
MAX_CHUNKS = 64  # a chunked body of at most 4 MiB: far past the limit, quick to send


# request bodies --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bare_app(tmp_path_factory):
    """The app over an empty warehouse: nobody signed in, nothing to read."""
    root = tmp_path_factory.mktemp("bare")
    settings = load_config(None, warehouse=root / "warehouse", recordings=root / "recordings")
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
        if b"\r\n\r\n" in data and len(data) > 2 * MAX_BODY:
            return data


def test_a_declared_body_over_the_limit_is_refused_before_a_byte_is_read(served):
    counted, port = served
    counted.received = 0
    form = "application/x-www-form-urlencoded"
    with _head(port, "/login", {"Content-Type": form, "Content-Length": "400000000"}) as sock:
        answer = _answer(sock)  # no body is ever sent: the answer must not wait for one
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"too large (at most 16384 bytes)" in answer
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
    assert counted.received <= MAX_BODY + 4 * CHUNK < MAX_CHUNKS * CHUNK


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
    response = client.request(method, path, content=b"x" * (MAX_BODY + 1))
    assert response.status_code == 413
    assert "at most 16384 bytes" in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    if path.startswith("/api/"):
        assert response.json() == {
            "error": "the request body is too large (at most 16384 bytes)",
            "status": 413,
        }


def test_bodies_within_the_limit_and_bad_lengths(bare_app):
    client = TestClient(bare_app)
    form = {"content-type": "application/x-www-form-urlencoded"}
    small = client.post("/login", content=b"name=a&password=b&csrf=c", headers=form)
    assert small.status_code == 400 and "The form expired" in small.text  # reached the route
    bad = client.post("/login", content=b"x", headers={"content-length": "12abc"})
    assert bad.status_code == 400 and "Content-Length" in bad.text
