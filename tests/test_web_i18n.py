"""The web console's languages, fast: every message of the templates and pages has a Chinese
translation (extracted with Babel as `pybabel extract` does), the language setting and its
default, bilingual labels, local times and the language switch (no warehouse needed)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from callscope.core.config import load_config
from callscope.core.errors import ConfigError
from callscope.web import i18n
from callscope.web.app import create_app
from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parent.parent
WEB = REPO / "web"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def extracted() -> dict[str, set[str]]:
    """msgid -> the files it is in, as babel.cfg tells Babel to find them."""
    with (REPO / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str, set[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map, options_map
    ):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault(msgid, set()).add(filename)
    return found


@pytest.fixture(scope="module")
def catalog():
    with i18n.catalog_path("zh-CN").open("rb") as po:
        return read_po(po, locale="zh_CN")


@pytest.fixture(scope="module")
def messages():
    return extracted()


def test_the_templates_and_pages_have_messages_to_translate(messages):
    files = {name for names in messages.values() for name in names}
    templates = {path.relative_to(WEB).as_posix() for path in (WEB / "templates").glob("*.html")}
    assert templates <= files, f"templates without a translatable message: {templates - files}"
    assert {"pages.py", "app.py", "i18n.py"} <= files
    assert "warm-up: no baseline yet" in messages


def test_every_message_has_a_chinese_translation(messages, catalog):
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog if m.id and m.string
    }
    missing = sorted(set(messages) - set(translated))
    assert not missing, f"not in web/locale/zh_CN (run pybabel update, docs/console.md): {missing}"
    empty = [
        m.id
        for m in catalog
        if m.id and not all(m.string if isinstance(m.id, tuple) else [m.string])
    ]
    assert not empty, f"empty translations: {empty}"
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy translations are not used; check and unmark them: {fuzzy}"
    stale = sorted(
        {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id} - set(messages)
    )
    assert not stale, f"translations of messages no longer in the code: {stale}"


def test_translations_keep_their_placeholders(catalog):
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert not problems, problems
    for message in catalog:
        if message.id and message.python_format:
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            wanted = set(re.findall(r"%\((\w+)\)", ids[-1]))
            for text in strings:
                assert set(re.findall(r"%\((\w+)\)", text)) == wanted, (message.id, text)


def test_the_catalog_is_read_without_a_build_step():
    zh = i18n.translations("zh-CN")
    assert zh.gettext("warm-up: no baseline yet") == "预热中：尚无基线"
    assert zh.ngettext("%(num)s call on %(day)s", "%(num)s calls on %(day)s", 3) == (
        "%(day)s共 %(num)s 通电话"
    )
    assert i18n.translations("en").gettext("Search") == "Search"


@pytest.fixture(scope="module")
def bare_app(tmp_path_factory):
    """The app of the shipped config over an empty warehouse (its pages need no data)."""
    root = tmp_path_factory.mktemp("i18n")
    settings = load_config(None, warehouse=root / "warehouse", recordings=root / "recordings")
    return create_app(settings, secret=b"i" * 32)


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_template_compiles_in_each_language(bare_app, language):
    env = bare_app.state.templates[language].env
    assert "jinja2.ext.InternationalizationExtension" in env.extensions
    for path in sorted((WEB / "templates").glob("*.html")):
        env.get_template(path.name)


# the setting ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("languages", "web", "expected"),
    [
        (["zh", "en"], None, "zh-CN"),
        (["zh"], None, "zh-CN"),
        (["en", "zh"], None, "en"),
        (["en"], None, "en"),
        (["zh", "en"], "en", "en"),
        (["en"], "zh-CN", "zh-CN"),
        (["en"], "zh_cn", "zh-CN"),
    ],
)
def test_the_language_defaults_from_asr_languages(tmp_path, languages, web, expected):
    section = {} if web is None else {"web": {"language": web}}
    settings = load_config(None, asr={"languages": languages}, warehouse=tmp_path, **section)
    assert i18n.default_language(settings) == expected


def test_the_shipped_config_speaks_chinese_first():
    settings = load_config(None)
    assert settings.web.language is None
    assert i18n.default_language(settings) == "zh-CN"


@pytest.mark.parametrize("bad", ["fr", "zh-TW", "chinese", ""])
def test_an_unknown_language_is_refused_with_what_to_write(tmp_path, bad):
    path = tmp_path / "config.yaml"
    path.write_text(f"web:\n  language: '{bad}'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert "web.language" in message and "zh-CN or en" in message and repr(bad) in message


def test_the_language_comes_from_the_environment_too(monkeypatch, tmp_path):
    monkeypatch.setenv("CALLSCOPE_WEB__LANGUAGE", "en")
    assert load_config(None, warehouse=tmp_path).web.language == "en"


# labels, dates, times ------------------------------------------------------------------
def test_a_bilingual_label_shows_the_page_language():
    label = "预约 / 预售失败 · pre-order failure"
    assert i18n.label_in(label, "zh-CN") == "预约 / 预售失败"
    assert i18n.label_in(label, "en") == "pre-order failure"
    topic = "失败 · 新手机 · 下单 · 预售"  # a topic's Chinese words stay whole
    assert i18n.label_in(topic, "en") == topic and i18n.label_in(topic, "zh-CN") == topic
    assert i18n.label_in("plain label", "zh-CN") == "plain label"
    assert i18n.label_in(None, "en") is None


def test_a_category_id_is_shown_as_its_label():
    labels = {"preorder_failure": "预约 / 预售失败 · pre-order failure"}
    zh = i18n.Presenter("zh-CN", SHANGHAI, labels)
    en = i18n.Presenter("en", SHANGHAI, labels)
    assert zh.category("preorder_failure") == "预约 / 预售失败"
    assert en.category("preorder_failure") == "pre-order failure"
    assert zh.category("preorder_failure (sounds like)") == "预约 / 预售失败（同音）"
    assert en.category("preorder_failure (sounds like)") == "pre-order failure (sounds like)"
    assert zh.category("no_such_rule") == "no_such_rule"


def test_times_are_local_and_dates_in_the_locale_format():
    zh = i18n.Presenter("zh-CN", SHANGHAI)
    en = i18n.Presenter("en", SHANGHAI)
    started = dt.datetime(2026, 11, 20, 2, 42, tzinfo=dt.UTC)
    assert zh.time(started) == "10:42" and zh.time(started.isoformat()) == "10:42"
    assert zh.time("2026-11-20T02:42:00") == "10:42"  # naive: stored as UTC
    assert zh.moment("2026-11-19T20:30:00+00:00") == "2026年11月20日 04:30"  # the next local day
    assert en.moment(started) == "Nov 20, 2026 10:42"
    assert (
        zh.day("2026-11-20") == "2026年11月20日" and en.day(dt.date(2026, 11, 20)) == "Nov 20, 2026"
    )
    assert zh.time(None) == "-" and zh.day("not a day") == "not a day"


def test_the_zone_is_named_with_its_offset():
    now = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    zh = i18n.Presenter("zh-CN", SHANGHAI).zone_note(now)
    assert "Asia/Shanghai" in zh and "UTC+08:00" in zh and zh.startswith("时间均为")
    york = i18n.Presenter("en", ZoneInfo("America/New_York")).zone_note(now)
    assert "America/New_York" in york and "UTC-05:00" in york


def test_words_from_the_data_are_translated_others_kept():
    zh = i18n.Presenter("zh-CN", SHANGHAI)
    assert zh.term("customer") == "客户" and zh.term("angry") == "愤怒"
    assert zh.term("preorder") == "preorder" and zh.term(None) == ""
    assert i18n.Presenter("en", SHANGHAI).term("customer") == "customer"


# the switch ----------------------------------------------------------------------------
@pytest.fixture
def bare_client(bare_app):
    return TestClient(bare_app, follow_redirects=False)


def test_the_sign_in_page_is_chinese_until_the_switch(bare_client):
    page = bare_client.get("/login").text
    assert '<html lang="zh-CN">' in page and "登录" in page and "Asia/Shanghai" in page
    assert 'href="/language/en?next=%2Flogin"' in page
    switched = bare_client.get("/language/en", params={"next": "/login"})
    assert switched.status_code == 303 and switched.headers["location"] == "/login"
    cookie = switched.headers["set-cookie"]
    assert cookie.startswith(f"{i18n.LANGUAGE_COOKIE}=en") and "HttpOnly" in cookie
    page = bare_client.get("/login").text
    assert '<html lang="en">' in page and "Sign in" in page and "登录" not in page
    bare_client.get("/language/zh-CN")
    assert '<html lang="zh-CN">' in bare_client.get("/login").text


def test_the_switch_refuses_unknown_languages_and_other_sites(bare_client):
    assert bare_client.get("/language/fr").status_code == 404
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil"):
        response = bare_client.get("/language/en", params={"next": target})
        assert response.status_code == 303 and response.headers["location"] == "/"
    bare_client.cookies.clear()
    bare_client.cookies.set(i18n.LANGUAGE_COOKIE, "klingon")
    assert '<html lang="zh-CN">' in bare_client.get("/login").text  # a cookie of no language


def test_messages_of_the_pages_follow_the_language_the_api_stays_english(bare_client):
    page = bare_client.get("/no/such/page")
    assert page.status_code == 404 and "没有这个页面" in page.text and "未找到" in page.text
    assert bare_client.get("/api/no-such").json()["error"] == "no such page"
    bare_client.cookies.set(i18n.LANGUAGE_COOKIE, "en")
    assert "no such page" in bare_client.get("/no/such/page").text
