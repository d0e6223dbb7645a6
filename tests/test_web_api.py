"""The web app's API and pages over a real warehouse (Parquet, search index, recordings):
every endpoint, bad parameters, unauthorised access, roles, sessions, CSRF, audio ranges."""

from __future__ import annotations

import json
import re

import pytest
from callscope.web.app import SESSION_COOKIE, create_app
from callscope.web.auth import SessionSigner, User, UserStore, check_password, hash_password
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from callscope.cli import app as cli
from tests.web_support import (
    AUDIO_CALL,
    PASSWORD,
    SECRET,
    chart_data,
    csrf,
    form_token,
    sign_in,
)

LAUNCH = "2026-11-20"

API_GETS = [
    "/api/me",
    "/api/search?q=退款",
    "/api/facets",
    f"/api/calls/{AUDIO_CALL}",
    f"/api/calls/{AUDIO_CALL}/audio",
    "/api/trends",
    f"/api/trends/calls?date={LAUNCH}&by=queue&key=preorder",
    "/api/trends/chart.png",
    "/api/incidents",
    "/api/saved",
    "/api/saved/abc/calls",
]
PAGES = [
    "/",
    "/search?q=退款",
    f"/calls/{AUDIO_CALL}",
    "/trends",
    f"/trends/calls?date={LAUNCH}&by=queue&key=preorder",
    "/incidents",
    "/saved/abc",
]


# sign-in, sessions -----------------------------------------------------------------------
@pytest.mark.parametrize("url", API_GETS)
def test_api_needs_a_session(web_app, url):
    response = TestClient(web_app).get(url)
    assert response.status_code == 401
    assert response.json() == {"error": "sign in first", "status": 401}


@pytest.mark.parametrize("url", PAGES)
def test_pages_redirect_to_sign_in(web_app, url):
    response = TestClient(web_app, follow_redirects=False).get(url)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2F")


def test_sign_in_sets_a_strict_http_only_cookie_and_lands_on_the_roles_page(web_app):
    for role, home in (
        ("supervisor", "/overview"),
        ("analyst", "/overview"),
        ("marketing", "/incidents"),
    ):
        client = TestClient(web_app, follow_redirects=False)
        token = form_token(client)
        response = client.post(
            "/login", data={"name": role, "password": PASSWORD, "csrf": token, "next": ""}
        )
        assert response.headers["location"] == home
        cookie = response.headers["set-cookie"]
        assert SESSION_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert PASSWORD not in cookie
        assert client.get("/api/me").json()["role"] == role


def test_sign_in_follows_next_only_within_the_site(web_app):
    for target, expected in (
        ("/trends?by=all", "/trends?by=all"),
        ("//evil.example/", "/overview"),
    ):
        client = TestClient(web_app, follow_redirects=False)
        token = form_token(client)
        response = client.post(
            "/login",
            data={"name": "supervisor", "password": PASSWORD, "csrf": token, "next": target},
        )
        assert response.headers["location"] == expected


def test_wrong_password_unknown_user_and_missing_form_token(web_app):
    client = TestClient(web_app, follow_redirects=False)
    token = form_token(client)
    for name, password in (("analyst", "wrong password"), ("nobody", PASSWORD)):
        response = client.post("/login", data={"name": name, "password": password, "csrf": token})
        assert response.status_code == 401
        assert "Wrong name or password" in response.text
    fresh = TestClient(web_app, follow_redirects=False)
    response = fresh.post("/login", data={"name": "analyst", "password": PASSWORD, "csrf": "x"})
    assert response.status_code == 400 and "expired" in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_repeated_failures_pause_that_name(web_warehouse):
    app = create_app(web_warehouse.settings, secret=SECRET)
    client = TestClient(app, follow_redirects=False)
    token = form_token(client)
    codes = [
        client.post(
            "/login", data={"name": "analyst", "password": "nope", "csrf": token}
        ).status_code
        for _ in range(6)
    ]
    assert codes == [401] * 5 + [429]
    response = client.post("/login", data={"name": "analyst", "password": PASSWORD, "csrf": token})
    assert response.status_code == 429  # even the right password, until the pause ends


