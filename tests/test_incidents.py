"""Issue statements, clusters, topics across days, spikes, the hand-off and the CLI, on a real
warehouse of stored calls (text as the night stores it; the audio path is covered by the night
and flow tests) with the real embedding model."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest
from callscope.core.config import load_config
from callscope.incidents.cluster import ClusterSettings, build_clusters, terms_of
from callscope.incidents.embed import get_embedder
from callscope.incidents.handoff import read_handoff, write_handoff
from callscope.incidents.statements import issue_statement
from callscope.keywords.rules import load_rules
from callscope.pipeline.steps import DayRunner
from callscope.privacy.redact import find_pii, redact_segments
from callscope.storage.schemas import to_table
from callscope.storage.warehouse import Warehouse
from typer.testing import CliRunner

from callscope.cli import app

LAUNCH = dt.date(2026, 11, 20)
TOPICS = {
    "preorder": [
        "我在官网预约新手机，付了款但是一直显示预约失败",
        "新手机预售抢购的时候下单总是失败，页面一直报错",
        "我昨天预约的新款手机订单被取消了，钱也扣了",
        "网上预约购机失败了好几次，订单提交不了",
        "首发预售我下单了，可是订单显示失败，怎么回事",
    ],
    "billing": [
        "我这个月的话费怎么多扣了五十块钱",
        "话费被乱扣了，我没有订购过这个业务",
        "账单上有一笔扣费不明，我要求退费",
        "你们为什么多收了我三十块的流量费",
        "这个月话费莫名其妙多了很多，扣费不对",
    ],
    "broadband": [
        "家里的宽带从昨天开始就上不了网了",
        "宽带一直掉线，网速特别慢，麻烦派人维修",
        "光猫的灯一直闪，家里宽带连不上",
        "我家宽带断网两天了，报修也没人来",
        "宽带故障报修三天了还没修好",
    ],
}
SUFFIXES = ["", "，麻烦帮我查一下", "，你们给个说法", "，怎么处理", "，急用"]


def call_segments(call_id: str, topic: str, rng: random.Random, phone: bool) -> list[dict]:
    statement = rng.choice(TOPICS[topic]) + rng.choice(SUFFIXES) + "。"
    turns = [
        ("agent", "您好，很高兴为您服务，请问有什么可以帮您？"),
        ("customer", "喂，你好。"),
        ("customer", statement),
        ("agent", "好的，请问您的手机号码是多少？"),
        ("customer", "我的手机号是一三八一二三四五六七八。" if phone else "就是这个号码。"),
        ("agent", "好的，已经为您登记，稍后处理。"),
    ]
    rows, start = [], 0.5
    for idx, (speaker, text) in enumerate(turns):
        end = start + 0.25 * len(text)
        rows.append(
            {"call_id": call_id, "idx": idx, "speaker": speaker, "start_s": start, "end_s": end}
            | {"text": text, "channel": 0 if speaker == "agent" else 1, "language": "zh"}
        )
        start = end + 0.4
    return rows


def stage_day(store: Warehouse, day: dt.date, counts: dict[str, int], seed: int) -> None:
    rng = random.Random(seed)
    for topic, n in counts.items():
        for i in range(n):
            call_id = f"{day:%m%d}-{topic}-{i:03d}"
            segments = call_segments(call_id, topic, rng, phone=i % 2 == 0)
            segments = [{**s, "date": day} for s in segments]
            redact_segments(segments)
            started = dt.datetime.combine(day, dt.time(9), dt.UTC) + dt.timedelta(minutes=i)
            row = {"call_id": call_id, "date": day, "status": "ok", "queue": topic}
            row |= {"started_at": started, "n_segments": len(segments), "language": "zh"}
            store.stage_call(day, row, segments)
    store.commit_day(day)


@pytest.fixture(scope="module")
def settings():
    return load_config(None)


@pytest.fixture(scope="module")
def rules(settings):
    return load_rules(settings.keywords.rules, settings.keywords.sounds_like)


INCIDENT_STEPS = ("commit", "redact", "categories", "incidents")


def run_steps(store, day, settings, steps=INCIDENT_STEPS, start=None):
    """The day's steps through the runner, without the ones these tests do not look at."""
    outcomes = DayRunner(store, day, settings).run(start, force=start is not None, only=steps)
    return outcomes[steps[-1]].result


