"""The day-level emotion step over the warehouse, after the day's categories.

From the stored segments (text, plus the arousal scored from the audio during the night) it
scores every segment's sentiment and emotion, summarises each call (emotion/call.py, with its
categories for the escalation risk) and writes the day's `emotion_daily` rows. It rewrites
the day's segments and calls partitions and replaces its emotion_daily partition, so it is
safe to repeat, and it is skipped when nothing it depends on changed.

Each call is scored where it was processed (`score_calls`, a part's share of this step): its
segments get their sentiment and emotion, its row the call's summary and the version of the
scoring (`calls.emotion_scores`). The day's state also records which code and settings scored
the stored segments and the segments partition they were written to (`emotion_scored`). When
every call's scores are current (scored by the parts with these settings, or the record still
holds after a rule change), the stored scores and call summaries are re-used: only the calls
whose categories now give other escalation reasons are summarised again, and only the calls
and emotion_daily partitions are written. Calls scored otherwise are scored here, alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from callscope.core.logs import get_logger
from callscope.emotion.backends import TextScorer, settings_version
from callscope.emotion.call import (
    AGGRAVATING_CATEGORY,
    ESCALATION_CATEGORY,
    NEGATIVE_BELOW,
    CallEmotionSettings,
    Turn,
    category_reasons,
    summarize_call,
)
from callscope.emotion.fuse import FusionSettings, fuse
from callscope.emotion.scores import VoiceScore
from callscope.storage.schemas import to_table
from callscope.storage.warehouse import Warehouse

logger = get_logger(__name__)

PEOPLE = ("agent", "customer", "unknown")  # IVR prompts carry no one's emotion
DIMENSIONS = {"all": None, "queue": "queue", "agent": "agent_id", "category": "categories"}
SCORED = "emotion_scored"  # the day state's record of what scored the stored segments
SCORES_CODE = "1"  # raise when a change to the scoring or the call summary changes their values
CATEGORY_REASONS = (ESCALATION_CATEGORY, AGGRAVATING_CATEGORY)
SUMMARY_COLUMNS = (
    "call_id",
    "idx",
    "start_s",
    "end_s",
    "speaker",
    "arousal",
    "sentiment",
    "emotion",
)


@dataclass
class EmotionRun:
    date: dt.date
    calls: int
    segments: int = 0
    angry_calls: int = 0
    escalation_calls: int = 0
    skipped: bool = False
    rescored: bool = True  # the text scored now (False: the stored scores re-used)
    summarised: int = 0  # calls summarised now (the others' stored summaries still hold)
    seconds: float = 0.0


def call_settings(settings) -> CallEmotionSettings:
    return CallEmotionSettings(
        end_weight=settings.end_weight,
        escalation_categories=tuple(settings.escalation_categories),
        aggravating_categories=tuple(settings.aggravating_categories),
        threshold=settings.escalation_threshold,
    )


def fusion_settings(settings) -> FusionSettings:
    return FusionSettings(voice_weight=settings.voice_weight, angry_arousal=settings.angry_arousal)


def day_version(settings, scorer: TextScorer, calls: pa.Table) -> str:
    """The emotion settings plus the categories the escalation risk read."""
    rules = sorted({v or "" for v in calls.column("categories_version").to_pylist()})
    blob = f"{settings_version(settings, scorer)}|{'|'.join(rules)}"
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def apply_emotion(
    store: Warehouse,
    day: dt.date,
    scorer: TextScorer,
    settings,
    force: bool = False,
    rescore: bool = False,
) -> EmotionRun:
    """Score, summarise and aggregate the emotion of `day` (settings: EmotionSettings).

    `force` redoes the day even when its calls carry this version; the segments' text is
    scored again only when the stored scores are stale (`scores_current`) or `rescore` is
    asked (`emotion apply`: a model changed in place keeps its name), and then every call is
    summarised again, else only the calls whose categories now give other escalation
    reasons."""
    started = time.perf_counter()
    calls = store.read("calls", day)
    version = day_version(settings, scorer, calls)
    ok = [
        row
        for row in calls.select(["status", "emotion_version"]).to_pylist()
        if row["status"] == "ok"
    ]
    current = all(row["emotion_version"] == version for row in ok)
    current = current and store.exists("emotion_daily", day)
    if not force and current:
        return EmotionRun(day, len(ok), skipped=True)
    scoring = scores_version(settings, scorer)
    summary = call_settings(settings)
    tables: dict[str, pa.Table] = {}
    stale = [] if rescore else _stale_calls(calls, scoring)
    if not rescore and (not stale or scores_current(store, day, scoring)):
        summaries = _summaries_to_redo(store, day, calls, summary)
        scored_now = 0
    else:
        segments = store.read("segments", day)
        scored, kept = _split(segments, None if rescore else stale)
        scored = _with_columns(scored, score_segments(scored, scorer, fusion_settings(settings)))
        summaries = summarize_day(scored, _calls_of(calls, None if rescore else stale), summary)
        if not rescore:
            summaries |= _summaries_to_redo(
                store, day, _calls_of(calls, stale, keep=False), summary
            )
        scored_now = len(scored) - scored.column("sentiment").null_count
        tables["segments"] = _joined(scored, kept)
    rows = _with_call_emotion(calls, summaries, version, scoring)
    tables["calls"] = to_table("calls", rows)
    stored = tables["calls"].to_pylist()  # the day's figures from the calls' values as stored
    tables["emotion_daily"] = to_table("emotion_daily", daily_rows(day, stored, version))
    store.write_day(day, tables)
    _record_scores(store, day, scoring)  # every ok call's stored segments carry these scores
    run = _run_of(day, rows, "segments" in tables, scored_now, len(summaries))
    run.seconds = time.perf_counter() - started
    logger.info(
        "emotion %s: %d segments scored here (the others with their calls), %d of %d calls "
        "summarised here, %d angry customers, "
        "%d escalation risks (%.1f s)",
        day,
        run.segments,
        run.summarised,
        run.calls,
        run.angry_calls,
        run.escalation_calls,
        run.seconds,
    )
    return run


def score_calls(calls: list[tuple[dict, list[dict]]], scorer: TextScorer, settings) -> None:
    """Score and summarise processed calls (row, segments) where they were processed (a part's
    batch, after its categories): each ok call's segments get their sentiment and emotion, its
    row the call's summary and `emotion_scores`, so the day's step re-uses them. The values are
    those the day's step makes of the same calls (a summary reads them as stored, float32)."""
    ok = [(row, segments) for row, segments in calls if row.get("status") == "ok"]
    people = [
        segment
        for _, segments in ok
        for segment in segments
        if segment.get("speaker") in PEOPLE and segment.get("text")
    ]
    fusion = fusion_settings(settings)
    for segment, text_score in zip(
        people, _score_unique(scorer, [s["text"] for s in people]), strict=True
    ):
        voice = VoiceScore(
            segment.get("arousal"), segment.get("voice_emotion"), segment.get("voice_confidence")
        )
        fused = fuse(text_score, voice, fusion)
        segment.update(
            sentiment=fused.sentiment, emotion=fused.emotion, emotion_confidence=fused.confidence
        )
    summary, scoring = call_settings(settings), scores_version(settings, scorer)
    for row, segments in ok:
        turns = [
            _turn(segment)
            for segment in sorted(segments, key=lambda segment: segment["idx"])
            if segment.get("sentiment") is not None
        ]
        result = summarize_call(turns, row.get("duration_s") or 0.0, row.get("categories"), summary)
        row.update(result.as_row())
        row.update(emotion_version=scoring, emotion_scores=scoring)


