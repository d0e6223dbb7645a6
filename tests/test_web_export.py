"""CSV and Excel exports of the web console over a real warehouse: each export's rows are the
JSON API's for the same query (redacted for marketing), times in the configured timezone,
Chinese intact, the row cap and its note, the agent export for supervisors only, and the
export log."""

from __future__ import annotations

import csv
import datetime as dt
import io
import stat
from zoneinfo import ZoneInfo

import pytest
from callscope.web import export
from callscope.web.app import create_app
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from tests.web_support import PHONE_TEXT, sign_in

SECRET = b"export-secret-" + b"z" * 32
LAUNCH = "2026-11-20"
TZ = ZoneInfo("Asia/Shanghai")
BOM = b"\xef\xbb\xbf"
PHONE = "13812345678"


# what an API value looks like in a spreadsheet, written out here on its own ---------------
def expected(value, column: str):
    if value is None or value == []:
        return None
    if column == "started_at":
        return dt.datetime.fromisoformat(value).astimezone(TZ).replace(tzinfo=None)
    if isinstance(value, list) and isinstance(value[0], dict):
        return "\n".join(_entry(item) for item in value)
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    return value


def _entry(item: dict) -> str:
    label = " ".join(str(v) for k, v in item.items() if k not in ("text", "url") and v is not None)
    return f"{label}: {item['text']}"


