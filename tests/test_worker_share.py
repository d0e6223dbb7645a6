"""The worker's share of the day's steps: a part's staging batch tags its calls with the rule
categories and embeds their issue statements; the day's steps after the commit reuse both.
Staged with the calls, committed once per call, used only while the rules, text and model
match, and the same categories, hits and topics as a day done wholly by the steps."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest
from callscope.core.config import load_config
from callscope.incidents.daily import statement_vectors
from callscope.incidents.embed import get_embedder
from callscope.incidents.statements import Statement
from callscope.keywords.daily import apply_categories
from callscope.keywords.rules import load_rules
from callscope.pipeline.runner import StagingBatch, batch_share
from callscope.pipeline.steps import DayRunner
from callscope.privacy.redact import redact_segments
from callscope.storage.warehouse import Warehouse

from tests.test_incidents import call_segments, run_steps

DAY = dt.date(2026, 11, 20)
COUNTS = {"preorder": 8, "billing": 6, "broadband": 5}


@pytest.fixture(scope="module")
def settings():
    return load_config(None)


def processed_calls(seed: int = 5) -> list[tuple[dict, list[dict]]]:
    """Calls as a part has them after transcription: rows and redacted segments."""
    rng = random.Random(seed)
    calls = []
    for topic, n in COUNTS.items():
        for i in range(n):
            call_id = f"{topic}-{i:02d}"
            segments = [{**s, "date": DAY} for s in call_segments(call_id, topic, rng, i % 2 == 0)]
            redact_segments(segments)
            started = dt.datetime.combine(DAY, dt.time(9), dt.UTC) + dt.timedelta(minutes=i)
            at = dt.datetime(2026, 11, 21, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=len(calls))
            row = {"call_id": call_id, "date": DAY, "status": "ok", "queue": topic}
            row |= {"started_at": started, "processed_at": at, "n_segments": len(segments)}
            calls.append((row, segments))
    return calls


def stage(store: Warehouse, settings, calls, embedder) -> None:
    with StagingBatch(store, 7, 1e9, embedder) as batch:
        for row, segments in calls:
            batch.stage_call(DAY, row, segments)


class Counting:
    """The real embedder, counting the texts it is given."""

    def __init__(self, embed):
        self.embed, self.texts = embed, 0

    def __call__(self, texts):
        self.texts += len(texts)
        return self.embed(texts)


def test_staged_statements_are_committed_with_their_calls_and_reused(tmp_path, settings):
    store = Warehouse(tmp_path / "warehouse")
    calls = processed_calls()
    stage(store, settings, calls, batch_share(settings))
    staged = list((tmp_path / "warehouse" / "_staging").rglob("*.statement_vectors.parquet"))
    assert len(staged) == 3  # one per batch of 7 calls
    run_steps(store, DAY, settings, ("commit", "redact", "categories", "incidents"))
    assert not (tmp_path / "warehouse" / "_staging" / f"date={DAY}").exists()

    stored = store.read("statement_vectors", DAY).to_pylist()
    issues = {
        row["call_id"]: row["statement"] for row in store.read("call_issues", DAY).to_pylist()
    }
    assert len(stored) == len(calls) == len(issues)
    assert {row["call_id"]: row["text"] for row in stored} == issues
    assert {row["model"] for row in stored} == {settings.incidents.embedding_model}
    vectors = np.array([row["vector"] for row in stored], dtype=np.float32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)

    embed = Counting(get_embedder(settings.incidents.embedding_model))
    said = [
        (row["call_id"], Statement(row["statement"]))
        for row in store.read("call_issues", DAY).to_pylist()
    ]
    said[0] = (said[0][0], Statement(said[0][1].text + "，还有宽带也断了"))  # text changed since
    out, reused = statement_vectors(store, DAY, said, embed, settings.incidents.embedding_model)
    assert (reused, embed.texts) == (len(said) - 1, 1)
    fresh = embed.embed([statement.text for _, statement in said])
    assert np.allclose(out, fresh, atol=1e-4)
    _, reused = statement_vectors(store, DAY, said, embed, "another-model")
    assert reused == 0


def test_topics_are_the_same_whether_statements_were_embedded_in_the_part_or_the_step(
    tmp_path, settings
):
    days = {}
    for name, embedder in (("part", batch_share(settings)), ("step", None)):
        store = Warehouse(tmp_path / name)
        stage(store, settings, processed_calls(), embedder)
        run_steps(store, DAY, settings, ("commit", "redact", "categories", "incidents"))
        rows = store.read("call_issues", DAY).to_pylist()
        days[name] = {row["call_id"]: (row["statement"], row["cluster"]) for row in rows}
        assert store.exists("statement_vectors", DAY) is (embedder is not None)
    assert days["part"] == days["step"]
    assert len({cluster for _, cluster in days["step"].values() if cluster >= 0}) >= 2


def test_a_call_staged_again_keeps_only_its_latest_statement(tmp_path, settings):
    store = Warehouse(tmp_path / "warehouse")
    calls = processed_calls()[:3]
    stage(store, settings, calls, batch_share(settings))
    store.commit_day(DAY)
    row, segments = calls[0]
    retried = {**row, "processed_at": row["processed_at"] + dt.timedelta(hours=1)}
    changed = [
        {**s, "text": "我家宽带断网两天了。", "text_redacted": "我家宽带断网两天了。"}
        if s["speaker"] == "customer"
        else s
        for s in segments
    ]
    stage(store, settings, [(retried, changed)], batch_share(settings))
    stage(store, settings, [calls[1]], None)  # staged again without a statement (step embeds)
    assert store.commit_day(DAY) == 2
    stored = {
        row["call_id"]: row["text"] for row in store.read("statement_vectors", DAY).to_pylist()
    }
    assert set(stored) == {calls[0][0]["call_id"], calls[2][0]["call_id"]}
    assert stored[calls[0][0]["call_id"]].startswith("我家宽带断网两天了")


def test_a_batch_whose_statements_cannot_be_embedded_is_staged_without_them(
    tmp_path, settings, monkeypatch, caplog
):
    from callscope.incidents import embed as incidents_embed

    def out_of_memory(*args, **kwargs):
        def embed(texts):
            raise RuntimeError("CUDA error: out of memory")

        return embed

    monkeypatch.setattr(incidents_embed, "get_embedder", out_of_memory)
    store = Warehouse(tmp_path / "warehouse")
    stage(store, settings, processed_calls()[:4], batch_share(settings))
    assert "statement_vectors of 4 calls left to the day's steps" in caplog.text
    assert store.commit_day(DAY) == 4
    assert not store.exists("statement_vectors", DAY)
    assert store.read("keyword_hits", DAY).num_rows > 0  # the other part was done
    assert store.read("segments", DAY).num_rows == sum(len(s) for _, s in processed_calls()[:4])


# categories ----------------------------------------------------------------------------------
def categorized_day(store: Warehouse, settings, share) -> dict:
    stage(store, settings, processed_calls(), share)
    outcomes = DayRunner(store, DAY, settings).run(only=("commit", "redact", "categories"))
    hits = store.read("keyword_hits", DAY).drop_columns(["date"]).to_pylist()
    calls = store.read("calls", DAY, columns=["call_id", "categories", "complaint_class"])
    return {"run": outcomes["categories"].result, "hits": hits, "calls": calls.to_pylist()}


def test_calls_tagged_by_their_worker_are_left_as_they_are_by_the_days_step(tmp_path, settings):
    part = categorized_day(Warehouse(tmp_path / "part"), settings, batch_share(settings))
    step = categorized_day(Warehouse(tmp_path / "step"), settings, None)
    assert part["run"].retagged == 0 and step["run"].retagged == len(processed_calls())
    assert part["hits"] == step["hits"] and part["calls"] == step["calls"]
    assert part["run"].tagged == step["run"].tagged >= 8  # the pre-order calls at least
    assert (part["run"].hits, part["run"].calls) == (len(step["hits"]), len(processed_calls()))


def test_only_calls_not_tagged_with_todays_rules_are_tagged_by_the_step(tmp_path, settings):
    store = Warehouse(tmp_path / "warehouse")
    calls = processed_calls()
    stage(store, settings, calls[:-2], batch_share(settings))
    stage(store, settings, calls[-2:], None)  # a single-process night's calls: not tagged
    outcomes = DayRunner(store, DAY, settings).run(only=("commit", "redact", "categories"))
    assert outcomes["categories"].result.retagged == 2
    reference = categorized_day(Warehouse(tmp_path / "step"), settings, None)
    hits = store.read("keyword_hits", DAY).drop_columns(["date"]).to_pylist()
    assert sorted(hits, key=repr) == sorted(reference["hits"], key=repr)
    assert [row["call_id"] for row in hits] == sorted(row["call_id"] for row in hits)

    other = settings.keywords.sounds_like.model_copy(update={"min_syllables": 3})
    other_rules = load_rules(settings.keywords.rules, other)
    assert other_rules.version_hash != load_rules(settings.keywords.rules).version_hash
    run = apply_categories(store, DAY, other_rules)
    assert run.retagged == len(calls)  # other rules: every call again


def test_the_sentence_encoder_keeps_to_a_cpu_workers_share_of_the_cores(monkeypatch):
    import os

    from callscope.flows.local import worker_env
    from callscope.incidents.embed import _cpu_share

    for variable, value in worker_env({}, None, 1).items():
        monkeypatch.setenv(variable, value)
    assert _cpu_share() == 1
    monkeypatch.delenv("CALLSCOPE_WORKER_CPUS")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert _cpu_share() == (os.cpu_count() or 1)
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")
    assert _cpu_share() == (os.cpu_count() or 1)


# emotion ---------------------------------------------------------------------------------------
def emotion_day(store: Warehouse, settings, batches) -> tuple[object, dict]:
    """The day's steps to the emotion over calls staged in `batches` of (calls, share)."""
    for calls, share in batches:
        stage(store, settings, calls, share)
    steps = ("commit", "redact", "categories", "emotion")
    run = DayRunner(store, DAY, settings).run(only=steps)["emotion"].result
    tables = {
        table: store.read(table, DAY).to_pylist()
        for table in ("calls", "segments", "emotion_daily")
    }
    return run, tables