def _turn(segment: dict) -> Turn:
    """What a call's summary reads of a scored segment, its values as stored (float32)."""
    return Turn(
        segment["speaker"],
        round(_stored(segment["sentiment"]), 3),
        segment["emotion"],
        segment.get("start_s") or 0.0,
        segment.get("end_s") or 0.0,
        segment["idx"],
        _stored(segment.get("arousal")),
    )


def _stored(value: float | None) -> float | None:
    """`value` as a float32 column gives it back."""
    return None if value is None else float(np.float32(value))


def _run_of(
    day: dt.date, rows: list[dict], rescored: bool, scored: int, summarised: int
) -> EmotionRun:
    ok = [row for row in rows if row["status"] == "ok"]
    return EmotionRun(
        day,
        len(ok),
        segments=scored,
        angry_calls=sum(row["customer_emotion"] == "angry" for row in ok),
        escalation_calls=sum(bool(row["escalation_risk"]) for row in ok),
        rescored=rescored,
        summarised=summarised,
    )


def scores_version(settings, scorer: TextScorer) -> str:
    """What the stored scores and summaries are made with: the code and the settings."""
    return f"{SCORES_CODE}:{settings_version(settings, scorer)}"


def scores_current(store: Warehouse, day: dt.date, scoring: str) -> bool:
    """Whether the stored segments carry the scores of these settings (`scoring`): scored with
    them, and the segments partition not rewritten since (a redaction, a night's commit)."""
    record = store.read_state(day).get(SCORED) or {}
    return (
        record.get("settings") == scoring
        and record.get("segments") is not None
        and record["segments"] == store.version("segments", day)
    )


