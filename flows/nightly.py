"""The nightly flow: one day's recordings -> transcribed, speaker-attributed Parquet, tagged
with rule categories, scored for emotion, searchable, clustered into incidents, and handed off
to marketing once everything before it succeeded.

A night that runs but fails its job (every call failed, more than flow.max_failed_share of
them did, or a day step failed) ends in a Failed state that carries the summary, error rows
written; a night that cannot run (bad settings, the day's lock held) raises."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from callscope.core.config import Settings, load_config
from callscope.core.errors import CallscopeError, NightFailed
from callscope.pipeline.night import (
    NightSummary,
    ProgressLog,
    failed_line,
    load_models,
    part_line,
    yesterday,
)
from callscope.pipeline.runner import CallOutcome, run_calls
from callscope.pipeline.steps import DayRunner, StepOutcome
from callscope.storage.recordings import LocalRecordingSource, Recording
from callscope.storage.warehouse import Warehouse
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed, State


@task(name="transcribe-calls", cache_policy=NO_CACHE)
def transcribe_calls_task(
    calls: list[Recording], source, store: Warehouse, settings: Settings, done: dict
) -> tuple[list[CallOutcome], dict]:
    """The day's calls through the call runner (pipeline/runner.py), in this process; a call
    whose fault is transient is tried again there (flow.retries), a bad one fails alone."""
    logger = get_run_logger()
    day = calls[0].date if calls else None
    outcomes, busy = run_calls(
        calls, source, store, settings, done, ProgressLog(len(calls), log=logger.info, day=day)
    )
    return outcomes, busy.as_dict()


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
    metrics_file: str | None = None,
) -> dict | State:
    """Transcribe the recordings of `date` (default: yesterday in the configured time zone),
    then run the day's steps (pipeline/steps.py) on them. With `fan_out` the calls go in
    parts to the workers of `flow.work_pool` (flows/fanout.py); this run then only commits
    the day and runs its steps. The night's figures go where settings.metrics says
    (`metrics_file` in place of metrics.textfile), whether it succeeded or failed.

    Returns the summary (NightSummary.as_dict). A night that failed its job ends Failed, its
    state holding a NightFailed that carries the summary: called directly the flow raises it;
    with `return_state=True`, `state.result(raise_on_failure=False)` returns it."""
    started = time.perf_counter()
    settings = load_config(config, recordings=recordings, warehouse=warehouse, handoff=handoff)
    if metrics_file:
        settings.metrics.textfile = Path(metrics_file).absolute()
    day = dt.date.fromisoformat(date) if date else yesterday(settings.timezone)
    store = Warehouse.from_settings(settings)
    try:
        with store.lock_day(day, "nightly flow"):
            if fan_out:
                paths = {  # absolute: a worker runs the part in a folder of its own
                    "config": str(Path(config).absolute()) if config else None,
                    "recordings": str(settings.recordings),
                    "warehouse": str(settings.warehouse),
                }
                summary = _fanned_out_night(day, settings, store, paths)
            else:
                summary = _night(day, settings, store)
    except (CallscopeError, OSError) as exc:
        _publish(NightSummary(day, stopped_by=str(exc)), settings)
        raise
    summary.wall_s = time.perf_counter() - started
    return _verdict(summary, settings)


def _verdict(summary: NightSummary, settings: Settings) -> dict | State:
    """The summary for a night that did its job; else a Failed state carrying it."""
    logger = get_run_logger()
    fields = {"date": summary.date.isoformat()}
    for line in summary.render().splitlines():
        logger.info(line, extra=fields)
    result = _publish(summary, settings)
    if result["status"] == "ok":
        return result
    failure = failed_line(result["date"], result["reasons"])
    logger.error(failure, extra=fields)
    return Failed(message=failure, data=NightFailed(failure, result))


def _publish(summary: NightSummary, settings: Settings) -> dict:
    from callscope.ops.metrics import publish_night

    result = summary.as_dict()
    publish_night(result, settings, result["status"] == "ok")
    return result


def _night(day: dt.date, settings: Settings, store: Warehouse) -> NightSummary:
    logger = get_run_logger()
    source = LocalRecordingSource.from_settings(settings)
    calls = source.list_day(day)
    done = store.done_calls(day)
    logger.info(
        "night %s: %d recordings in %s",
        day,
        len(calls),
        source.day_folder(day),
        extra={"date": day.isoformat()},
    )
    load_models_task(settings)
    summary = NightSummary(day, max_failed_share=settings.flow.max_failed_share)
    summary.outcomes, summary.busy = transcribe_calls_task(calls, source, store, settings, done)
    _day_steps(day, settings, store, summary)
    return summary


def _fanned_out_night(day: dt.date, settings: Settings, store: Warehouse, paths: dict):
    from callscope.flows.fanout import FanOut
    from callscope.flows.part import ensure_pool

    logger = get_run_logger()
    calls = LocalRecordingSource.from_settings(settings).list_day(day)
    deployment = ensure_pool(settings.flow.work_pool)
    fan_out = FanOut(day, settings, store, deployment, paths, log=logger.info)
    summary = NightSummary(day, max_failed_share=settings.flow.max_failed_share)
    summary.outcomes = fan_out.run(calls)
    summary.parts = [part.as_dict() for part in fan_out.parts]
    for part in fan_out.parts:
        (logger.warning if part.retried else logger.info)(part_line(part.as_dict()))
    _day_steps(day, settings, store, summary)
    store.clear_part_files(day)
    return summary


def _day_steps(day: dt.date, settings: Settings, store: Warehouse, summary: NightSummary) -> None:
    """The day's steps in order; a step that fails (after its retries) is recorded as failed
    and the steps after it, which read what it writes, are not run."""
    runner = DayRunner(store, day, settings)
    for step in runner.plan():
        task = day_step_task.with_options(retries=step.retries, retry_delay_seconds=10)
        state = task(runner, step.name, return_state=True)
        outcome = state.result(raise_on_failure=False)
        if isinstance(outcome, StepOutcome):
            summary.steps[step.name] = outcome
            continue
        summary.steps[step.name] = StepOutcome(step.name, "failed", reason=_reason(outcome))
        return


def _reason(error: object) -> str:
    if isinstance(error, CallscopeError):
        return str(error)
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    return str(error)