def test_calls_scored_by_their_worker_give_the_day_the_steps_own_scores(tmp_path, settings):
    calls = processed_calls()  # the share fills in the rows it is given: a fresh set each
    part_run, part = emotion_day(
        Warehouse(tmp_path / "part"), settings, [(calls, batch_share(settings))]
    )
    step_run, step = emotion_day(
        Warehouse(tmp_path / "step"), settings, [(processed_calls(), None)]
    )
    assert part_run.segments == 0 and step_run.segments > len(calls)  # scored in the part
    assert part == step
    assert {row["emotion_scores"] for row in part["calls"]} == {
        row["emotion_scores"] for row in step["calls"]
    }
    assert any(row["customer_sentiment"] is not None for row in part["calls"])
    assert len(part["emotion_daily"]) > 3


def test_only_calls_scored_elsewhere_are_scored_by_the_step(tmp_path, settings):
    calls = processed_calls()
    store = Warehouse(tmp_path / "mixed")
    batches = [(calls[:-3], batch_share(settings)), (calls[-3:], None)]
    run, mixed = emotion_day(store, settings, batches)
    people = [s for _, segs in calls[-3:] for s in segs if s["speaker"] != "ivr" and s["text"]]
    assert run.segments == len(people) and run.summarised == 3
    _, reference = emotion_day(Warehouse(tmp_path / "step"), settings, [(processed_calls(), None)])
    assert mixed == reference
