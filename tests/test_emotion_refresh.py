"""After a rule change the emotion step re-uses the stored segment scores: the calls and
emotion_daily come out as a full re-score makes them, and the segments are not rewritten.
Changed emotion settings, or segments rewritten since they were scored, score in full."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from callscope.core.config import load_config
from callscope.emotion.daily import SCORED
from callscope.pipeline.runner import StagingBatch, batch_share
from callscope.pipeline.steps import DayRunner
from callscope.storage.warehouse import Warehouse
from callscope.synth.scripts import plan_days

from tests.night_support import processed_call

DAY = dt.date(2026, 10, 1)
TAGGING = ("categories", "emotion")
ANGRY = "你们就是骗子！垃圾服务！我要投诉到工信部！"


def _settings(warehouse: Path, rules: Path | None = None):
    settings = load_config(None, warehouse=warehouse)
    incidents = settings.incidents.model_copy(update={"enabled": False})
    update: dict = {"incidents": incidents}
    if rules is not None:
        update["keywords"] = settings.keywords.model_copy(update={"rules": rules})
    return settings.model_copy(update=update)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    """One night of 30 text-only calls, staged and run as the night does."""
    root = tmp_path_factory.mktemp("refresh") / "warehouse"
    settings = _settings(root)
    store = Warehouse.from_settings(settings)
    [plan] = plan_days(DAY, 1, 11, 30, 4)
    with StagingBatch(store, 10, 1e9, batch_share(settings)) as batch:
        for call in plan.calls:
            batch.stage_call(DAY, *processed_call(call, DAY))
    DayRunner(store, DAY, settings).run()
    return root


def _escalating(categories: list[dict]) -> None:
    """A new category, and a cancel threat every customer says: escalation risks change."""
    categories.append({"name": "new_phone_preorder", "any": ["预约", "首发", "新手机"]})
    cancel = next(c for c in categories if c["name"] == "cancel_threat")
    cancel["rules"][0]["any"] += ["您好", "你好", "好的", "谢谢"]


def _copy(night: Path, tmp_path: Path, name: str, emotion: dict | None = None):
    """A copy of the night's warehouse with the rule file edited (and emotion settings)."""
    rules = yaml.safe_load(Path(load_config(None).keywords.rules).read_text(encoding="utf-8"))
    _escalating(rules["categories"])
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    shutil.copytree(night, tmp_path / name)
    settings = _settings(tmp_path / name, path)
    if emotion:
        update = {"emotion": settings.emotion.model_copy(update=emotion)}
        settings = settings.model_copy(update=update)
    return settings, Warehouse.from_settings(settings)


def _tag(settings, store: Warehouse):
    """The rules applied again, as `categories apply` does: categories, then emotion."""
    outcomes = DayRunner(store, DAY, settings).run("categories", force=True, only=TAGGING)
    assert outcomes["emotion"].status == "ran"
    return outcomes["emotion"].result


def _forget_scores(store: Warehouse) -> None:
    """As a warehouse scored before the step kept its records (the day's and each call's)."""
    state = store.read_state(DAY)
    del state[SCORED]
    store.write_state(DAY, state)
    calls = store.read("calls", DAY)
    unknown = pa.nulls(len(calls), pa.string())
    store.replace_day(
        "calls",
        DAY,
        calls.set_column(calls.schema.get_field_index("emotion_scores"), "emotion_scores", unknown),
    )


def test_a_rule_change_summarises_again_from_the_stored_scores(night, tmp_path):
    settings, fast = _copy(night, tmp_path, "fast")
    _, full = _copy(night, tmp_path, "full")
    _forget_scores(full)
    segments = fast.version("segments", DAY)
    before = fast.read("calls", DAY)

    quick, reference = _tag(settings, fast), _tag(settings, full)

    assert not quick.rescored and reference.rescored
    assert fast.version("segments", DAY) == segments  # the segments partition is not rewritten
    assert full.version("segments", DAY) != segments
    assert (quick.calls, quick.escalation_calls) == (reference.calls, reference.escalation_calls)
    assert quick.calls >= 30 and reference.segments > quick.calls and quick.segments == 0
    assert 0 < quick.summarised < quick.calls == reference.summarised  # the calls newly at risk
    for table in ("calls", "emotion_daily"):
        assert fast.read(table, DAY).equals(full.read(table, DAY)), table
    assert fast.read("segments", DAY).equals(full.read("segments", DAY))
    risks = fast.read("calls", DAY)["escalation_risk_score"].to_pylist()
    assert risks != before["escalation_risk_score"].to_pylist()  # the new rules count
    keys = fast.read("emotion_daily", DAY)["key"].to_pylist()
    assert "new_phone_preorder" in keys and "cancel_threat" in keys


def test_changed_emotion_settings_score_in_full(night, tmp_path):
    settings, store = _copy(night, tmp_path, "settings", emotion={"end_weight": 3.0})
    segments = store.version("segments", DAY)

    # `emotion apply`: the step forced with settings the stored scores were not made with
    outcome = DayRunner(store, DAY, settings).run("emotion", force=True, only=["emotion"])

    run = outcome["emotion"].result
    assert run.rescored and run.summarised == run.calls
    assert store.version("segments", DAY) != segments
    # recorded: the next rule change re-uses these scores
    assert not _tag(settings, store).rescored


def test_emotion_apply_scores_in_full_even_with_the_settings_of_the_scores(night, tmp_path):
    # a model replaced in place keeps its name: asked for, the text is scored again
    settings, store = _copy(night, tmp_path, "same")
    segments, calls = store.version("segments", DAY), store.read("calls", DAY)

    outcome = DayRunner(store, DAY, settings).run("emotion", force=True, only=["emotion"])

    run = outcome["emotion"].result
    assert run.rescored and run.summarised == run.calls >= 30 and run.segments > run.calls
    assert store.version("segments", DAY) != segments
    columns = ["call_id", "customer_sentiment", "escalation_risk", "emotion_version"]
    assert store.read("calls", DAY).select(columns).equals(calls.select(columns))


def test_a_call_processed_again_without_its_scores_is_scored_alone(night, tmp_path):
    settings, store = _copy(night, tmp_path, "rewritten")
    segments = store.read("segments", DAY).to_pylist()
    first = next(row for row in segments if row["speaker"] == "customer")
    call_id = first["call_id"]
    [row] = [row for row in store.read("calls", DAY).to_pylist() if row["call_id"] == call_id]
    again = [{**seg, "text": ANGRY if seg is first else seg["text"]} for seg in segments]
    again = [seg for seg in again if seg["call_id"] == call_id]
    later = row["processed_at"] + dt.timedelta(hours=1)
    # a night that processed it again where its emotion was not scored (the day step scores it)
    store.stage_call(DAY, {**row, "processed_at": later, "emotion_scores": None}, again)
    store.commit_day(DAY)

    run = _tag(settings, store)
    spoken = [seg for seg in again if seg["speaker"] in ("agent", "customer") and seg["text"]]
    assert run.rescored and run.segments == len(spoken)
    rescored = [seg for seg in store.read("segments", DAY).to_pylist() if seg["call_id"] == call_id]
    assert rescored[again.index(next(s for s in again if s["text"] == ANGRY))]["sentiment"] < 0
    assert [seg["text"] for seg in rescored] == [seg["text"] for seg in again]