def test_sign_out_ends_the_session_even_for_a_copied_cookie(web_app):
    client = sign_in(web_app, "analyst")
    cookie = client.cookies[SESSION_COOKIE]
    assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
    response = client.post("/logout", data={"csrf": csrf(client)})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    copied = TestClient(web_app, cookies={SESSION_COOKIE: cookie})
    assert copied.get("/api/me").status_code == 401


def test_tampered_expired_and_foreign_cookies_are_refused(web_app, supervisor):
    good = supervisor.cookies[SESSION_COOKIE]
    body, signature = good.split(".")
    forged = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + signature
    expired, _ = SessionSigner(SECRET, -10).issue(User("supervisor", "supervisor"))
    foreign, _ = SessionSigner(b"another-secret-" * 3, 3600).issue(User("supervisor", "supervisor"))
    for cookie in (forged, expired, foreign, "garbage", good + "x"):
        response = TestClient(web_app, cookies={SESSION_COOKIE: cookie}).get("/api/me")
        assert response.status_code == 401, cookie


def test_a_removed_user_or_changed_role_is_signed_out(web_app, web_warehouse):
    users = UserStore(web_warehouse.settings.web_dir / "users.json")
    users.add("temp", "supervisor", PASSWORD)
    client = sign_in(web_app, "temp")
    assert client.get("/api/me").status_code == 200
    users.add("temp", "marketing", PASSWORD, replace=True)
    assert client.get("/api/me").status_code == 401
    users.remove("temp")
    assert TestClient(web_app).get("/api/me").status_code == 401


def test_passwords_are_stored_as_scrypt_hashes_only(web_warehouse):
    text = (web_warehouse.settings.web_dir / "users.json").read_text()
    assert PASSWORD not in text
    record = json.loads(text)["users"]["analyst"]
    assert set(record) >= {"salt", "hash", "n", "r", "p", "role"}
    assert check_password(PASSWORD, record) and not check_password("nope", record)
    assert hash_password("same")["hash"] != hash_password("same")["hash"]  # salted


def test_security_headers(supervisor):
    response = supervisor.get("/search")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


# search ----------------------------------------------------------------------------------
def test_search_finds_ranked_hits_with_highlights_speaker_and_time(supervisor):
    result = supervisor.get("/api/search", params={"q": "工信部"}).json()
    assert result["total"] == 1
    hit = result["hits"][0]
    assert (hit["call_id"], hit["speaker"], hit["idx"], hit["start_s"]) == (
        AUDIO_CALL,
        "customer",
        5,
        26.66,
    )
    start, end = hit["highlights"][0]
    assert hit["text"][start:end] == "工信部"
    assert hit["agent_id"] == "A100"
    assert hit["url"] == f"/calls/{AUDIO_CALL}?date={LAUNCH}&t=26.66&seg=5"


