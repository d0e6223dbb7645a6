"""Sounds-like matching wired into the product: rule phrases marked `~` or categories with
`sounds_like: true`, the precision guards, what keyword_hits record, `~term` searches through
the index, the CLI and the web API, with highlights on what was written."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from callscope.core.config import SoundsLikeSettings
from callscope.keywords.categorize import categorize_call, categorize_day
from callscope.keywords.daily import update_index
from callscope.keywords.index import SearchIndex
from callscope.keywords.postings import ENGINES
from callscope.keywords.query import QueryError, parse
from callscope.keywords.rules import RuleError, RuleSet, load_rules
from callscope.storage.schemas import KEYWORD_HITS
from callscope.storage.warehouse import Warehouse

from tests.test_search import put_day, run_cli

DAY = dt.date(2026, 11, 20)


def seg(text: str, idx: int = 0, speaker: str = "customer") -> dict:
    return {"idx": idx, "start_s": 4.0 * idx, "end_s": 4.0 * idx + 4.0, "speaker": speaker,
            "text": text}  # fmt: skip


def ruleset(*categories: dict, **sounds) -> RuleSet:
    named = [{"name": f"c{i}", **c} for i, c in enumerate(categories)]
    return RuleSet(categories=named).with_sounds(SoundsLikeSettings(**sounds))


def hits(rules: RuleSet, *texts: str):
    return categorize_call([seg(t, i) for i, t in enumerate(texts)], rules).hits


# rules -------------------------------------------------------------------------------------
def test_a_marked_phrase_matches_its_homophone_with_offsets_into_what_was_written():
    [hit] = hits(ruleset({"any": ["~首发"]}), "我昨天手发抢的")
    assert (hit.match, "我昨天手发抢的"[hit.start : hit.end]) == ("sounds_like", "手发")
    assert hits(ruleset({"any": ["首发"]}), "我昨天手发抢的") == []


def test_the_written_spelling_is_an_exact_hit_and_wins_over_its_sound():
    [hit] = hits(ruleset({"any": ["~首发"]}), "首发那天")
    assert hit.match == "exact" and (hit.start, hit.end) == (0, 2)


def test_a_sounds_like_category_marks_its_chinese_phrases_only():
    rules = ruleset(
        {"sounds_like": True, "any": ["签收", "抢", "parcel"], "none": ["已签收"]},
    )
    category = rules.categories[0]
    assert category.rules[0].any == ["~签收", "抢", "parcel"]
    assert category.rules[0].none == ["已签收"]  # none always matches as written
    assert [h.match for h in hits(rules, "快递还没牵收")] == ["sounds_like"]


@pytest.mark.parametrize(
    ("phrase", "message"),
    [("~refund", "two or more Chinese"), ("~抢", "two or more Chinese")],
)
def test_sounds_like_needs_two_chinese_characters(tmp_path, phrase, message):
    path = tmp_path / "rules.yaml"
    path.write_text(
        yaml.safe_dump({"categories": [{"name": "x", "any": [phrase]}]}, allow_unicode=True),
        encoding="utf-8",
    )
    with pytest.raises(RuleError, match=message):
        load_rules(path)


def test_none_phrases_refuse_the_sounds_like_mark():
    with pytest.raises(ValueError, match="none phrases match as written"):
        ruleset({"any": ["退款"], "none": ["~已退"]})


# precision guards ------------------------------------------------------------------------
def test_two_syllable_look_alikes_in_any_need_pinyin_tones_and_a_shared_character():
    assert [h.match for h in hits(ruleset({"any": ["~首发"]}), "手发那天")] == ["sounds_like"]
    assert hits(ruleset({"any": ["~首发"]}), "首花那天") == []  # hua for fa: f-h merged
    assert hits(ruleset({"any": ["~收货"]}), "售货机") == []  # shou4 for shou1
    assert hits(ruleset({"any": ["~预约"]}), "我一夜没睡") == []  # nothing in common
    unguarded = ruleset({"any": ["~预约"]}, two_syllable_guard=False)
    assert [h.match for h in hits(unguarded, "我一夜没睡")] == ["sounds_like"]


def test_inside_a_near_rule_the_other_words_stand_in_for_tones_or_characters():
    near = {"near": [{"terms": [["客服电话"], ["~占线"]], "within": 4}]}
    [hit] = hits(ruleset(near), "客服电话一打就战险")  # zhan4 xian3 for zhan4 xian4
    assert hit.match == "sounds_like" and (hit.start, hit.end) == (0, 9)
    assert hits(ruleset({"any": ["~占线"]}), "一打就战险") == []
    grab = {"near": [{"terms": [["~抢了"], ["不能"]], "within": 4}]}
    assert hits(ruleset(grab), "掏钱了凭啥不能") == []  # qian2 for qiang3: merged and toned


def test_min_syllables_keeps_short_terms_exact():
    rules = ruleset({"any": ["~首发"]}, min_syllables=3)
    assert hits(rules, "手发") == []
    assert [h.match for h in hits(ruleset({"any": ["~没人接"]}, min_syllables=3), "没认接")] == [
        "sounds_like"
    ]


def test_two_syllables_merged_by_a_confusion_count_only_inside_near_rules():
    assert hits(ruleset({"any": ["~运单"]}), "硬单却被取消了") == []  # yun / ying: u-i, ng-n
    near = {"near": [{"terms": [["~运单"], ["查不到"]], "within": 2}]}
    assert [h.match for h in hits(ruleset(near), "硬单查不到")] == ["sounds_like"]


def test_the_enabled_confusions_decide_what_sounds_alike():
    assert hits(ruleset({"any": ["~星河九号"]}, confusions=[]), "心和九号手机") == []
    [hit] = hits(ruleset({"any": ["~星河九号"]}, confusions=["ng-n"]), "心和九号手机")
    assert (hit.start, hit.end, hit.match) == (0, 4, "sounds_like")


def test_the_rules_version_names_the_sounds_settings_only_when_used():
    exact = {"any": ["退款"]}
    assert ruleset(exact).version_hash == ruleset(exact, confusions=[]).version_hash
    marked = {"any": ["~退款"]}
    assert ruleset(marked).version_hash != ruleset(marked, confusions=[]).version_hash


# keyword_hits ------------------------------------------------------------------------------
def test_keyword_hits_record_how_they_matched_and_old_days_read_as_unknown(tmp_path):
    segments = pa.table(
        {"call_id": ["c1", "c1"], "idx": [0, 1], "start_s": [0.0, 4.0], "end_s": [4.0, 8.0],
         "speaker": ["customer"] * 2, "text": ["我手发的订单", "首发就买了"]}
    )  # fmt: skip
    calls = pa.table({"call_id": ["c1"], "status": ["ok"], "duration_s": [8.0]})
    rows, _ = categorize_day(DAY, segments, calls, ruleset({"any": ["~首发"]}))
    assert [(r["matched"], r["match"]) for r in rows] == [
        ("手发", "sounds_like"),
        ("首发", "exact"),
    ]
    assert set(rows[0]) == set(KEYWORD_HITS.names)

    old = pa.table({"call_id": ["c1"], "category": ["x"]})
    pq.write_table(old, tmp_path / "old.parquet")
    read = pq.read_table(tmp_path / "old.parquet", schema=KEYWORD_HITS)
    assert read.column("match").to_pylist() == [None]


# search ------------------------------------------------------------------------------------
CALLS = {
    "misheard": ("A1", "sales", [("customer", "手发当天抢不到心和九号")]),
    "written": ("A2", "sales", [("customer", "首发当天抢不到新手机")]),
    "other": ("A3", "sales", [("customer", "我要查话费")]),
}


@pytest.fixture
def store(tmp_path):
    store = Warehouse(tmp_path / "warehouse")
    put_day(store, DAY, CALLS)
    return store


@pytest.fixture(params=ENGINES)
def index(store, tmp_path, request):
    index = SearchIndex(tmp_path / "warehouse" / "search", engine=request.param)
    update_index(store, index, DAY)
    yield index
    index.close()


def test_a_sounds_like_search_finds_both_spellings_and_ranks_the_written_one_first(index):
    result = index.search("~首发", limit=10)
    assert [hit.call_id for hit in result.hits] == ["written", "misheard"]
    assert result.total == 2
    marked = {hit.call_id: hit.text[slice(*hit.highlights[0])] for hit in result.hits}
    assert marked == {"written": "首发", "misheard": "手发"}
    assert index.search("首发").total == 1


def test_sounds_like_search_combines_with_the_other_operators(index):
    assert index.search("~星河 抢不到").total == 1
    assert index.search("~首发 NOT 心和").total == 1
    assert index.search("~首发 OR 话费").total == 3


def test_an_index_of_other_confusions_is_rebuilt_not_misread(index, tmp_path, store):
    index.close()
    narrow = SearchIndex(tmp_path / "warehouse" / "search", confusions=frozenset())
    assert narrow.outdated_keys() == [f"{DAY:%Y-%m}-01"] and narrow.fingerprint(DAY) is None
    assert narrow.search("~首发").total == 2  # searches go on while the month waits
    update_index(store, narrow, DAY)
    assert narrow.outdated_keys() == []
    assert narrow.search("~星河").total == 0  # 心/星 differ without ng-n
    assert narrow.search("~首发").total == 2
    narrow.close()


@pytest.mark.parametrize("query", ["~refund", "~抢", "~首发x"])
def test_sounds_like_queries_say_what_they_need(query):
    with pytest.raises(QueryError, match="two or more Chinese characters"):
        parse(query)


def test_cli_search_sounds_like(store, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"warehouse": str(store.root)}))
    code, out = run_cli("index", "update", "--all", "--config", config)
    assert code == 0, out
    code, out = run_cli("search", "~首发", "--json", "--config", config)
    assert code == 0, out
    result = json.loads(out)
    assert result["total"] == 2
    assert {hit["text"][slice(*hit["highlights"][0])] for hit in result["hits"]} == {"首发", "手发"}
    code, out = run_cli("search", "~refund", "--config", config)
    assert code != 0 and "two or more Chinese characters" in out


def test_web_api_search_sounds_like(web_warehouse):
    from callscope.web.app import create_app

    from tests.test_web_api import sign_in

    app = create_app(web_warehouse.settings, recordings=web_warehouse.recordings, secret=b"s" * 32)
    supervisor = sign_in(app, "supervisor")
    exact = supervisor.get("/api/search", params={"q": "公信部"}).json()
    assert exact["total"] == 0
    result = supervisor.get("/api/search", params={"q": "~公信部"}).json()
    assert result["total"] == 1
    hit = result["hits"][0]
    assert hit["text"][slice(*hit["highlights"][0])] == "工信部"
    bad = supervisor.get("/api/search", params={"q": "~x"})
    assert bad.status_code == 400 and "two or more Chinese characters" in bad.json()["error"]


# topic names -------------------------------------------------------------------------------
def test_spellings_that_sound_alike_name_a_topic_once_with_the_variants_heard():
    import numpy as np
    from callscope.incidents.cluster import ClusterSettings, Naming, distinctive_terms

    texts = ["我预约星河九号失败了", "星和九号预约不了", "心和九号预约失败", "星河九号一直预约失败"]
    texts += ["话费被多扣了", "话费多扣五十", "这个月话费多扣"]
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    names = distinctive_terms(texts, labels, ClusterSettings(min_cluster_size=2))
    terms, variants = names[0]
    assert "星河九号" in terms and not {"星和九号", "心和九号"} & set(terms)
    assert sorted(variants["星河九号"]) == ["心和九号", "星和九号"]
    exact = distinctive_terms(texts, labels, ClusterSettings(naming=Naming(confusions=frozenset())))
    assert "心和九号" not in exact[0][1].get("星河九号", [])  # xin / xing differ without ng-n


def test_the_rules_spelling_names_a_term_even_when_heard_less(tmp_path):
    import numpy as np
    from callscope.incidents.cluster import ClusterSettings, Naming, distinctive_terms

    texts = ["我预够失败了", "预够又失败", "预购失败了", "话费多扣了", "话费多扣", "话费被多扣"]
    labels = np.array([0, 0, 0, 1, 1, 1])
    preferred = ClusterSettings(min_cluster_size=2, naming=Naming(spellings=frozenset({"预购"})))
    terms, variants = distinctive_terms(texts, labels, preferred)[0]
    assert any("预购" in term for term in terms) and not any("预够" in t for t in terms)


LAUNCH_SAID = ["星河九号"] * 4 + ["星河9号"] * 2 + ["星和九号"] * 3 + ["心和9号"] * 3


def test_the_hand_off_names_the_phone_once_and_lists_what_else_was_heard(tmp_path):
    """Topic and category rows alike; 星河9号 (digits as the recogniser writes them) is read
    as 星河九号."""
    from callscope.core.config import load_config
    from callscope.pipeline.steps import DayRunner
    from callscope.privacy.redact import redact_segments

    settings = load_config(None, warehouse=tmp_path / "warehouse")
    store = Warehouse(settings.warehouse)
    frames = ["我在网上预约{}一直提示失败", "{}预约失败了三次", "抢{}的时候总是失败",
              "你们{}的预约页面打不开"]  # fmt: skip
    said = [(f"pre-{i}", frames[i % 4].format(name)) for i, name in enumerate(LAUNCH_SAID)]
    said += [(f"bill-{i}", "我这个月的话费怎么多扣了五十块钱，要求退费") for i in range(6)]
    for call_id, text in said:
        segments = [
            {"call_id": call_id, "date": DAY, "idx": 0, "speaker": "customer", "start_s": 0.5,
             "end_s": 6.0, "text": text, "channel": 1, "language": "zh"}
        ]  # fmt: skip
        redact_segments(segments)
        row = {"call_id": call_id, "date": DAY, "status": "ok", "queue": "sales",
               "n_segments": 1, "language": "zh", "duration_s": 6.0}  # fmt: skip
        store.stage_call(DAY, row, segments)
    store.commit_day(DAY)
    DayRunner(store, DAY, settings).run(
        only=("commit", "redact", "categories", "incidents", "handoff")
    )
    bundle = settings.handoff_dir / DAY.isoformat()
    incidents = pq.read_table(bundle / "incidents.parquet").to_pylist()
    labels = " ".join(row["label"] for row in incidents)
    assert "星河九号" in labels and "星和九号" not in labels and "心和九号" not in labels, labels
    [topic] = [row for row in incidents if "星河九号" in row["label"]]
    heard = {v["term"]: v["heard"] for v in topic["variants"]}
    assert sorted(heard["星河九号"]) == ["心和九号", "星和九号"]
    [category] = [row for row in incidents if row["incident_id"] == "category:preorder_failure"]
    assert "星河九号" in category["terms"] and "星和九号" not in category["terms"]
    assert {v["term"]: sorted(v["heard"]) for v in category["variants"]}["星河九号"] == [
        "心和九号",
        "星和九号",
    ]
    summary = (bundle / "summary.md").read_text(encoding="utf-8")
    assert summary.count("星和九号") <= 1 and summary.count("心和九号") <= 1


def test_the_incident_table_says_what_a_category_spike_is_about_with_the_spellings_heard():
    from callscope.incidents.report import render_table

    row = {
        "kind": "category", "calls": 20, "expected": 0.8, "ratio": 12.0, "score": 21.2,
        "label": "预约 / 预售失败 · pre-order failure", "is_spike": True, "method": "poisson",
        "terms": ["星河九号", "首发"], "examples": [],
        "variants": [{"term": "星河九号", "heard": ["心和九号", "星和九号"]}],
    }  # fmt: skip
    says = [line for line in render_table([row]).splitlines() if "says:" in line]
    assert says == [f"{'':24}says: 星河九号 (also 心和九号, 星和九号) · 首发"]


def test_the_night_rebuilds_every_day_of_an_index_made_with_other_confusions(tmp_path):
    from callscope.core.config import load_config
    from callscope.pipeline.steps import DayRunner

    store = Warehouse(tmp_path / "warehouse")
    earlier = DAY - dt.timedelta(days=1)
    put_day(store, earlier, {"old": ("A1", "sales", [("customer", "心和九号预约失败")])})
    put_day(store, DAY, CALLS)
    settings = load_config(None, warehouse=store.root)
    for day in (earlier, DAY):
        DayRunner(store, day, settings).run(only=("index",))
    narrow = settings.model_copy(
        update={"keywords": settings.keywords.model_copy(
            update={"sounds_like": SoundsLikeSettings(confusions=[])})}
    )  # fmt: skip
    outcome = DayRunner(store, DAY, narrow).run(only=("index",))["index"]
    assert outcome.status == "ran"  # the confusions are part of the step's settings
    index = SearchIndex(settings.search_index, create=False, confusions=frozenset())
    assert set(index.indexed_days()) == {earlier, DAY}  # the earlier day is back too
    assert index.search("~星河").total == 0 and index.search("预约").total == 1
    index.close()