def run_days(store, settings, rules, plan: dict[dt.date, dict[str, int]]):
    runs = {}
    for day, counts in sorted(plan.items()):
        stage_day(store, day, counts, seed=day.toordinal())
        runs[day] = run_steps(store, day, settings)
    return runs


def normal_days(n: int) -> dict[dt.date, dict[str, int]]:
    rng = random.Random(3)
    return {
        LAUNCH - dt.timedelta(days=k): {
            "preorder": rng.choice([0, 1]),
            "billing": rng.choice([4, 5, 6]),
            "broadband": rng.choice([3, 4, 5]),
        }
        for k in range(n, 0, -1)
    }


@pytest.fixture(scope="module")
def launch(tmp_path_factory, settings, rules):
    """Eight normal days, then a launch day with 12 failed pre-orders."""
    store = Warehouse(tmp_path_factory.mktemp("incidents") / "warehouse")
    plan = normal_days(8) | {LAUNCH: {"preorder": 12, "billing": 5, "broadband": 4}}
    runs = run_days(store, settings, rules, plan)
    return store, runs


# statements ----------------------------------------------------------------------------------
def test_statement_skips_greeting_and_verification_and_is_redacted():
    segments = call_segments("c1", "billing", random.Random(0), phone=True)
    segments[2]["text"] = "我的手机号是13812345678，我这个月话费多扣了五十块钱。"
    redact_segments(segments)
    statement = issue_statement(segments)
    assert statement.text.startswith("我这个月话费多扣了五十块钱")
    assert "喂" not in statement.text and "138" not in statement.text
    assert statement.segments[0] == 2 and statement.source == "customer"
    assert statement.start_s == segments[2]["start_s"]


def test_statement_collects_turns_until_long_enough_and_never_carries_pii():
    segments = [
        {"idx": 0, "speaker": "customer", "start_s": 0.0, "end_s": 1.0, "text": "喂？"},
        {"idx": 1, "speaker": "customer", "start_s": 1.0, "end_s": 2.0, "text": "宽带坏了。"},
        {
            "idx": 2,
            "speaker": "customer",
            "start_s": 2.0,
            "end_s": 5.0,
            "text": "已经三天了，师傅一直不来，电话是幺三九零零零零幺幺幺幺。",
        },
    ]
    statement = issue_statement(segments)
    assert statement.segments == [1, 2]
    assert "宽带坏了" in statement.text and "师傅一直不来" in statement.text
    assert not find_pii(statement.text)


def test_statement_without_roles_skips_agent_sounding_turns_and_handles_english():
    segments = [
        {
            "idx": 0,
            "speaker": "unknown",
            "start_s": 0,
            "end_s": 2,
            "text": "Thank you for calling, how can I help?",
        },
        {"idx": 1, "speaker": "unknown", "start_s": 2, "end_s": 3, "text": "Hi. Yes."},
        {
            "idx": 2,
            "speaker": "unknown",
            "start_s": 3,
            "end_s": 6,
            "text": "My pre-order failed. I was charged anyway.",
        },
    ]
    statement = issue_statement(segments)
    assert statement.text == "My pre-order failed. I was charged anyway."
    assert statement.source == "unknown"


@pytest.mark.parametrize(
    "segments",
    [
        [],
        [{"idx": 0, "speaker": "customer", "text": "喂，你好。"}],
        [{"idx": 0, "speaker": "ivr", "text": "欢迎致电客服热线"}],
    ],
)
def test_no_statement_from_greetings_or_prompts(segments):
    assert issue_statement(segments).empty


