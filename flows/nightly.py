"""The nightly flow: one day's recordings -> transcribed, speaker-attributed Parquet, tagged
with rule categories, scored for emotion, searchable, clustered into incidents, and handed off
to marketing once everything before it succeeded."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed

from asr.errors import TransientError
from callscope.config import Settings, load_config
from callscope.night import (
    CallOutcome,
    NightSummary,
    ProgressLog,
    emotion_day,
    handoff_day,
    incidents_day,
    index_day,
    load_models,
    process_call,
    record_error,
    yesterday,
)
from keywords.daily import apply_categories
from storage.recordings import LocalRecordingSource, Recording
from storage.warehouse import Warehouse


def only_transient(task, task_run, state) -> bool:
    """Retry a call only when it failed with a fault that may pass (not a bad recording)."""
    return isinstance(state.result(raise_on_failure=False), TransientError)


@task(
    name="transcribe-call",
    cache_policy=NO_CACHE,
    retry_condition_fn=only_transient,
    task_run_name="call-{rec.call_id}",
)
def transcribe_call_task(
    rec: Recording, source, warehouse: Warehouse, settings: Settings, done: dict | None
) -> CallOutcome:
    return process_call(rec, source, warehouse, settings, done)


@task(name="commit-day", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def commit_day_task(warehouse: Warehouse, day: dt.date) -> int:
    return warehouse.commit_day(day)


@task(name="load-model", cache_policy=NO_CACHE)
def load_model_task(settings: Settings):
    return load_models(settings)


@task(name="categorize-day", cache_policy=NO_CACHE)
def categorize_day_task(warehouse: Warehouse, day: dt.date, rules):
    return apply_categories(warehouse, day, rules)


@task(name="score-emotion", cache_policy=NO_CACHE)
def emotion_day_task(warehouse: Warehouse, day: dt.date, settings: Settings):
    return emotion_day(warehouse, day, settings)


@task(name="index-day", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
def index_day_task(warehouse: Warehouse, day: dt.date, settings: Settings):
    return index_day(warehouse, day, settings)


@task(name="find-incidents", cache_policy=NO_CACHE)
def incidents_day_task(warehouse: Warehouse, day: dt.date, settings: Settings, rules):
    return incidents_day(warehouse, day, settings, rules)


@task(name="write-handoff", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
def handoff_day_task(warehouse: Warehouse, day: dt.date, settings: Settings):
    return handoff_day(warehouse, day, settings)


@flow(name="nightly", log_prints=True)
def nightly(
    date: str | None = None,
    config: str | None = None,
    recordings: str | None = None,
    warehouse: str | None = None,
    handoff: str | None = None,
) -> dict:
    """Transcribe the recordings of `date` (default: yesterday in the configured time zone)."""
    started = time.perf_counter()
    settings = load_config(config, recordings=recordings, warehouse=warehouse, handoff=handoff)
    day = dt.date.fromisoformat(date) if date else yesterday(settings.timezone)
    logger = get_run_logger()
    source = LocalRecordingSource(
        Path(settings.recordings),
        settings.source.extensions,
        settings.timezone,
        settings.source.manifest_name,
    )
    store = Warehouse(Path(settings.warehouse))
    calls = source.list_day(day)
    done = store.done_calls(day)
    logger.info("night %s: %d recordings in %s", day, len(calls), source.day_folder(day))
    rules = load_model_task(settings)
    summary = NightSummary(day)
    progress = ProgressLog(len(calls), log=logger.info)
    call_task = transcribe_call_task.with_options(
        retries=settings.flow.retries, retry_delay_seconds=settings.flow.retry_delay_s
    )
    pending = iter(calls)
    in_flight: dict = {}

    def submit_next() -> None:
        if (rec := next(pending, None)) is not None:
            future = call_task.submit(rec, source, store, settings, done.get(rec.call_id))
            in_flight[future] = rec

    for _ in range(settings.flow.concurrency):
        submit_next()
    while in_flight:
        future = next(as_completed(list(in_flight)))
        outcome = _outcome(future, in_flight.pop(future), store, settings)
        summary.outcomes.append(outcome)
        progress(outcome)
        submit_next()
    commit_day_task(store, day)
    summary.categories = categorize_day_task(store, day, rules)
    summary.emotion = emotion_day_task(store, day, settings)
    summary.indexed_segments = index_day_task(store, day, settings)
    summary.incidents = incidents_day_task(store, day, settings, rules)
    summary.handoff = handoff_day_task(store, day, settings)
    summary.wall_s = time.perf_counter() - started
    logger.info(summary.render())
    return summary.as_dict()


def _outcome(future, rec: Recording, store: Warehouse, settings: Settings) -> CallOutcome:
    """The call's outcome; a call whose transient fault outlived its retries becomes an error row."""
    result = future.result(raise_on_failure=False)
    if isinstance(result, CallOutcome):
        return result
    reason = f"{rec.name}: failed after {settings.flow.retries} retries: {result}"
    return record_error(rec, store, settings, reason)