def test_search_filters_paging_and_sorting(supervisor):
    def total(**params):
        response = supervisor.get("/api/search", params={"q": "宽带", **params})
        assert response.status_code == 200, response.text
        return response.json()["total"]

    everything = total()
    assert everything > 10
    assert total(**{"from": LAUNCH, "to": LAUNCH}) < everything
    assert total(queue="broadband") == everything  # only broadband calls speak of it
    assert total(queue="billing") == 0
    assert total(speaker="agent") == 0 and total(speaker="customer") == everything
    assert total(category="broadband_fault") > 0
    assert total(agent="A100") + total(agent="A101") + total(agent="A102") == everything
    assert total(agent=["A100", "A101"]) == total(agent="A100") + total(agent="A101")
    page2 = supervisor.get("/api/search", params={"q": "宽带", "limit": 5, "page": 2}).json()
    assert page2["page"] == 2 and len(page2["hits"]) == 5 and page2["offset"] == 5
    newest = supervisor.get("/api/search", params={"q": "宽带", "sort": "newest"}).json()
    assert newest["hits"][0]["date"] == LAUNCH


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "q is required"),
        ({"q": '"how can'}, "not closed"),
        ({"q": "(退款"}, "not closed"),
        ({"q": "退"}, "single Chinese characters"),
        ({"q": "退款", "from": "yesterday"}, "not a date"),
        ({"q": "退款", "from": "2026-11-20", "to": "2026-11-01"}, "is after"),
        ({"q": "退款", "speaker": "boss"}, "not one of"),
        ({"q": "退款", "sort": "random"}, "not one of"),
        ({"q": "退款", "sentiment_min": "abc"}, "not a number"),
        ({"q": "退款", "sentiment_min": "9"}, "between"),
        ({"q": "退款", "sentiment_min": "2", "sentiment_max": "-2"}, "above"),
        ({"q": "退款", "page": "0"}, "between 1 and"),
        ({"q": "退款", "limit": "1000"}, "between 1 and 100"),
        ({"q": "退款", "limit": "ten"}, "whole number"),
        ({"q": "x" * 600}, "too long"),
    ],
)
def test_search_bad_parameters_are_400_with_a_message(supervisor, params, message):
    response = supervisor.get("/api/search", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_search_page_shows_errors_inline(supervisor):
    response = supervisor.get("/search", params={"q": "退款 OR"})
    assert response.status_code == 400
    assert 'id="search-error"' in response.text


def test_marketing_search_is_redacted_and_hides_agents(supervisor, marketing):
    plain = supervisor.get("/api/search", params={"q": "回电"}).json()["hits"][0]
    assert "13812345678" in plain["text"]
    redacted = marketing.get("/api/search", params={"q": "回电"}).json()
    hit = redacted["hits"][0]
    assert redacted["redacted"] is True
    assert "13812345678" not in hit["text"] and "[phone]" in hit["text"]
    assert hit["text"][slice(*hit["highlights"][0])] == "回电"
    assert hit["agent_id"] is None
    assert all("138" not in line["text"] for line in hit["before"] + hit["after"])
    spoken = marketing.get("/api/search", params={"q": "手机号"}).json()
    assert spoken["total"] > 0
    assert not any("一三八" in h["text"] for h in spoken["hits"])
    response = marketing.get("/api/search", params={"q": "回电", "agent": "A100"})
    assert response.status_code == 403
    page = marketing.get("/search", params={"q": "回电"})
    assert "13812345678" not in page.text and 'name="agent"' not in page.text


def test_facets(supervisor, marketing):
    found = supervisor.get("/api/facets").json()
    assert found["queues"] == ["billing", "broadband", "preorder"]
    assert found["agents"] == ["A100", "A101", "A102"]
    assert any(c["name"] == "preorder_failure" for c in found["categories"])
    assert marketing.get("/api/facets").json()["agents"] == []


# calls and audio -------------------------------------------------------------------------
def test_call_detail_has_speakers_emotion_and_categories(supervisor):
    data = supervisor.get(f"/api/calls/{AUDIO_CALL}", params={"date": LAUNCH}).json()
    assert data["call"]["agent_id"] == "A100" and "source_uri" not in data["call"]
    assert data["audio_url"] == f"/api/calls/{AUDIO_CALL}/audio"
    segments = data["segments"]
    assert [s["speaker"] for s in segments[:3]] == ["agent", "customer", "agent"]
    assert segments[5]["start_s"] == 26.66 and "工信部" in segments[5]["text"]
    assert all(
        s["emotion"] in {"angry", "frustrated", "negative", "neutral", "positive"} for s in segments
    )
    assert "regulator_escalation" in segments[5]["categories"]
    assert "preorder_failure" in data["call"]["categories"]
    assert "13812345678" in segments[-1]["text"]
    # without the date hint the call is found all the same
    assert supervisor.get(f"/api/calls/{AUDIO_CALL}").json()["call"]["call_id"] == AUDIO_CALL


def test_marketing_call_is_redacted_without_agent_or_audio(marketing):
    data = marketing.get(f"/api/calls/{AUDIO_CALL}").json()
    assert data["audio_url"] is None and data["redacted"] is True
    assert "agent_id" not in data["call"]
    assert "[phone]" in data["segments"][-1]["text"]
    assert "13812345678" not in json.dumps(data, ensure_ascii=False)
    page = marketing.get(f"/calls/{AUDIO_CALL}?t=26.66")
    assert page.status_code == 200
    assert "<audio" not in page.text and "/audio" not in page.text and "A100" not in page.text
    assert "13812345678" not in page.text


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/calls/no-such-call", 404),
        ("/api/calls/no-such-call/audio", 404),
        (f"/api/calls/{AUDIO_CALL}?date=2026-11-31", 400),
        ("/calls/no-such-call", 404),
        (f"/calls/{AUDIO_CALL}?t=-3", 400),
        (f"/calls/{AUDIO_CALL}?t=abc", 400),
    ],
)
def test_call_errors(supervisor, url, status):
    response = supervisor.get(url)
    assert response.status_code == status
    if url.startswith("/api/"):
        assert response.json()["status"] == status