def _stale_calls(calls: pa.Table, scoring: str) -> list[str]:
    """The ok calls whose stored scores are not of `scoring` (scored elsewhere or never)."""
    stamped = "emotion_scores" in calls.column_names  # not in partitions older than the stamps
    stamps = calls["emotion_scores"].to_pylist() if stamped else [None] * len(calls)
    ids, status = calls["call_id"].to_pylist(), calls["status"].to_pylist()
    return [
        c for c, s, stamp in zip(ids, status, stamps, strict=True) if s == "ok" and stamp != scoring
    ]


def _calls_of(calls: pa.Table, ids: list[str] | None, keep: bool = True) -> pa.Table:
    """The rows of `ids` (all rows for None), or with `keep=False` the others."""
    if ids is None:
        return calls
    chosen = pc.is_in(calls["call_id"], pa.array(ids, pa.string()))
    return calls.filter(chosen if keep else pc.invert(chosen))


ROW = "__row"  # a segment's place in the stored partition while its calls are scored apart


def _split(segments: pa.Table, ids: list[str] | None) -> tuple[pa.Table, pa.Table | None]:
    """The segments of the calls to score (`ids`; all for None) and the others."""
    if ids is None:
        return segments, None
    segments = segments.append_column(ROW, pa.array(range(len(segments)), pa.int64()))
    chosen = pc.is_in(segments["call_id"], pa.array(ids, pa.string()))
    return segments.filter(chosen), segments.filter(pc.invert(chosen))


def _joined(scored: pa.Table, kept: pa.Table | None) -> pa.Table:
    """The day's segments again in their stored order, the scored calls' rows new."""
    if kept is None:
        return scored
    both = pa.concat_tables([kept, scored]).sort_by(ROW)
    return both.drop_columns([ROW])


def _summaries_to_redo(store: Warehouse, day: dt.date, calls: pa.Table, settings) -> dict:
    """With current scores, a stored call summary changes only with the escalation reasons
    its categories give (or when it is missing): those calls are summarised again."""
    redo = [
        row["call_id"]
        for row in calls.select(
            ["call_id", "status", "categories", "escalation_reasons", "emotion_version"]
        ).to_pylist()
        if row["status"] == "ok" and _summary_stale(row, settings)
    ]
    if not redo:
        return {}
    ids = pa.array(redo, pa.string())
    segments = store.read("segments", day, SUMMARY_COLUMNS)
    segments = segments.filter(pc.is_in(segments["call_id"], ids))
    return summarize_day(segments, calls.filter(pc.is_in(calls["call_id"], ids)), settings)


def _summary_stale(call: dict, settings) -> bool:
    if call["emotion_version"] is None:
        return True
    stored = {reason for reason in call["escalation_reasons"] or [] if reason in CATEGORY_REASONS}
    return stored != set(category_reasons(call["categories"] or (), settings))


def _record_scores(store: Warehouse, day: dt.date, scoring: str) -> None:
    state = store.read_state(day)
    state[SCORED] = {"settings": scoring, "segments": store.version("segments", day)}
    store.write_state(day, state)


def _score_unique(scorer: TextScorer, texts: list[str]) -> list:
    """Each distinct text scored once (short turns repeat all day: 好的, 嗯, 谢谢)."""
    unique = list(dict.fromkeys(texts))
    scores = dict(zip(unique, scorer.score(unique) if unique else [], strict=True))
    return [scores[text] for text in texts]