# clusters ------------------------------------------------------------------------------------
def test_clusters_group_topics_and_name_them():
    texts, truth = [], []
    for topic, phrases in TOPICS.items():
        for phrase in phrases:
            texts.append(phrase)
            truth.append(topic)
    embed = get_embedder()
    labels, clusters = build_clusters(texts, embed(texts), ClusterSettings())
    assert len(clusters) == 3
    majority = [Counter(truth[i] for i in c.members).most_common(1)[0] for c in clusters]
    assert {topic for topic, _ in majority} == set(TOPICS)
    clustered = sum(len(c.members) for c in clusters)
    assert clustered >= 0.8 * len(texts)
    assert sum(n for _, n in majority) / clustered >= 0.85  # purity
    names = {topic: " ".join(c.terms) for (topic, _), c in zip(majority, clusters, strict=True)}
    assert "宽带" in names["broadband"]
    assert {"预约", "预售", "下单", "订单"} & set(names["preorder"].split())  # words, no grams


def test_large_days_go_through_cells_and_keep_topics_apart():
    rng = np.random.default_rng(0)
    centres = np.eye(4, 32)
    x = np.vstack([c + 0.05 * rng.standard_normal((900, 32)) for c in centres])
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    labels, clusters = build_clusters(["x"] * len(x), x, ClusterSettings(direct_max=1000))
    assert len(clusters) == 4
    for k in range(4):
        assert len(set(labels[k * 900 : (k + 1) * 900].tolist())) == 1


def test_terms_are_han_ngrams_and_english_words_without_placeholders():
    terms = terms_of("预约失败 [phone] order failed")
    assert {"预约", "预约失败", "order", "failed"} <= terms
    assert not any("phone" in t for t in terms)


def test_names_leave_out_grams_that_cut_through_words():
    from callscope.incidents.cluster import distinctive_terms

    texts = ["我订的标准版一夜没有发货", "标准版一夜没有发货", "标准版订单一夜没有发货"]
    texts += ["之尊版付了全款", "订购之尊版付了全款", "之尊版付了全款没到"]
    texts += ["话费被多扣了", "话费多扣五十", "这个月话费多扣"]
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    names = distinctive_terms(texts, labels, ClusterSettings(min_cluster_size=2, n_terms=8))
    standard, noble = " ".join(names[0][0]), names[1][0]
    assert "标准版" in standard and "准版" not in standard.replace("标准版", "")
    assert "夜没" not in standard
    assert any("尊版" in term for term in noble)  # sounds like 准版, but is no fragment here


# the day step and history -------------------------------------------------------------------
def test_launch_day_spike_is_found_and_normal_days_are_quiet(launch):
    store, runs = launch
    for day, run in runs.items():
        if day != LAUNCH:
            assert run.spikes == [], f"{day}: {run.spikes}"
    rows = store.read("incidents", LAUNCH).to_pylist()
    spikes = [r for r in rows if r["is_spike"]]
    assert spikes, "the launch-day spike was not found"
    topic = next(r for r in spikes if r["kind"] == "topic")
    assert topic["calls"] >= 10 and topic["expected"] < 2
    assert "preorder_failure" in topic["categories"]
    assert all("preorder" in cid for cid in topic["call_ids"][:10])
    assert len(topic["examples"]) == 3 and topic["examples"][0]["text"]
    category = next(r for r in rows if r["incident_id"] == "category:preorder_failure")
    assert category["is_spike"] and category["calls"] >= 10
    billing = next(r for r in rows if r["incident_id"] == "category:billing_dispute")
    assert not billing["is_spike"] and billing["baseline_days"] == 8


def test_topics_keep_their_ids_across_days(launch):
    store, _ = launch
    ids = {}
    for day in store.days("incidents"):
        for row in store.read("incidents", day).to_pylist():
            if row["kind"] == "topic" and "broadband_fault" in row["categories"]:
                ids.setdefault(row["topic_id"], []).append(day)
    main = max(ids.values(), key=len)
    assert len(main) >= 7, ids


def test_rerun_of_a_day_gives_the_same_rows(launch, settings, rules):
    store, _ = launch
    before = store.read("incidents", LAUNCH).drop(["p_value"]).to_pylist()
    run_steps(store, LAUNCH, settings, ("incidents",), start="incidents")
    after = store.read("incidents", LAUNCH).drop(["p_value"]).to_pylist()
    assert [r["incident_id"] for r in after] == [r["incident_id"] for r in before]
    assert [r["calls"] for r in after] == [r["calls"] for r in before]


