"""The web app under load, each finding of the re-audit checked on the real app: a sign-in
flood from many addresses hashes at most a few passwords at once and is refused quickly
beyond that."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid

import httpx
import pytest

from tests.test_web_api import SECRET
from tests.test_web_security import app_for
from tests.web_support import PASSWORD
from web import auth as web_auth
from web.auth import UserStore

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
    return app_for(built, SECRET, trusted_proxies=["127.0.0.0/8"], **web)


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


def test_password_checks_per_second_are_bounded_for_everyone(web_warehouse, member, scrypt_spy):
    app = proxied_app(web_warehouse, login_hashes_per_second=3, login_hash_queue=50)
    attempts = [(f"sprayed{i}", "wrong password", f"203.0.113.{i + 1}") for i in range(10)]
    answers = flood(app, attempts)
    codes = sorted(response.status_code for response, _ in answers)
    assert codes == [401] * 3 + [503] * 7
    assert scrypt_spy.calls == 3
    refused = next(r for r, _ in answers if r.status_code == 503)
    assert refused.headers["retry-after"] == "1"
    time.sleep(1.1)  # the next second: a real user gets in
    ((response, _),) = flood(app, [(member, PASSWORD, "203.0.113.200")])
    assert response.status_code == 303


def test_sign_in_load_settings_are_validated():
    from core.config import load_config
    from core.errors import ConfigError

    web = load_config(None).web
    assert (web.login_hash_slots, web.login_hashes_per_second) == (1, 20)
    for bad in ({"login_hash_slots": 0}, {"login_hash_wait_s": 0}, {"login_hashes_per_second": 0}):
        with pytest.raises(ConfigError, match=f"web.{next(iter(bad))}"):
            load_config(None, web=bad)

