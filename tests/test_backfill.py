"""A rule over a range of past days: per-category re-tagging in parallel processes gives what a
full serial re-tag gives, and the dry-run counts what the apply then tags, writing nothing."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
import yaml
from callscope.core.config import load_config
from callscope.keywords import daily
from callscope.keywords.daily import forget_rule_sets
from callscope.keywords.index import SearchFilters, open_index
from callscope.pipeline.backfill import apply_categories_range
from callscope.pipeline.runner import StagingBatch, batch_share
from callscope.pipeline.steps import DayRunner
from callscope.storage.warehouse import Warehouse
from callscope.synth.scripts import plan_days
from typer.testing import CliRunner

from callscope.cli import app
from tests.night_support import processed_call

START = dt.date(2026, 10, 1)
DAYS = [START, START + dt.timedelta(days=1)]
NEW = {"name": "new_phone_preorder", "any": ["预约", "首发", "新手机"], "speaker": "customer"}
PROCESSING = ["processed_at"]  # when a call was processed: not a result of the rules


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> Path:
    """Two nights of 30 text-only calls each, staged and run as the night does."""
    root = tmp_path_factory.mktemp("backfill")
    settings = load_config(None, warehouse=root / "warehouse")
    store = Warehouse.from_settings(settings)
    share = batch_share(settings)
    for plan in plan_days(START, len(DAYS), 11, 30, 4):
        with StagingBatch(store, 10, 1e9, share) as batch:
            for call in plan.calls:
                batch.stage_call(plan.date, *processed_call(call, plan.date))
        DayRunner(store, plan.date, settings).run()
    return root / "warehouse"


def _copy(staged: Path, tmp_path: Path, name: str, edit) -> object:
    """A copy of the staged warehouse and its settings, with the rule file edited by `edit`."""
    settings = load_config(None, warehouse=tmp_path / name)
    shutil.copytree(staged, settings.warehouse)
    return _with_rules(settings, tmp_path / f"{name}.yaml", edit)


def _with_rules(settings, path: Path, edit) -> object:
    rules = yaml.safe_load(Path(load_config(None).keywords.rules).read_text(encoding="utf-8"))
    edit(rules["categories"])
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return settings.model_copy(
        update={"keywords": settings.keywords.model_copy(update={"rules": path})}
    )


def _edited(categories: list[dict]) -> None:
    """A category added, one edited, one dropped, two swapped."""
    categories.append(NEW)
    billing = next(c for c in categories if c["name"] == "billing_dispute")
    billing["rules"][0]["any"].append("话费")
    categories[:] = [c for c in categories if c["name"] != "delivery_lookup"]
    categories[0], categories[1] = categories[1], categories[0]


def _stored(settings, day: dt.date) -> dict:
    store = Warehouse.from_settings(settings)
    return {
        "keyword_hits": store.read("keyword_hits", day),
        "calls": store.read("calls", day).drop_columns(PROCESSING),
        "incidents": store.read("incidents", day).select(["kind", "label", "calls", "categories"]),
    }


def _found(settings, query: str, category: str) -> list[tuple]:
    index = open_index(settings, create=False)
    try:
        result = index.search(query, SearchFilters(categories=[category]), limit=1000)
    finally:
        index.close()
    return sorted((hit.call_id, hit.idx) for hit in result.hits)


def test_a_parallel_per_category_apply_stores_what_a_full_serial_retag_stores(staged, tmp_path):
    fast = _copy(staged, tmp_path, "fast", _edited)
    full = _copy(staged, tmp_path, "full", _edited)

    applied = apply_categories_range(fast, DAYS, workers=2)
    reference = apply_categories_range(full, DAYS, workers=1, whole_rule_set=True)

    for day in DAYS:
        assert applied[day]["redone"] == ["billing_dispute", "new_phone_preorder"]
        assert reference[day]["redone"] is None  # every category of every call
        assert applied[day]["tagged_now"] == reference[day]["tagged_now"] > 0
        assert {"index", "incidents", "handoff"} <= set(applied[day]["refreshed"])
        mine, theirs = _stored(fast, day), _stored(full, day)
        for table in mine:
            assert mine[table].equals(theirs[table]), f"{day} {table}"
        tagged = mine["calls"]["categories"].to_pylist()
        assert any("new_phone_preorder" in (c or []) for c in tagged)
        assert not any("delivery_lookup" in (c or []) for c in tagged)
        assert set(mine["keyword_hits"]["rules_version"].to_pylist()) == {
            mine["calls"]["categories_version"][0].as_py()
        }
    assert _found(fast, "预约", "new_phone_preorder") == _found(full, "预约", "new_phone_preorder")
    assert _found(fast, "预约", "new_phone_preorder")


def test_a_day_without_category_versions_is_retagged_fully_once(staged, tmp_path):
    settings = _copy(staged, tmp_path, "old", lambda categories: categories.append(NEW))
    store = Warehouse.from_settings(settings)
    for day in DAYS:  # as a warehouse tagged before per-category versions
        forget_rule_sets(store, day)
    first = apply_categories_range(settings, DAYS[:1])
    assert first[DAYS[0]]["redone"] is None and first[DAYS[0]]["tagged_now"] > 0

    settings = _with_rules(settings, tmp_path / "edited.yaml", _edited)  # edited again
    again = apply_categories_range(settings, DAYS[:1])
    assert again[DAYS[0]]["redone"] == ["billing_dispute"]  # the new one is tagged already
    assert again[DAYS[0]]["tagged_now"] > 0
    assert apply_categories_range(settings, DAYS[:1])[DAYS[0]]["tagged_now"] == 0


def test_try_counts_what_apply_then_tags_and_writes_nothing(staged, tmp_path):
    settings = _copy(staged, tmp_path, "try", lambda categories: categories.append(NEW))
    warehouse = Path(settings.warehouse)
    before = _files(warehouse)
    args = ["categories", "try", "new_phone_preorder", "--from", "2026-10-01", "--to"]
    args += ["2026-10-02", "--json", "--warehouse", str(warehouse)]
    args += ["--config", str(_config(tmp_path, settings))]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    tried = json.loads(done.stdout)["days"]
    assert _files(warehouse) == before  # not a file written, moved or touched

    sounds_like = CliRunner().invoke(app, [*args[:2], "preorder_failure", *args[3:]])
    for row in json.loads(sounds_like.stdout)["days"]:  # tagged by the night: the same calls
        assert row["categories"]["preorder_failure"] == row["tagged_now"] > 0
        assert row["examined"] < row["calls"]  # heard-as characters narrow it too

    apply_categories_range(settings, DAYS)
    store = Warehouse.from_settings(settings)
    for row, day in zip(tried, DAYS, strict=True):
        calls = store.read("calls", day)["categories"].to_pylist()
        tagged = sum("new_phone_preorder" in (c or []) for c in calls)
        assert row["categories"]["new_phone_preorder"] == tagged > 0
        assert row["tagged_now"] == 0  # not applied when tried
        assert row["examined"] < row["calls"]  # only calls that say a phrase were tagged in full


def _config(tmp_path: Path, settings) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"keywords": {"rules": str(settings.keywords.rules)}}))
    return path


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file()
    }


def test_one_day_split_over_processes_stores_what_one_process_stores(staged, tmp_path, monkeypatch):
    monkeypatch.setattr(daily, "PART_CALLS", 10)  # a day of 30 calls is then "large"
    split = _copy(staged, tmp_path, "split", _edited)
    whole = _copy(staged, tmp_path, "whole", _edited)
    day = DAYS[1]

    parts = apply_categories_range(split, [day], workers=3, whole_rule_set=True)
    one = apply_categories_range(whole, [day], workers=1, whole_rule_set=True)

    assert parts[day]["redone"] is None and parts[day]["tagged_now"] == one[day]["tagged_now"]
    mine, theirs = _stored(split, day), _stored(whole, day)
    for table in mine:
        assert mine[table].equals(theirs[table]), table
