"""The nightly flow: one day's recordings -> transcribed, speaker-attributed Parquet, tagged
with rule categories, scored for emotion, searchable, clustered into incidents, and handed off
to marketing once everything before it succeeded."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from callscope.core.config import Settings, load_config
from callscope.core.errors import TransientError
from callscope.pipeline.night import (
    CallOutcome,
    NightSummary,
    ProgressLog,
    load_models,
    process_call,
    record_error,
    shard_line,
    yesterday,
)
from callscope.pipeline.steps import DayRunner, StepOutcome
from callscope.storage.recordings import LocalRecordingSource, Recording
from callscope.storage.warehouse import Warehouse
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed


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


@task(name="load-models", cache_policy=NO_CACHE)
def load_models_task(settings: Settings) -> None:
    load_models(settings)


@task(name="day-step", cache_policy=NO_CACHE, task_run_name="{name}")
def day_step_task(runner: DayRunner, name: str) -> StepOutcome:
    return runner.run_step(name)


@flow(name="nightly", log_prints=True)
def nightly(
    date: str | None = None,
    config: str | None = None,
    recordings: str | None = None,
    warehouse: str | None = None,
    handoff: str | None = None,
    fan_out: bool = False,
) -> dict:
    """Transcribe the recordings of `date` (default: yesterday in the configured time zone),
    then run the day's steps (pipeline/steps.py) on them. With `fan_out` the calls go in
    shards to the workers of `flow.work_pool` (flows/fanout.py); this run then only commits
    the day and runs its steps."""
    started = time.perf_counter()
    settings = load_config(config, recordings=recordings, warehouse=warehouse, handoff=handoff)
    day = dt.date.fromisoformat(date) if date else yesterday(settings.timezone)
    store = Warehouse.from_settings(settings)
    with store.lock_day(day, "nightly flow"):
        if fan_out:
            paths = {  # absolute: a worker runs the shard in a folder of its own
                "config": str(Path(config).absolute()) if config else None,
                "recordings": str(settings.recordings),
                "warehouse": str(settings.warehouse),
            }
            summary = _fanned_out_night(day, settings, store, paths)
        else:
            summary = _night(day, settings, store)
    summary.wall_s = time.perf_counter() - started
    get_run_logger().info(summary.render())
    return summary.as_dict()


def _night(day: dt.date, settings: Settings, store: Warehouse) -> NightSummary:
    logger = get_run_logger()
    source = LocalRecordingSource.from_settings(settings)
    calls = source.list_day(day)
    done = store.done_calls(day)
    logger.info("night %s: %d recordings in %s", day, len(calls), source.day_folder(day))
    load_models_task(settings)
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
    _day_steps(day, settings, store, summary)
    return summary


def _fanned_out_night(day: dt.date, settings: Settings, store: Warehouse, paths: dict):
    from callscope.flows.fanout import FanOut
    from callscope.flows.shard import ensure_pool

    logger = get_run_logger()
    calls = LocalRecordingSource.from_settings(settings).list_day(day)
    deployment = ensure_pool(settings.flow.work_pool)
    fan_out = FanOut(day, settings, store, deployment, paths, log=logger.info)
    summary = NightSummary(day)
    summary.outcomes = fan_out.run(calls)
    summary.shards = [shard.as_dict() for shard in fan_out.shards]
    for shard in fan_out.shards:
        (logger.warning if shard.retried else logger.info)(shard_line(shard.as_dict()))
    _day_steps(day, settings, store, summary)
    store.clear_shard_files(day)
    return summary


def _day_steps(day: dt.date, settings: Settings, store: Warehouse, summary: NightSummary) -> None:
    runner = DayRunner(store, day, settings)
    for step in runner.plan():
        task = day_step_task.with_options(retries=step.retries, retry_delay_seconds=10)
        summary.steps[step.name] = task(runner, step.name)


def _outcome(future, rec: Recording, store: Warehouse, settings: Settings) -> CallOutcome:
    """The call's outcome; a call whose transient fault outlived its retries becomes an error row."""
    result = future.result(raise_on_failure=False)
    if isinstance(result, CallOutcome):
        return result
    reason = f"{rec.name}: failed after {settings.flow.retries} retries: {result}"
    return record_error(rec, store, settings, reason)