def test_audio_whole_and_ranges(supervisor, web_warehouse):
    file = (web_warehouse.recordings / LAUNCH / f"{AUDIO_CALL}.flac").read_bytes()
    url = f"/api/calls/{AUDIO_CALL}/audio"
    whole = supervisor.get(url)
    assert whole.status_code == 200 and whole.content == file
    assert whole.headers["content-type"] == "audio/flac"
    assert whole.headers["accept-ranges"] == "bytes"
    part = supervisor.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.content == file[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(file)}"
    tail = supervisor.get(url, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == file[-100:]
    open_ended = supervisor.get(url, headers={"Range": f"bytes={len(file) - 10}-"})
    assert open_ended.status_code == 206 and open_ended.content == file[-10:]
    beyond = supervisor.get(url, headers={"Range": f"bytes={len(file) + 10}-"})
    assert beyond.status_code == 416


def test_marketing_gets_no_audio(marketing):
    response = marketing.get(f"/api/calls/{AUDIO_CALL}/audio", headers={"Range": "bytes=0-99"})
    assert response.status_code == 403
    assert "marketing" in response.json()["error"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/calls/..%2F..%2F..%2Fetc%2Fpasswd/audio",
        "/api/calls/%2Fetc%2Fpasswd/audio",
        "/api/calls/../../etc/passwd/audio",
        f"/api/calls/{AUDIO_CALL}%2F..%2F..%2Fusers.json/audio",
        "/api/calls/launch-audio.flac/audio",
        "/static/..%2Fapp.py",
        "/static/../app.py",
        "/static/%2E%2E/auth.py",
        "/static/templates%2Fbase.html",
        "/static/..%5Capp.py",
    ],
)
def test_path_traversal_reaches_nothing(supervisor, url):
    response = supervisor.get(url)
    assert response.status_code == 404
    assert b"import" not in response.content and b"root:" not in response.content


def test_static_files(web_app):
    client = TestClient(web_app)
    css = client.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/healthz").json() == {"ok": True}