def test_call_issues_hold_redacted_statements_and_topics(launch):
    store, _ = launch
    issues = store.read("call_issues", LAUNCH).to_pylist()
    assert len(issues) == 21
    assert all(not find_pii(r["statement"]) for r in issues)
    assert sum(r["topic_id"] is not None for r in issues) >= 0.75 * len(issues)


def test_first_nights_warm_up_without_flagging(tmp_path, settings, rules):
    store = Warehouse(tmp_path / "warehouse")
    runs = run_days(store, settings, rules, {LAUNCH: {"preorder": 12, "billing": 4}})
    assert runs[LAUNCH].warming_up and runs[LAUNCH].spikes == []
    methods = {r["method"] for r in store.read("incidents", LAUNCH).to_pylist()}
    assert methods == {"warm-up"}


def test_a_night_with_no_calls_and_a_night_with_one_call(tmp_path, settings, rules):
    store = Warehouse(tmp_path / "warehouse")
    empty = run_steps(store, LAUNCH, settings, ("incidents",), start="incidents")
    assert empty.calls == 0 and empty.topics == 0
    assert store.read("incidents", LAUNCH).num_rows == 0
    assert LAUNCH in store.days("incidents")  # processed: counts as a day with zero calls
    elsewhere = settings.model_copy(update={"handoff": tmp_path / "h"})
    bundle = run_steps(store, LAUNCH, elsewhere, ("handoff",), start="handoff")
    assert bundle.calls == 0 and (bundle.folder / "summary.md").exists()
    day = LAUNCH + dt.timedelta(days=1)
    run_days(store, settings, rules, {day: {"billing": 1}})
    issues = store.read("call_issues", day).to_pylist()
    assert len(issues) == 1 and issues[0]["cluster"] == -1
    rows = store.read("incidents", day).to_pylist()
    assert [r["kind"] for r in rows] == ["category"]


# the hand-off ---------------------------------------------------------------------------------
def test_handoff_bundle_is_complete_and_carries_no_personal_data(launch, tmp_path):
    store, _ = launch
    bundle = write_handoff(store, LAUNCH, tmp_path / "handoff")
    names = sorted(p.name for p in bundle.folder.iterdir())
    assert names == sorted(
        ["calls.parquet", "chart.png", "incidents.parquet", "manifest.json", "summary.md"]
    )
    manifest = read_handoff(tmp_path / "handoff", LAUNCH)
    assert manifest["spikes"] >= 1 and manifest["calls"] == 21
    texts = [(bundle.folder / "summary.md").read_text(encoding="utf-8")]
    for name in ("calls.parquet", "incidents.parquet"):
        texts += _strings(pq.read_table(bundle.folder / name).to_pylist())
    summary = texts[0]
    quotes = [line.strip()[2:] for line in summary.splitlines() if line.strip()[:2] == "> "]
    quoted = [line.rsplit(" (", 1)[0] for line in quotes]
    leaks = [t for t in texts[1:] + quoted if find_pii(t)]
    assert not leaks, leaks[:3]
    assert "一三八" not in summary and "138" not in summary
    assert "calls" in summary and "SPIKE" not in summary.split("##")[0]
    # the summary's own structure is left alone: call ids and the table's figures stay
    examples = {
        e["call_id"]
        for r in pq.read_table(bundle.folder / "incidents.parquet").to_pylist()
        if r["section"]
        for e in r["examples"]
    }
    quoted_ids = [line.rsplit(" (", 1)[1].rstrip(")") for line in quotes]
    assert quoted_ids and set(quoted_ids) <= examples
    assert len(quoted_ids) == len(set(quoted_ids))  # no call quoted twice
    assert "[phone]-" not in summary and "| [phone] |" not in summary
    calls = pq.read_table(bundle.folder / "calls.parquet")
    assert "agent_id" not in calls.column_names and "source_uri" not in calls.column_names


