"""Queue display names (`web.queue_names`) over the shared test warehouse: per language or one
for both, the id where a queue has no name, on the overview, the agent view, a day's calls,
search and trends; exports keep the id column and add the name in the export's language."""

from __future__ import annotations

import csv
import io

import pytest
from callscope.core.config import WebSettings
from callscope.web import i18n
from pydantic import ValidationError

from tests.web_support import make_app, sign_in

LAUNCH = "2026-11-20"
NAMES = {"preorder": {"zh": "预购专线", "en": "Pre-orders"}, "billing": "账务"}


@pytest.fixture(scope="module")
def named_app(web_warehouse):
    return make_app(web_warehouse, secret=b"queue-names-" + b"q" * 32, queue_names=NAMES)


@pytest.fixture(scope="module")
def readers(named_app):
    """A supervisor reading English and one reading Chinese."""
    english = sign_in(named_app, "supervisor")
    chinese = sign_in(named_app, "supervisor")
    assert chinese.get("/language/zh-CN", params={"next": "/"}).status_code == 303
    return {"en": english, "zh-CN": chinese}


def test_a_queue_name_in_each_language_with_the_id_as_fallback():
    assert i18n.queue_name(NAMES, "preorder", "zh-CN") == "预购专线"
    assert i18n.queue_name(NAMES, "preorder", "en") == "Pre-orders"
    assert i18n.queue_name(NAMES, "billing", "en") == "账务"  # one name for both
    assert i18n.queue_name(NAMES, "broadband", "zh-CN") == "broadband"
    assert i18n.queue_name({"vip": {"zh": "贵宾"}}, "vip", "en") == "vip"
    assert i18n.queue_name(NAMES, None, "en") == ""


def test_queue_names_are_checked_when_the_settings_load():
    assert WebSettings().queue_names == {}
    with pytest.raises(ValidationError, match="name it in zh and en"):
        WebSettings(queue_names={"billing": {"fr": "facturation"}})


@pytest.mark.parametrize(("language", "preorder"), [("en", "Pre-orders"), ("zh-CN", "预购专线")])
def test_pages_show_the_names_and_keep_the_ids_in_links(readers, language, preorder):
    client = readers[language]
    overview = client.get("/overview", params={"from": "2026-11-12", "to": LAUNCH}).text
    assert f'<option value="preorder" >{preorder}</option>' in overview
    assert '<option value="billing" >账务</option>' in overview
    assert '<option value="broadband" >broadband</option>' in overview
    calls = client.get("/calls", params={"date": LAUNCH, "queue": "preorder"}).text
    assert f"<td>{preorder}</td>" in calls and "<td>preorder</td>" not in calls
    assert f": {preorder}</span>" in calls  # the filter's tag
    agent = client.get("/agents/A100", params={"from": LAUNCH, "to": LAUNCH}).text
    assert preorder in agent and "账务" in agent
    search = client.get("/search", params={"q": "手机号", "queue": "preorder"}).text
    assert f'<option value="preorder" selected>{preorder}</option>' in search
    assert f" {preorder}</span>" in search  # the hit's queue
    trends = client.get("/trends", params={"by": "queue"}).text
    assert f"<td>{preorder}</td>" in trends


@pytest.mark.parametrize(("language", "preorder"), [("en", "Pre-orders"), ("zh-CN", "预购专线")])
def test_exports_keep_the_queue_id_and_add_its_name(readers, language, preorder):
    client = readers[language]
    for url in (f"/api/export/calls.csv?date={LAUNCH}", "/api/export/search.csv?q=手机号"):
        response = client.get(url)
        assert response.status_code == 200, response.text
        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        header = list(rows[0])
        assert header.index("queue_name") == header.index("queue") + 1
        shown = {row["queue"]: row["queue_name"] for row in rows}
        assert shown["preorder"] == preorder
        assert shown.get("billing", "账务") == "账务"
        assert shown.get("broadband", "broadband") == "broadband"
    calls = client.get(f"/api/export/calls.csv?date={LAUNCH}").content.decode("utf-8-sig")
    assert {"billing", "broadband"} <= {row["queue"] for row in csv.DictReader(io.StringIO(calls))}