# trends ----------------------------------------------------------------------------------
def test_trends_rows_and_drill_down(analyst):
    data = analyst.get("/api/trends", params={"by": "queue"}).json()
    assert data["from"] == "2026-11-12" and data["to"] == LAUNCH
    keys = {row["key"] for row in data["rows"]}
    assert keys == {"billing", "broadband", "preorder"}
    point = next(r for r in data["rows"] if r["date"] == LAUNCH and r["key"] == "preorder")
    assert point["calls"] == 13
    drill = analyst.get(point["url"].replace("/trends/calls", "/api/trends/calls")).json()
    assert drill["total"] == 13 and len(drill["calls"]) == 13
    assert {c["queue"] for c in drill["calls"]} == {"preorder"}
    values = [
        c["customer_sentiment"] for c in drill["calls"] if c["customer_sentiment"] is not None
    ]
    assert values == sorted(values)
    assert drill["calls"][0]["url"].startswith("/calls/")
    by_category = analyst.get(
        "/api/trends/calls", params={"date": LAUNCH, "by": "category", "key": "preorder_failure"}
    ).json()
    assert by_category["total"] >= 12
    everyone = analyst.get("/api/trends/calls", params={"date": LAUNCH, "by": "all"}).json()
    assert everyone["total"] == 22
    agent = analyst.get("/api/trends", params={"by": "agent", "role": "agent"}).json()
    assert {row["key"] for row in agent["rows"]} == {"A100", "A101", "A102"}


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/api/trends?by=weather", 400, "not one of"),
        ("/api/trends?role=manager", 400, "not one of"),
        ("/api/trends?from=2026-11-20&to=2026-11-01", 400, "is after"),
        ("/api/trends?from=11/20/2026", 400, "not a date"),
        ("/api/trends/calls?by=queue&key=preorder", 400, "date is required"),
        (f"/api/trends/calls?date={LAUNCH}&by=queue", 400, "key is required"),
        ("/trends?by=weather", 400, "not one of"),
    ],
)
def test_trends_bad_parameters(analyst, url, status, message):
    response = analyst.get(url)
    assert response.status_code == status
    assert message in (response.json()["error"] if url.startswith("/api") else response.text)


def test_trends_for_marketing_have_no_agents(marketing):
    assert marketing.get("/api/trends?by=agent").status_code == 403
    assert marketing.get(f"/api/trends/calls?date={LAUNCH}&by=agent&key=A100").status_code == 403
    drill = marketing.get(f"/api/trends/calls?date={LAUNCH}&by=queue&key=preorder").json()
    assert all("agent_id" not in call for call in drill["calls"])
    page = marketing.get("/trends")
    assert page.status_code == 200 and "<option>agent</option>" not in page.text


def test_trend_chart_png_and_empty_selection(analyst):
    response = analyst.get("/api/trends/chart.png", params={"by": "queue"})
    assert response.status_code == 200 and response.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        analyst.get("/api/trends", params={"from": "2020-01-01", "to": "2020-01-02"}).json()["rows"]
        == []
    )
    assert analyst.get("/api/trends/chart.png?from=2020-01-01&to=2020-01-02").status_code == 404


def test_trends_page_draws_clickable_points(analyst):
    page = analyst.get("/trends?by=queue").text
    chart = chart_data(page, "trend-chart")
    urls = [p["url"] for s in chart["series"] for p in s["points"] if p["url"]]
    assert chart["kind"] == "trend" and len(chart["dates"]) == 9 and len(urls) >= 20
    table = re.findall(r'<a href="(/trends/calls\?[^"]+)"', page)
    assert sorted(u.replace("&", "&amp;") for u in urls) == sorted(table)
    assert 'id="trend-png"' not in page  # one figure of the data, not the same one twice


# incidents -------------------------------------------------------------------------------
def test_incidents_of_the_launch_day(marketing):
    data = marketing.get("/api/incidents").json()
    assert data["date"] == LAUNCH and len(data["days"]) == 9
    spikes = [row for row in data["rows"] if row["is_spike"]]
    assert spikes and spikes == data["rows"][: len(spikes)]
    top = spikes[0]
    assert top["calls"] >= 10 and top["expected"] < 3
    assert top["examples"] and top["examples"][0]["url"].startswith("/calls/")
    assert "一三八" not in json.dumps(data, ensure_ascii=False)
    only = marketing.get("/api/incidents", params={"spikes": "1"}).json()["rows"]
    assert len(only) == len(spikes)
    page = marketing.get("/incidents").text
    bars = chart_data(page, "incident-chart")["bars"]
    assert "SPIKE" in page and [b["spike"] for b in bars[: len(spikes)]] == [True] * len(spikes)
    assert bars[0]["calls"] == top["calls"] and bars[0]["expected"] == top["expected"]


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/incidents?date=2026-13-01", 400),
        ("/api/incidents?date=2020-01-01", 404),
        ("/api/incidents?spikes=maybe", 400),
        ("/incidents?date=2020-01-01", 404),
    ],
)
def test_incidents_errors(supervisor, url, status):
    assert supervisor.get(url).status_code == status