def test_handoff_summary_keeps_call_ids_and_figures_after_a_phone_word(launch, tmp_path):
    """Texts are cleaned field by field: a label ending in 电话 next to the table's numbers, or
    an example ending in 没人接 before its call id, is not a phone number."""
    store, _ = launch
    copy = Warehouse(tmp_path / "warehouse")
    shutil.copytree(store.root, copy.root)
    rows = copy.read("incidents", LAUNCH).to_pylist()
    spike = next(r for r in rows if r["is_spike"] and r["kind"] == "category" and r["examples"])
    spike["label"] = "打到 · 打不 · 好几 · 电话"
    spike["examples"][0]["text"] = "联系不上，电话一直没人接。"
    copy.replace_day("incidents", LAUNCH, to_table("incidents", rows))
    bundle = write_handoff(copy, LAUNCH, tmp_path / "handoff")
    summary = (bundle.folder / "summary.md").read_text(encoding="utf-8")
    assert "[phone]" not in summary.split("预期：")[0]
    assert f"| 打到 · 打不 · 好几 · 电话 | {spike['calls']} |" in summary
    assert f"电话一直没人接。 ({spike['examples'][0]['call_id']})" in summary


def test_handoff_tells_the_launch_once_with_the_figures_to_act_on(launch, settings, tmp_path):
    """The night's hand-off step: the pre-order category heads one section, the topic of the
    same calls is its facet, and each row carries first / last call, calls per hour, queue
    shares, directions and (categories) the rule in words; calls.parquet names each call's
    story."""
    store, _ = launch
    elsewhere = settings.model_copy(update={"handoff": tmp_path / "h"})
    bundle = run_steps(store, LAUNCH, elsewhere, ("handoff",), start="handoff")
    table = pq.read_table(bundle.folder / "incidents.parquet").to_pylist()
    rows = {r["incident_id"]: r for r in table}
    head = rows["category:preorder_failure"]
    assert head["section"] == "story" and head["story_rank"] == 1
    assert head["rule"].startswith("preorder_failure (or what sounds like it): customer says")
    facets = [r for r in rows.values() if r["section"] == "facet"]
    assert facets and all(r["story_id"] == head["incident_id"] for r in facets)
    assert [r for r in rows.values() if r["section"] == "story"] == [head]
    assert bundle.stories == 1
    for row in rows.values():
        assert sum(row["calls_by_hour"]) == row["calls"] == len(row["call_ids"])
        assert row["first_call_at"] <= row["last_call_at"]
        assert sum(q["calls"] for q in row["queue_shares"]) == row["calls"]
        assert all(0 < q["share"] <= 1 for q in row["queue_shares"])
    assert head["queue_shares"][0]["queue"] == "preorder"
    calls = pq.read_table(bundle.folder / "calls.parquet").to_pylist()
    told = [c["call_id"] for c in calls if c["story_id"] == head["incident_id"]]
    assert sorted(told) == sorted(head["call_ids"])
    summary = (bundle.folder / "summary.md").read_text(encoding="utf-8")
    assert summary.count("## 1. 预约 / 预售失败 · pre-order failure") == 1
    assert "首通" in summary and "first call" in summary and "规则 · rule:" in summary
    assert summary.index("来电 **12 通**") < summary.index("**12 calls**")  # Chinese first


def test_handoff_names_a_story_by_the_catalogue_names_its_calls_mention(launch, tmp_path):
    """A catalogue name among the terms of a story's facet tops the story's heading, with its
    English name, and is listed in catalogue_names."""
    store, _ = launch
    rows = store.read("incidents", LAUNCH).to_pylist()
    facet_terms = next(r["terms"] for r in rows if r["kind"] == "topic" and r["is_spike"])
    name = facet_terms[-1]
    bundle = write_handoff(store, LAUNCH, tmp_path / "h", names={name: "Galaxy Nine"})
    table = pq.read_table(bundle.folder / "incidents.parquet").to_pylist()
    head = next(r for r in table if r["section"] == "story")
    assert name in head["catalogue_names"]
    summary = (bundle.folder / "summary.md").read_text(encoding="utf-8")
    assert f"## 1. {head['label']}（{name} Galaxy Nine）" in summary


