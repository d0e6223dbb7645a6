"""After a rule change the incidents step re-uses the day's stored topics: the incidents rows
come out as a full recompute makes them, and call_issues and the segments are not rewritten.
Changed incidents settings, segments rewritten since, or an earlier day's topics figured again
cluster the day in full."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml
from callscope.core.config import load_config
from callscope.incidents.daily import CLUSTERED, apply_incidents
from callscope.pipeline.runner import StagingBatch, batch_share
from callscope.pipeline.steps import DayRunner
from callscope.storage.warehouse import Warehouse
from callscope.synth.scripts import plan_days

from tests.night_support import processed_call

START = dt.date(2026, 10, 1)
DAYS = [START + dt.timedelta(days=n) for n in range(3)]
NEW = {"name": "new_phone_preorder", "any": ["预约", "首发", "新手机"], "speaker": "customer"}
CASCADE = ("emotion", "incidents")  # after the categories, as `categories apply` runs them
KEPT = ("call_issues", "statement_sample", "segments")


def _settings(warehouse: Path, rules: Path | None = None):
    settings = load_config(None, warehouse=warehouse)
    if rules is None:
        return settings
    return settings.model_copy(
        update={"keywords": settings.keywords.model_copy(update={"rules": rules})}
    )


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> Path:
    """Three nights of 30 text-only calls each, incidents on, run as the night runs them."""
    root = tmp_path_factory.mktemp("incidents-refresh") / "warehouse"
    settings = _settings(root)
    store = Warehouse.from_settings(settings)
    share = batch_share(settings)
    for plan in plan_days(START, len(DAYS), 11, 30, 4):
        with StagingBatch(store, 10, 1e9, share) as batch:
            for call in plan.calls:
                batch.stage_call(plan.date, *processed_call(call, plan.date))
        DayRunner(store, plan.date, settings).run(only=["commit", "redact", "categories", *CASCADE])
    return root


def _copy(nights: Path, tmp_path: Path, name: str, new_rule: bool = True):
    """A copy of the nights' warehouse, with a new category in its rule file."""
    shutil.copytree(nights, tmp_path / name)
    if not new_rule:
        settings = _settings(tmp_path / name)
        return settings, Warehouse.from_settings(settings)
    rules = yaml.safe_load(Path(load_config(None).keywords.rules).read_text(encoding="utf-8"))
    _escalating(rules["categories"])
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    settings = _settings(tmp_path / name, path)
    return settings, Warehouse.from_settings(settings)


def _escalating(categories: list[dict]) -> None:
    """A new category, and a cancel threat every customer says: the topics' calls change."""
    categories.append(NEW)
    cancel = next(c for c in categories if c["name"] == "cancel_threat")
    cancel["rules"][0]["any"] += ["您好", "你好", "好的", "谢谢"]


def _forget_clusters(store: Warehouse) -> None:
    """As a warehouse whose incidents were found before the step kept its record."""
    for day in DAYS:
        state = store.read_state(day)
        del state[CLUSTERED]
        store.write_state(day, state)


def _apply_rules(settings, store: Warehouse) -> dict:
    """The new rules over the days in date order, as `categories apply` runs them."""
    runs = {}
    for day in DAYS:
        runner = DayRunner(store, day, settings)
        runner.run("categories", force=True, only=["categories"])
        outcomes = {name: runner.run_step(name) for name in CASCADE}
        assert outcomes["incidents"].status == "ran"
        runs[day] = outcomes["incidents"].result
    return runs


def _incidents_now(settings, store: Warehouse, day: dt.date):
    """The incidents step of `day` as the day runner calls it."""
    ctx = DayRunner(store, day, settings).ctx
    return apply_incidents(
        store, day, settings.incidents, ctx.embedder, ctx.category_labels(), ctx.naming()
    )