# saved queries ---------------------------------------------------------------------------
def test_saved_queries_need_the_csrf_token(supervisor):
    body = {"name": "pre-orders", "params": {"q": "预约"}}
    assert supervisor.post("/api/saved", json=body).status_code == 403
    response = supervisor.post("/api/saved", json=body, headers={"X-CSRF-Token": "nope"})
    assert response.status_code == 403


def test_saved_query_lifecycle_and_matches_across_days(supervisor, analyst):
    token = csrf(supervisor)
    before = [s["id"] for s in supervisor.get("/api/saved").json()]  # other tests' lists
    body = {"name": "pre-orders", "params": {"q": "预约", "queue": ["preorder"]}}
    saved = supervisor.post("/api/saved", json=body, headers={"X-CSRF-Token": token})
    assert saved.status_code == 201
    query_id = saved.json()["id"]
    assert saved.json()["params"] == {"q": "预约", "queue": ["preorder"]}
    assert [s["id"] for s in supervisor.get("/api/saved").json()] == [*before, query_id]
    matches = supervisor.get(f"/api/saved/{query_id}/calls").json()
    days = {d["date"]: d["matches"] for d in matches["days"]}
    assert len(days) == 9 and days[LAUNCH] == max(days.values()) > 5
    assert matches["calls"][0]["date"] == LAUNCH
    assert matches["calls"][0]["url"].startswith("/calls/")
    assert (
        supervisor.get(f"/api/saved/{query_id}/calls?days=3").json()["days"][-1]["date"] == LAUNCH
    )
    page = supervisor.get(f"/saved/{query_id}")
    chart = chart_data(page.text, "saved-chart")
    assert (
        page.status_code == 200
        and dict(zip(chart["dates"], [p["value"] for p in chart["points"]], strict=True)) == days
    )
    # another user neither sees nor deletes it
    assert analyst.get(f"/api/saved/{query_id}/calls").status_code == 404
    response = analyst.delete(f"/api/saved/{query_id}", headers={"X-CSRF-Token": csrf(analyst)})
    assert response.status_code == 404
    assert supervisor.delete(f"/api/saved/{query_id}").status_code == 403  # no token
    response = supervisor.delete(f"/api/saved/{query_id}", headers={"X-CSRF-Token": token})
    assert response.status_code == 204
    assert [s["id"] for s in supervisor.get("/api/saved").json()] == before


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (json.dumps({"params": {}}).encode(), 400),
        (json.dumps({"params": {"q": "("}}).encode(), 400),
        (json.dumps({"params": {"q": "退款", "from": "soon"}}).encode(), 400),
        (json.dumps({"params": {"q": "退款", "x": {"y": 1}}}).encode(), 400),
        (json.dumps({"name": 5, "params": {"q": "退款"}}).encode(), 400),
        (json.dumps({"name": "n" * 200, "params": {"q": "退款"}}).encode(), 400),
        (b"{" + b" " * 20000 + b"}", 400),
    ],
)
def test_saved_query_bad_bodies(supervisor, body, status):
    response = supervisor.post(
        "/api/saved",
        content=body,
        headers={"X-CSRF-Token": csrf(supervisor), "Content-Type": "application/json"},
    )
    assert response.status_code == status
    assert response.json()["error"]