def test_handoff_rewrite_replaces_the_bundle_whole(launch, tmp_path):
    store, _ = launch
    root = tmp_path / "handoff"
    first = write_handoff(store, LAUNCH, root)
    (first.folder / "stale.txt").write_text("from an older run")
    second = write_handoff(store, LAUNCH, root)
    assert not (second.folder / "stale.txt").exists()
    assert sorted(p.name for p in root.iterdir()) == [LAUNCH.isoformat()]


def test_handoff_redacts_personal_data_that_reached_the_tables(launch, tmp_path):
    store, _ = launch
    day = LAUNCH - dt.timedelta(days=1)
    table = store.read("call_issues", day)
    rows = table.to_pylist()
    rows[0]["statement"] = "退款请打13812345678"
    from callscope.storage.schemas import to_table

    store.replace_day("call_issues", day, to_table("call_issues", rows))
    bundle = write_handoff(store, day, tmp_path / "handoff")
    assert bundle.pii_redacted == 1
    statements = pq.read_table(bundle.folder / "calls.parquet").column("statement").to_pylist()
    assert "退款请打[phone]" in statements


def test_handoff_statements_lose_the_streets_and_nicknames_the_night_keeps(launch, tmp_path):
    store, _ = launch
    day = LAUNCH - dt.timedelta(days=1)
    rows = store.read("call_issues", day).to_pylist()
    rows[0]["statement"] = "我要移机，从厦门市思明区莲前西路莲花五村搬过去"
    rows[1]["statement"] = "上次是老赵帮我办的卡，网速一直很慢"
    from callscope.storage.schemas import to_table

    store.replace_day("call_issues", day, to_table("call_issues", rows))
    bundle = write_handoff(store, day, tmp_path / "handoff")
    statements = pq.read_table(bundle.folder / "calls.parquet").column("statement").to_pylist()
    assert "我要移机，从厦门市思明区[address]搬过去" in statements
    assert "上次是[name]帮我办的卡，网速一直很慢" in statements
    stored = {r["call_id"]: r["statement"] for r in store.read("call_issues", day).to_pylist()}
    assert stored[rows[0]["call_id"]] == rows[0]["statement"]  # the night's table is unchanged


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


# the CLI --------------------------------------------------------------------------------------
def test_cli_incidents_json_and_table(launch):
    store, _ = launch
    runner = CliRunner()
    result = runner.invoke(app, ["incidents", "--warehouse", str(store.root), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["is_spike"] and rows[0]["calls"] >= 10
    assert {
        "label",
        "calls",
        "expected",
        "baseline_days",
        "score",
        "is_spike",
        "categories",
        "examples",
    } <= set(rows[0])
    assert "centroid" not in rows[0] and "call_ids" not in rows[0]
    result = runner.invoke(
        app, ["incidents", "--warehouse", str(store.root), "--date", LAUNCH.isoformat(), "--spikes"]
    )
    assert result.exit_code == 0 and "SPIKE" in result.output and "e.g." in result.output


def test_cli_incidents_rebuild_writes_the_handoff(launch, tmp_path):
    store, _ = launch
    handoff = tmp_path / "bundle"
    result = CliRunner().invoke(
        app,
        [
            "incidents",
            "--warehouse",
            str(store.root),
            "--date",
            LAUNCH.isoformat(),
            "--rebuild",
            "--handoff",
            str(handoff),
        ],
    )
    assert result.exit_code == 0, result.output
    assert read_handoff(handoff, LAUNCH)["spikes"] >= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2026-13-01"], "not a date"),
        (["--date", "2020-01-01"], "no incidents for 2020-01-01"),
        (["--date", "2020-01-01", "--rebuild"], "no calls for 2020-01-01"),
    ],
)
def test_cli_incidents_errors(launch, args, message):
    store, _ = launch
    result = CliRunner().invoke(app, ["incidents", "--warehouse", str(store.root), *args])
    assert result.exit_code != 0
    assert message in result.output


def test_cli_incidents_on_an_empty_warehouse(tmp_path):
    result = CliRunner().invoke(app, ["incidents", "--warehouse", str(tmp_path)])
    assert result.exit_code == 1 and "run the nightly flow first" in result.output