def test_a_rule_change_refigures_the_stored_topics_as_a_full_recompute_does(nights, tmp_path):
    settings, fast = _copy(nights, tmp_path, "fast")
    _, full = _copy(nights, tmp_path, "full")
    _forget_clusters(full)
    kept = {(table, day): fast.version(table, day) for table in KEPT for day in DAYS}
    before = {day: fast.read("incidents", day) for day in DAYS}

    quick, reference = _apply_rules(settings, fast), _apply_rules(settings, full)

    found: set[str] = set()
    for day in DAYS:
        assert not quick[day].reclustered and reference[day].reclustered
        assert "cluster" not in quick[day].stage_seconds  # nothing embedded or clustered
        assert (quick[day].statements, quick[day].topics, quick[day].spikes) == (
            reference[day].statements,
            reference[day].topics,
            reference[day].spikes,
        )
        for table in KEPT:
            assert fast.version(table, day) == kept[table, day], f"{day} {table} rewritten"
        assert full.version("call_issues", day) != kept["call_issues", day]
        for table in ("incidents", "call_issues", "statement_sample"):
            mine, theirs = fast.read(table, day), full.read(table, day)
            assert mine.equals(theirs), f"{day} {table}: {_differing(mine, theirs)}"
        incidents = fast.read("incidents", day)
        assert not incidents.equals(before[day])
        found.update(incidents["incident_id"].to_pylist())
        topics = [row for row in incidents.to_pylist() if row["kind"] == "topic"]
        earlier = {row["incident_id"]: row for row in before[day].to_pylist()}
        assert any("cancel_threat" in row["categories"] for row in topics)
        assert any(
            row["escalation_risk_calls"] != earlier[row["incident_id"]]["escalation_risk_calls"]
            for row in topics
        )  # from the calls' escalation risks as the emotion step now figures them
        recorded = [store.read_state(day)[CLUSTERED]["inputs"] for store in (fast, full)]
        assert recorded[0]["history"] == recorded[1]["history"]
    assert "category:new_phone_preorder" in found


def _differing(mine, theirs) -> list[str]:
    return [name for name in mine.column_names if not mine[name].equals(theirs[name])]


def test_changed_incidents_settings_cluster_in_full(nights, tmp_path):
    settings, store = _copy(nights, tmp_path, "settings", new_rule=False)
    assert not _incidents_now(settings, store, DAYS[-1]).reclustered  # nothing changed
    incidents = settings.incidents.model_copy(update={"merge_similarity": 0.6})
    changed = settings.model_copy(update={"incidents": incidents})
    issues = store.version("call_issues", DAYS[-1])

    run = _incidents_now(changed, store, DAYS[-1])

    assert run.reclustered and set(run.stage_seconds) == {"statements", "embed", "cluster"}
    assert store.version("call_issues", DAYS[-1]) != issues
    # recorded: the next rule change re-uses these topics
    assert not _incidents_now(changed, store, DAYS[-1]).reclustered


def test_rewritten_segments_cluster_in_full(nights, tmp_path):
    settings, store = _copy(nights, tmp_path, "segments", new_rule=False)
    day = DAYS[1]
    store.write_day(day, {"segments": store.read("segments", day)})  # as a redaction writes

    assert _incidents_now(settings, store, day).reclustered
    assert not _incidents_now(settings, store, day).reclustered


def test_an_earlier_day_with_other_topics_clusters_the_later_days_in_full(nights, tmp_path):
    settings, store = _copy(nights, tmp_path, "history", new_rule=False)
    first = store.read("incidents", DAYS[0])
    rows = first.to_pylist()
    topic = next(n for n, row in enumerate(rows) if row["kind"] == "topic")
    rows[topic] = {**rows[topic], "calls": rows[topic]["calls"] + 1}  # counted otherwise
    store.write_day(DAYS[0], {"incidents": first.from_pylist(rows, first.schema)})

    assert _incidents_now(settings, store, DAYS[1]).reclustered
    assert _incidents_now(settings, store, DAYS[2]).reclustered  # day 1 in its history