def test_marketing_cannot_save_an_agent_filter(marketing):
    body = {"params": {"q": "退款", "agent": "A100"}}
    response = marketing.post("/api/saved", json=body, headers={"X-CSRF-Token": csrf(marketing)})
    assert response.status_code == 403


# pages -----------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["supervisor", "analyst", "marketing"])
def test_every_page_renders_for_every_role(web_app, role):
    client = sign_in(web_app, role)
    for url in PAGES[1:-1]:
        response = client.get(url)
        assert response.status_code == 200, (url, response.text[:300])
        assert f"<b>{role}</b>" in response.text
    assert client.get("/no-such-page").status_code == 404
    assert client.get("/api/no-such-thing").json()["status"] == 404


def test_call_page_for_a_supervisor_has_the_audio_at_the_hit(supervisor):
    page = supervisor.get(f"/calls/{AUDIO_CALL}?date={LAUNCH}&t=26.66&seg=5").text
    assert f'src="/api/calls/{AUDIO_CALL}/audio"' in page and 'data-start="26.66"' in page
    assert 'class="seg spk-customer' in page and 'id="seg-5"' in page
    assert re.search(r'class="seg spk-customer emo-\w+ hit" id="seg-5"', page)


# the command line ------------------------------------------------------------------------
def test_users_cli(tmp_path, monkeypatch):
    runner = CliRunner()
    warehouse = ["--warehouse", str(tmp_path / "wh")]
    monkeypatch.setenv("NEW_PASSWORD", "a long password")
    result = runner.invoke(
        cli,
        ["users", "add", "lee", "--role", "analyst", "--password-env", "NEW_PASSWORD", *warehouse],
    )
    assert result.exit_code == 0, result.output
    again = runner.invoke(
        cli,
        ["users", "add", "lee", "--role", "analyst", "--password-env", "NEW_PASSWORD", *warehouse],
    )
    assert again.exit_code == 2 and "--replace" in again.output
    bad = runner.invoke(cli, ["users", "add", "x y", "--role", "analyst", *warehouse])
    assert bad.exit_code == 2 and "user name" in bad.output
    role = runner.invoke(cli, ["users", "add", "kim", "--role", "boss", *warehouse])
    assert role.exit_code == 2 and "not one of" in role.output
    monkeypatch.setenv("SHORT", "short")
    short = runner.invoke(
        cli, ["users", "add", "kim", "--role", "analyst", "--password-env", "SHORT", *warehouse]
    )
    assert short.exit_code == 2 and "at least 8" in short.output
    demo = runner.invoke(cli, ["users", "demo", "--json", *warehouse])
    created = json.loads(demo.stdout)
    assert [u["role"] for u in created] == ["supervisor", "analyst", "marketing"]
    listed = json.loads(runner.invoke(cli, ["users", "list", "--json", *warehouse]).stdout)
    assert [u["name"] for u in listed] == ["analyst", "lee", "marketing", "supervisor"]
    store = UserStore(tmp_path / "wh" / "web" / "users.json")
    assert store.verify("marketing", created[2]["password"]) is not None
    assert store.verify("lee", "a long password") is not None
    assert runner.invoke(cli, ["users", "remove", "lee", *warehouse]).exit_code == 0
    assert runner.invoke(cli, ["users", "remove", "lee", *warehouse]).exit_code == 1
    monkeypatch.setenv("CALLSCOPE_DEMO_PASSWORD", "demo password")
    shown = runner.invoke(cli, ["users", "demo", *warehouse]).output
    assert "demo password" not in shown and "$CALLSCOPE_DEMO_PASSWORD" in shown
    assert store.verify("analyst", "demo password") is not None


def test_serve_refuses_a_missing_warehouse(tmp_path):
    result = CliRunner().invoke(cli, ["serve", "--warehouse", str(tmp_path / "none")])
    assert result.exit_code == 2 and "no warehouse" in result.output