def as_csv(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def expected_rows(api_rows: list[dict], columns: list[str]) -> list[list]:
    return [[expected(api_value(row, column), column) for column in columns] for row in api_rows]


def api_value(row: dict, column: str):
    if column == "queue_name":  # exports only: without web.queue_names, the queue's id
        return row.get("queue")
    return row.get(column)


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(BOM)
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def read_xlsx(response) -> list[list]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == export.FORMATS["xlsx"]
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    rows = [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    return [[None if value == "" else value for value in row] for row in rows]


def assert_same(client: TestClient, url: str, api_rows: list[dict]) -> list[str]:
    """The CSV and the Excel export at `url` hold `api_rows`, nothing more, nothing less."""
    text = read_csv(client.get(url.replace("{fmt}", "csv")))
    columns = text[0]
    rows = expected_rows(api_rows, columns)
    assert text[1:] == [[as_csv(value) for value in row] for row in rows]
    book = read_xlsx(client.get(url.replace("{fmt}", "xlsx")))
    assert book[0] == columns
    assert book[1:] == [[_as_stored(value) for value in row] for row in rows]
    return columns


def _as_stored(value):
    """Excel keeps 15 significant digits of a number."""
    return pytest.approx(value, rel=1e-14) if isinstance(value, float) else value


def api_search(client: TestClient, query: str) -> list[dict]:
    hits, page = [], 1
    while True:
        answer = client.get("/api/search", params={"q": query, "limit": 100, "page": page})
        hits += answer.json()["hits"]
        if page >= answer.json()["pages"]:
            return hits
        page += 1


def log_entries(client: TestClient) -> list[dict]:
    response = client.get("/api/exports", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return response.json()


# rows equal the API's --------------------------------------------------------------------
def test_search_export_equals_every_page_of_the_search_api(supervisor):
    hits = api_search(supervisor, "手机号")
    assert len(hits) > 100  # more than one page of the API
    columns = assert_same(supervisor, "/api/export/search.{fmt}?q=手机号", hits)
    assert columns[:3] == ["call_id", "date", "agent_id"] and "highlights" not in columns
    assert any(PHONE in row["text"] for row in hits)  # supervisors see personal data


def test_search_export_walks_the_index_a_page_at_a_time(supervisor, monkeypatch):
    monkeypatch.setattr(export, "SEARCH_PAGE", 7)
    hits = api_search(supervisor, "失败 OR 手机号")
    assert_same(supervisor, "/api/export/search.{fmt}?q=失败 OR 手机号", hits)


def test_search_export_takes_the_search_filters(supervisor):
    params = {"q": "手机号", "queue": "billing", "from": "2026-11-14", "to": "2026-11-16"}
    hits = supervisor.get("/api/search", params=params | {"limit": 100}).json()["hits"]
    assert hits and {hit["queue"] for hit in hits} == {"billing"}
    url = "/api/export/search.{fmt}?q=手机号&queue=billing&from=2026-11-14&to=2026-11-16"
    assert_same(supervisor, url, hits)


def test_day_calls_export_equals_the_day_api_with_times_in_the_timezone(supervisor):
    answer = supervisor.get("/api/calls", params={"date": LAUNCH, "limit": 1000}).json()
    calls = answer["calls"]
    assert answer["total"] == len(calls) > 20
    columns = assert_same(supervisor, f"/api/export/calls.{{fmt}}?date={LAUNCH}", calls)
    for name in ("duration_s", "silence_ratio", "overtalk_s", "interruptions_agent",
                 "customer_sentiment", "escalation_risk", "categories", "agent_id",
                 "audio_url"):  # fmt: skip
        assert name in columns
    text = read_csv(supervisor.get(f"/api/export/calls.csv?date={LAUNCH}"))
    started = {row[0]: row[columns.index("started_at")] for row in text[1:]}
    assert started["launch-audio"] == f"{LAUNCH} 19:00:00"  # 11:00 UTC in Shanghai


def test_day_calls_api_pages_and_filters(supervisor, marketing):
    everything = supervisor.get("/api/calls", params={"date": LAUNCH, "limit": 1000}).json()
    first = supervisor.get("/api/calls", params={"date": LAUNCH, "limit": 5}).json()
    second = supervisor.get("/api/calls", params={"date": LAUNCH, "limit": 5, "page": 2}).json()
    assert first["calls"] + second["calls"] == everything["calls"][:10]
    assert first["pages"] == -(-everything["total"] // 5)
    queue = supervisor.get("/api/calls", params={"date": LAUNCH, "queue": "billing"}).json()
    assert queue["total"] == 5 and {c["queue"] for c in queue["calls"]} == {"billing"}
    assert supervisor.get("/api/calls", params={"date": "2020-01-01"}).status_code == 404
    assert marketing.get("/api/calls", params={"agent": "A100"}).status_code == 403


def test_trends_and_incidents_exports_equal_the_api(supervisor, analyst):
    for client in (supervisor, analyst):
        for by in ("queue", "agent", "all"):
            rows = client.get("/api/trends", params={"by": by}).json()["rows"]
            assert rows
            assert_same(client, f"/api/export/trends.{{fmt}}?by={by}", rows)
    rows = supervisor.get("/api/incidents", params={"date": LAUNCH}).json()["rows"]
    columns = assert_same(supervisor, f"/api/export/incidents.{{fmt}}?date={LAUNCH}", rows)
    assert "examples" in columns


# roles -----------------------------------------------------------------------------------
def test_marketing_exports_are_redacted_without_agents_or_audio(marketing, supervisor):
    hits = api_search(marketing, "手机号")
    columns = assert_same(marketing, "/api/export/search.{fmt}?q=手机号", hits)
    assert "agent_id" not in columns
    for fmt in ("csv", "xlsx"):
        body = marketing.get(f"/api/export/search.{fmt}?q=手机号")
        assert PHONE.encode() not in body.content
    text = read_csv(marketing.get("/api/export/search.csv?q=手机号"))
    assert any("[phone]" in cell for row in text for cell in row)

    calls = marketing.get("/api/calls", params={"date": LAUNCH, "limit": 1000}).json()["calls"]
    columns = assert_same(marketing, f"/api/export/calls.{{fmt}}?date={LAUNCH}", calls)
    assert "agent_id" not in columns and "audio_url" not in columns
    incidents = marketing.get("/api/incidents", params={"date": LAUNCH}).json()["rows"]
    assert_same(marketing, f"/api/export/incidents.{{fmt}}?date={LAUNCH}", incidents)
    for url in ("/api/export/trends.csv?by=agent", "/api/export/search.xlsx?q=手机号&agent=A100"):
        assert marketing.get(url).status_code == 403


def test_an_agents_calls_are_for_supervisors_only(supervisor, analyst, marketing):
    params = {"from": "2026-11-12", "to": LAUNCH}
    for client in (marketing, analyst):
        assert client.get("/api/agents/A100/calls", params=params).status_code == 403
        for fmt in ("csv", "xlsx"):
            response = client.get(f"/api/export/agent.{fmt}", params=params | {"agent": "A100"})
            assert response.status_code == 403
            assert response.json()["status"] == 403
    answer = supervisor.get("/api/agents/A100/calls", params=params | {"limit": 1000}).json()
    calls = answer["calls"]
    assert calls and {call["agent_id"] for call in calls} == {"A100"}
    assert {call["date"] for call in calls} >= {"2026-11-12", LAUNCH}
    url = "/api/export/agent.{fmt}?agent=A100&from=2026-11-12&to=" + LAUNCH
    assert_same(supervisor, url, calls)
    response = supervisor.get(url.replace("{fmt}", "csv"))
    assert (
        'filename="callscope-agent-A100-2026-11-12-2026-11-20.csv"'
        in response.headers["content-disposition"]
    )


def test_exports_need_a_session_and_a_known_kind_and_format(web_app, supervisor):
    assert TestClient(web_app).get("/api/export/calls.csv").status_code == 401
    assert TestClient(web_app).get("/api/exports").status_code == 401
    assert supervisor.get("/api/export/nothing.csv").status_code == 404
    assert supervisor.get("/api/export/calls.pdf").status_code == 400
    assert supervisor.get("/api/export/search.csv").status_code == 400  # no q


# the cap ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def capped(web_warehouse):
    settings = web_warehouse.settings
    web = settings.web.model_copy(update={"export_max_rows": 5})
    app = create_app(settings.model_copy(update={"web": web}), secret=SECRET)
    return sign_in(app, "supervisor")


def test_an_export_past_the_cap_stops_there_and_says_so(capped, monkeypatch):
    monkeypatch.setattr(export, "SEARCH_PAGE", 2)
    hits = api_search(capped, "手机号")
    calls = capped.get("/api/calls", params={"date": LAUNCH, "limit": 1000}).json()["calls"]
    for url, rows in (
        ("/api/export/search.{fmt}?q=手机号", hits),
        (f"/api/export/calls.{{fmt}}?date={LAUNCH}", calls),
    ):
        for fmt, read in (("csv", read_csv), ("xlsx", read_xlsx)):
            response = capped.get(url.replace("{fmt}", fmt))
            assert response.headers["x-callscope-truncated"] == "true"
            assert response.headers["x-callscope-rows"] == "5"
            assert response.headers["x-callscope-total"] == str(len(rows))
            table = read(response)
            written = expected_rows(rows[:5], table[0])
            if fmt == "csv":
                written = [[as_csv(value) for value in row] for row in written]
            assert table[1:6] == [[_as_stored(value) for value in row] for row in written]
            assert len(table) == 7
            note = table[6][0]
            assert note.startswith("NOTE: only the first 5 of") and "export_max_rows" in note
    entry = log_entries(capped)[0]
    assert entry["rows"] == 5 and entry["truncated"] and entry["total"] == len(calls)


def test_an_export_within_the_cap_says_it_is_whole(supervisor):
    response = supervisor.get(f"/api/export/calls.csv?date={LAUNCH}")
    assert response.headers["x-callscope-truncated"] == "false"
    assert not any(row[0].startswith("NOTE:") for row in read_csv(response))


# the audit log ---------------------------------------------------------------------------
def test_every_export_is_logged_with_its_user_rows_and_query(supervisor, marketing, web_warehouse):
    supervisor.get("/api/export/search.xlsx", params={"q": "失败", "queue": "preorder"})
    marketing.get(f"/api/export/calls.csv?date={LAUNCH}&queue=billing&queue=broadband")
    marketing.get("/api/export/agent.csv?agent=A100")  # refused: not logged
    latest, before = log_entries(supervisor)[:2]
    assert latest["user"] == "marketing" and latest["role"] == "marketing"
    assert latest["kind"] == "calls" and latest["format"] == "csv"
    assert latest["params"] == {"date": LAUNCH, "queue": ["billing", "broadband"]}
    assert latest["rows"] == 9 and not latest["truncated"]
    assert before["user"] == "supervisor" and before["kind"] == "search"
    assert before["format"] == "xlsx" and before["params"] == {"q": "失败", "queue": "preorder"}
    hits = supervisor.get("/api/search", params={"q": "失败", "queue": "preorder", "limit": 100})
    assert before["rows"] == hits.json()["total"] > 0
    assert dt.datetime.fromisoformat(latest["at"]).tzinfo is not None
    assert marketing.get("/api/exports").status_code == 403
    mine = supervisor.get("/api/exports", params={"user": "marketing", "limit": 1}).json()
    assert mine == [latest]
    path = web_warehouse.settings.web_dir / export.LOG_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# Chinese and formulas --------------------------------------------------------------------
def test_chinese_text_survives_csv_and_excel(supervisor):
    hits = api_search(supervisor, "手机号是")
    texts = {hit["text"] for hit in hits}
    assert PHONE_TEXT in texts
    csv_rows = read_csv(supervisor.get("/api/export/search.csv?q=手机号是"))
    column = csv_rows[0].index("text")
    assert PHONE_TEXT in {row[column] for row in csv_rows[1:]}
    book = read_xlsx(supervisor.get("/api/export/search.xlsx?q=手机号是"))
    assert PHONE_TEXT in {row[column] for row in book[1:]}
    assert "我的手机号是" in supervisor.get("/api/export/search.csv?q=手机号是").content.decode(
        "utf-8-sig"
    )


def test_text_that_looks_like_a_formula_stays_text():
    assert export.csv_text("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert export.csv_text("@SUM(A1)") == "'@SUM(A1)"
    assert export.csv_text("退款") == "退款" and export.csv_text(-1.5) == "-1.5"
    book = Workbook(write_only=True)
    sheet = book.create_sheet("t")
    sheet.append([export._xlsx_value(sheet, "=1+2"), export._xlsx_value(sheet, "a\x01b")])
    data = io.BytesIO()
    book.save(data)
    cells = next(load_workbook(data).worksheets[0].iter_rows())
    assert [cell.data_type for cell in cells] == ["s", "s"]
    assert [cell.value for cell in cells] == ["=1+2", "ab"]
