"""The search index and the day-level keyword steps over a real Parquet warehouse."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml
from callscope.keywords.daily import apply_categories, stale_days, update_index
from callscope.keywords.index import SearchFilters, SearchIndex, SearchIndexError
from callscope.keywords.postings import ENGINES
from callscope.keywords.rules import load_rules
from callscope.storage.warehouse import Warehouse
from typer.testing import CliRunner

from callscope.cli import app

DAY1 = dt.date(2026, 11, 20)
DAY2 = dt.date(2026, 11, 21)

CALLS_DAY1 = {
    "c-preorder": (
        "A100",
        "preorder",
        [
            ("agent", "您好，很高兴为您服务，请问有什么可以帮您？"),
            ("customer", "我在網上預約新手機，一直提示預約失敗。"),
            ("agent", "非常抱歉，我帮您查一下订单。"),
            ("customer", "查不到配送信息，再不解决我就投诉到工信部。"),
        ],
    ),
    "c-refund": (
        "A101",
        "billing",
        [
            ("agent", "您好，请讲。"),
            ("customer", "我要退款，话费被多扣了。"),
            ("agent", "好的，已经为您申请退款单。"),
        ],
    ),
    "c-english": (
        "A100",
        "international",
        [
            ("agent", "Thank you for calling, how can I help you today?"),
            ("customer", "My online pre-order failed and I want to cancel the contract."),
        ],
    ),
}
CALLS_DAY2 = {
    "d2-cancel": (
        "A101",
        "billing",
        [
            ("customer", "我要销户，已经退款了也没用。"),
            ("agent", "好的，我帮您登记销户。"),
        ],
    ),
}


def put_day(store: Warehouse, day: dt.date, calls: dict) -> None:
    for call_id, (agent, queue, turns) in calls.items():
        segments = [
            {
                "call_id": call_id,
                "date": day,
                "idx": i,
                "start_s": 4.0 * i,
                "end_s": 4.0 * i + 3.5,
                "channel": 0 if who == "agent" else 1,
                "speaker": who,
                "text": text,
                "overlap": False,
            }
            for i, (who, text) in enumerate(turns)
        ]
        row = {
            "call_id": call_id,
            "date": day,
            "status": "ok",
            "agent_id": agent,
            "queue": queue,
            "duration_s": 4.0 * len(turns),
        }
        store.stage_call(day, row, segments)
    store.commit_day(day)


@pytest.fixture
def store(tmp_path):
    store = Warehouse(tmp_path / "warehouse")
    put_day(store, DAY1, CALLS_DAY1)
    return store


@pytest.fixture(params=ENGINES)
def index(store, tmp_path, request):
    """The index over DAY1, in each full-text engine."""
    index = SearchIndex(tmp_path / "warehouse" / "search", engine=request.param)
    update_index(store, index, DAY1)
    yield index
    index.close()


def found(index, query, **filters):
    result = index.search(query, SearchFilters(**filters), limit=50)
    return [(hit.call_id, hit.idx) for hit in result.hits]


def test_two_character_chinese_queries_match_inside_longer_words(index):
    assert set(found(index, "退款")) == {("c-refund", 1), ("c-refund", 2)}  # and in 退款单
    assert found(index, "预约") == [("c-preorder", 1)]  # stored in Traditional: 預約
    assert found(index, "預約失敗") == [("c-preorder", 1)]
    assert found(index, "约失") == [("c-preorder", 1)]  # any two characters, even across words
    assert found(index, "退货") == []


def test_english_words_phrases_and_prefixes(index):
    assert found(index, "HELP") == [("c-english", 0)]
    assert found(index, '"how can i help"') == [("c-english", 0)]
    assert found(index, '"help can"') == []
    assert found(index, "pre-order") == [("c-english", 1)]
    assert found(index, "cancel*") == [("c-english", 1)]
    assert found(index, "cance") == []


def test_boolean_queries(index):
    assert set(found(index, "退款 OR 销户 OR 工信部")) == {
        ("c-refund", 1),
        ("c-refund", 2),
        ("c-preorder", 3),
    }
    assert found(index, "退款 话费") == [("c-refund", 1)]
    assert found(index, "退款 NOT 话费") == [("c-refund", 2)]
    assert found(index, "(配送 OR 物流) 工信部") == [("c-preorder", 3)]


def test_filters(index, store):
    assert {c for c, _ in found(index, "您好", agents=["A100"])} == {"c-preorder"}
    assert found(index, "您好", queues=["billing"]) == [("c-refund", 0)]
    assert found(index, "帮您", speakers=["customer"]) == []
    assert len(found(index, "帮您", speakers=["agent"])) == 2
    assert found(index, "退款", date_from=DAY2) == []
    assert len(found(index, "退款", date_from=DAY1, date_to=DAY1)) == 2
    assert found(index, "退款", categories=["billing_dispute"]) == []  # not tagged yet


def test_hits_carry_highlights_context_and_time(index):
    result = index.search("工信部", limit=5)
    hit = result.hits[0]
    assert (hit.call_id, hit.date, hit.agent_id, hit.queue, hit.speaker) == (
        "c-preorder",
        "2026-11-20",
        "A100",
        "preorder",
        "customer",
    )
    start, end = hit.highlights[0]
    assert hit.text[start:end] == "工信部"
    assert hit.start_s <= hit.hit_s <= hit.end_s and hit.hit_s > hit.start_s
    assert [c["text"] for c in hit.before] == ["非常抱歉，我帮您查一下订单。"]
    assert hit.after == []  # the call's last segment: nothing from another call


def test_paging_sorting_and_totals(index):
    everything = index.search("您好 OR 帮您", limit=50)
    assert everything.total == len(everything.hits) == 3
    page = index.search("您好 OR 帮您", limit=2, offset=2)
    assert page.total == 3 and len(page.hits) == 1
    assert page.hits[0].call_id == everything.hits[2].call_id
    newest = index.search("您好 OR 帮您", sort="newest", limit=50)
    assert newest.hits[0].call_id > newest.hits[-1].call_id  # later rows first within a day
    # past the rank window, older matches follow newest first, and paging still reaches all
    capped = index.search("您好 OR 帮您", rank_window=2, limit=50)
    assert capped.ranked_among == 2 and capped.total == 3
    assert [h.call_id for h in capped.hits][2] == newest.hits[2].call_id
    assert capped.hits[2].score is None
    pages = [
        index.search("您好 OR 帮您", rank_window=2, limit=1, offset=n).hits[0] for n in range(3)
    ]
    assert sorted((h.call_id, h.idx) for h in pages) == sorted(
        (h.call_id, h.idx) for h in newest.hits
    )


def test_a_second_night_and_a_changed_day_update_without_duplicates(store, index):
    put_day(store, DAY2, CALLS_DAY2)
    assert stale_days(store, index) == [DAY2]
    assert update_index(store, index, DAY2) == 2
    assert update_index(store, index, DAY2) is None  # unchanged: nothing to do
    assert {c for c, _ in found(index, "退款")} == {"c-refund", "d2-cancel"}
    assert found(index, "销户", date_to=DAY1) == []
    # day 1 reprocessed: one call's words change; the day is replaced, not appended
    put_day(store, DAY1, {"c-refund": ("A101", "billing", [("customer", "我要退费。")])})
    assert stale_days(store, index) == [DAY1]
    update_index(store, index, DAY1)
    assert {c for c, _ in found(index, "退款")} == {"d2-cancel"}
    assert found(index, "退费") == [("c-refund", 0)]
    assert index.indexed_days() == {DAY1: 7, DAY2: 2}


def test_categories_apply_to_a_past_day_from_stored_segments(store, index):
    rules = load_rules(_starter_rules())
    run = apply_categories(store, DAY1, rules)
    assert run.tagged >= 2 and not run.skipped
    calls = {row["call_id"]: row for row in store.read("calls", DAY1).to_pylist()}
    assert {"preorder_failure", "regulator_escalation"} <= set(calls["c-preorder"]["categories"])
    assert "billing_dispute" in calls["c-refund"]["categories"]
    assert calls["c-refund"]["complaint_class"] == "business"
    hits = store.read("keyword_hits", DAY1).to_pylist()
    escalation = {h["matched"]: h for h in hits if h["category"] == "regulator_escalation"}
    assert set(escalation) == {"投诉到", "工信部"}
    assert escalation["工信部"]["speaker"] == "customer" and escalation["工信部"]["idx"] == 3
    assert apply_categories(store, DAY1, rules).skipped  # nothing changed
    assert len(store.read("keyword_hits", DAY1)) == len(hits)  # and nothing doubled
    update_index(store, index, DAY1)
    assert {c for c, _ in found(index, "您好 OR 退款", categories=["billing_dispute"])} == {
        "c-refund"
    }


def _starter_rules():
    from callscope.core.config import load_config

    return load_config(None).keywords.rules


@pytest.fixture
def cli_config(store, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        yaml.safe_dump(
            {"categories": [{"name": "refund", "any": ["退款"], "complaint_class": "business"}]},
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({"warehouse": str(store.root), "keywords": {"rules": "rules.yaml"}})
    )
    return config


def run_cli(*args):
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    return result.exit_code, result.output


def test_cli_categories_apply_then_search(cli_config, store):
    code, out = run_cli("categories", "apply", "--date", DAY1, "--config", cli_config)
    assert code == 0, out
    assert "1 of 3 calls tagged" in out
    calls = {row["call_id"]: row for row in store.read("calls", DAY1).to_pylist()}
    assert calls["c-refund"]["categories"] == ["refund"]
    assert (
        calls["c-english"]["categories"] == [] and calls["c-english"]["complaint_class"] == "none"
    )
    code, out = run_cli("search", "退款", "--category", "refund", "--config", cli_config, "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["total"] == 2
    hit = result["hits"][0]
    assert hit["text"][slice(*hit["highlights"][0])] == "退款"
    assert {
        "call_id",
        "date",
        "agent_id",
        "speaker",
        "start_s",
        "end_s",
        "before",
        "after",
    } <= hit.keys()
    code, out = run_cli("search", "退款", "--speaker", "agent", "--config", cli_config)
    assert code == 0 and "【退款】" in out and "c-refund" in out
    code, out = run_cli("categories", "list", "--config", cli_config, "--json")
    assert json.loads(out)["categories"][0]["calls"] == 1


def test_cli_errors_are_clear(cli_config, tmp_path):
    code, out = run_cli("search", "退", "--config", cli_config, "--warehouse", tmp_path / "none")
    assert code == 3 and "no warehouse at" in out
    (tmp_path / "empty").mkdir()
    code, out = run_cli("search", "退", "--config", cli_config, "--warehouse", tmp_path / "empty")
    assert code == 2 and "no search index" in out
    run_cli("index", "update", "--config", cli_config)
    code, out = run_cli("search", '"退款', "--config", cli_config)
    assert code == 2 and "quote is not closed" in out
    code, out = run_cli("search", "退款", "--from", "yesterday", "--config", cli_config)
    assert code == 2 and "--from" in out
    code, out = run_cli("search", "退款", "--speaker", "boss", "--config", cli_config)
    assert code == 2 and "--speaker" in out
    code, out = run_cli("categories", "apply", "--date", "2020-01-01", "--config", cli_config)
    assert code == 1 and "no calls for 2020-01-01" in out
    code, out = run_cli("categories", "apply", "--from", "2030-01-01", "--config", cli_config)
    assert code == 1 and "no days with calls" in out
    code, out = run_cli(
        "categories", "test", "我要销户", "--speaker", "boss", "--config", cli_config
    )
    assert code == 2 and "--speaker" in out
    (tmp_path / "rules.yaml").write_text("categories: [{name: x, regex: ['(']}]")
    code, out = run_cli("categories", "apply", "--date", DAY1, "--config", cli_config)
    assert code == 2 and "rules.yaml" in out and "does not compile" in out


def test_an_index_file_that_is_not_an_index(index):
    [shard] = index.shard_files().values()
    index.close()
    for extra in shard.parent.glob(shard.name + "-*"):
        extra.unlink()
    shard.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(SearchIndexError, match="not a readable search index") as caught:
        SearchIndex(index.path).search("退款")
    assert shard.name in str(caught.value)


def test_a_single_file_index_of_an_earlier_version_is_named_with_the_fix(tmp_path):
    path = tmp_path / "search.sqlite"
    path.write_bytes(b"SQLite format 3\x00" * 100)
    with pytest.raises(SearchIndexError, match="single-file search index.*index update --all"):
        SearchIndex(path)


def test_a_real_mandarin_night_is_tagged_and_searchable(settings):
    """Real audio through the whole night: Whisper, categories, index, then a supervisor's
    searches (text-to-speech calls made by this project, synth/data/README.md)."""
    from callscope.pipeline.night import run_night
    from callscope.storage.recordings import LocalRecordingSource
    from callscope.synth.demoday import CLIPS

    from tests.conftest import make_day

    make_day(
        settings.recordings,
        DAY1.isoformat(),
        {
            "zh-pre.flac": CLIPS / "zh_preorder_call.flac",
            "zh-bill.flac": CLIPS / "zh_billing_call.flac",
        },
        "call_id,agent_id,queue,channel_layout\nzh-pre,A7,preorder,agent_left\n"
        "zh-bill,A8,billing,agent_left\n",
    )
    source = LocalRecordingSource(settings.recordings, settings.source.extensions)
    store = Warehouse(settings.warehouse)
    summary = run_night(DAY1, source, store, settings)
    assert summary.count("ok") == 2 and summary.categories.tagged == 2
    calls = {row["call_id"]: row for row in store.read("calls", DAY1).to_pylist()}
    assert {"preorder_failure", "regulator_escalation"} <= set(calls["zh-pre"]["categories"])
    assert "billing_dispute" in calls["zh-bill"]["categories"]
    assert {calls["zh-pre"]["complaint_class"], calls["zh-bill"]["complaint_class"]} == {"business"}
    hits = [h for h in store.read("keyword_hits", DAY1).to_pylist() if h["matched"] == "工信部"]
    assert hits and hits[0]["speaker"] == "customer" and 15 < hits[0]["start_s"] < 38

    index = SearchIndex(settings.search_index, create=False)
    hit = index.search("工信部").hits[0]
    assert (hit.call_id, hit.agent_id, hit.speaker) == ("zh-pre", "A7", "customer")
    assert hit.text[slice(*hit.highlights[0])] == "工信部"
    assert {h.call_id for h in index.search("预约失败 OR 销户").hits} == {"zh-pre", "zh-bill"}
    found = index.search("您好", SearchFilters(speakers=["agent"], categories=["billing_dispute"]))
    assert [h.call_id for h in found.hits] == ["zh-bill"]

    # emotion: every person's segment scored; both customers complain, the regulator threat
    # and the cancel threat make both calls escalation risks
    segments = store.read("segments", DAY1).to_pylist()
    assert all(s["sentiment"] is not None for s in segments if s["speaker"] == "customer")
    assert any(s["arousal"] is not None for s in segments)
    for call in calls.values():
        assert call["customer_sentiment"] < 0 and call["escalation_risk"], call
        assert call["peak_negative_s"] is not None and len(call["customer_sentiment_q"]) == 4
    negative = index.search("工信部", SearchFilters(sentiment_max=-1.0))
    assert [h.call_id for h in negative.hits] == ["zh-pre"]


def test_a_corrupt_partition_is_named_and_nothing_is_rewritten(cli_config, store):
    segments = store.root / "segments" / f"date={DAY1}" / "part-0.parquet"
    calls = store.root / "calls" / f"date={DAY1}" / "part-0.parquet"
    before = calls.read_bytes()
    segments.write_bytes(b"junk")
    code, out = run_cli("categories", "apply", "--date", DAY1, "--config", cli_config)
    assert code == 3 and "cannot be read" in out and "date=2026-11-20" in out
    assert calls.read_bytes() == before
    assert not store.exists("keyword_hits", DAY1)


def test_redacted_results_hide_personal_data_and_keep_highlights_on_the_words(store, tmp_path):
    calls = {
        "c-phone": (
            "A100",
            "billing",
            [
                ("agent", "请问您的手机号码？"),
                ("customer", "我的号码是13812345678，话费被多扣了，请退款。"),
                ("agent", "好的，号码一三八一二三四五六七八已登记。"),
            ],
        )
    }
    put_day(store, DAY2, calls)
    index = SearchIndex(tmp_path / "redacted")
    update_index(store, index, DAY2)
    full = index.search("退款", SearchFilters(date_from=DAY2), limit=10, context=1)
    hidden = full.redacted()
    hit = hidden.hits[0]
    assert "13812345678" in full.hits[0].text and "13812345678" not in hit.text
    assert "[phone]" in hit.text
    start, end = hit.highlights[0]
    assert hit.text[start:end] == "退款"
    assert all("一三八" not in line["text"] for line in hit.after)
    probe = index.search("13812345678", SearchFilters(date_from=DAY2), limit=10)
    assert probe.total >= 1 and probe.redacted().hits == []
    index.close()


def test_cli_search_redacted(cli_config, store):
    put_day(
        store, DAY2, {"c-id": ("A1", "billing", [("customer", "身份证110101199003074514，退款。")])}
    )
    code, output = run_cli("index", "update", "--all", "--config", cli_config)
    assert code == 0, output
    code, output = run_cli("search", "退款", "--redacted", "--json", "--config", cli_config)
    assert code == 0, output
    texts = [hit["text"] for hit in json.loads(output)["hits"]]
    assert any("[id_number]" in t for t in texts)
    assert not any("110101199003074514" in t for t in texts)