def score_segments(segments: pa.Table, scorer: TextScorer, fusion: FusionSettings) -> dict:
    """sentiment / emotion / emotion_confidence for every segment row (null for IVR)."""
    speakers = segments.column("speaker").to_pylist()
    texts = segments.column("text").to_pylist()
    people = [i for i, speaker in enumerate(speakers) if speaker in PEOPLE and texts[i]]
    text_scores = _score_unique(scorer, [texts[i] for i in people])
    arousal = segments.column("arousal").to_pylist()
    voice_label = segments.column("voice_emotion").to_pylist()
    voice_confidence = segments.column("voice_confidence").to_pylist()
    columns: dict[str, list] = {
        name: [None] * len(texts) for name in ("sentiment", "emotion", "emotion_confidence")
    }
    for i, text_score in zip(people, text_scores, strict=True):
        voice = VoiceScore(arousal[i], voice_label[i], voice_confidence[i])
        fused = fuse(text_score, voice, fusion)
        columns["sentiment"][i] = fused.sentiment
        columns["emotion"][i] = fused.emotion
        columns["emotion_confidence"][i] = fused.confidence
    return columns


def _with_columns(segments: pa.Table, columns: dict) -> pa.Table:
    for name, values in columns.items():
        position = segments.schema.get_field_index(name)
        field = segments.schema.field(name)
        segments = segments.set_column(position, field, pa.array(values, field.type))
    return segments


def summarize_day(segments: pa.Table, calls: pa.Table, settings) -> dict:
    """Each ok call's summary from its scored segments (`SUMMARY_COLUMNS`)."""
    turns: dict[str, list[Turn]] = defaultdict(list)
    for row in segments.select(SUMMARY_COLUMNS).to_pylist():
        if row["sentiment"] is None:
            continue
        turns[row["call_id"]].append(_turn(row))
    meta = calls.select(["call_id", "status", "duration_s", "categories"]).to_pylist()
    return {
        row["call_id"]: summarize_call(
            turns.get(row["call_id"], []), row["duration_s"] or 0.0, row["categories"], settings
        )
        for row in meta
        if row["status"] == "ok"
    }


def _with_call_emotion(calls: pa.Table, summaries: dict, version: str, scoring: str) -> list[dict]:
    """The calls rows with their new summaries; the other ok calls keep theirs."""
    rows = calls.to_pylist()
    for row in rows:
        summary = summaries.get(row["call_id"])
        if summary is not None:
            row.update(summary.as_row())
        if row["status"] == "ok":
            row["emotion_version"], row["emotion_scores"] = version, scoring
    return rows


def daily_rows(day: dt.date, calls: list[dict], version: str) -> list[dict]:
    """One row per (dimension, key, role): the day's calls grouped every way analysts slice."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for call in calls:
        if call["status"] != "ok" or call.get("emotion_version") != version:
            continue
        for dimension, column in DIMENSIONS.items():
            for key in _keys(call, column):
                groups[(dimension, key)].append(call)
    rows = []
    for (dimension, key), members in sorted(groups.items()):
        for role in ("customer", "agent"):
            row = _aggregate(members, role)
            if row:
                rows.append({"date": day, "dimension": dimension, "key": key, "role": role, **row})
    for row in rows:
        row["emotion_version"] = version
    return rows


def _keys(call: dict, column: str | None) -> list[str]:
    if column is None:
        return ["all"]
    value = call.get(column)
    if column == "categories":
        return list(value or []) or ["(none)"]
    return [value or "(unknown)"]


def _aggregate(calls: list[dict], role: str) -> dict | None:
    scored = [call for call in calls if call.get(f"{role}_sentiment") is not None]
    if not scored:
        return None
    sentiments = [call[f"{role}_sentiment"] for call in scored]
    row = {
        "calls": len(scored),
        "segments": sum(call.get(f"n_turns_{role}") or 0 for call in scored),
        "mean_sentiment": _mean(sentiments),
        "share_negative": _share(value < NEGATIVE_BELOW for value in sentiments),
    }
    if role == "customer":
        starts = [c for c in scored if c["customer_sentiment_start"] is not None]
        row.update(
            mean_start=_mean([c["customer_sentiment_start"] for c in starts]),
            mean_end=_mean([c["customer_sentiment_end"] for c in starts]),
            share_angry=_share(c["customer_emotion"] == "angry" for c in scored),
            share_ending_worse=_share(
                c["customer_sentiment_end"] < c["customer_sentiment_start"] - 1 for c in starts
            ),
            share_ending_calmer=_share(
                c["customer_sentiment_end"] > c["customer_sentiment_start"] + 1 for c in starts
            ),
            escalation_risk_calls=sum(bool(c["escalation_risk"]) for c in scored),
            mean_arousal=_mean(
                [c["customer_arousal"] for c in scored if c["customer_arousal"] is not None]
            ),
        )
    return row


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _share(flags) -> float | None:
    flags = list(flags)
    return round(sum(flags) / len(flags), 3) if flags else None
