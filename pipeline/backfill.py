"""A day step re-applied to a range of stored days (`categories | emotion | redact apply
--from --to`), and everything after it.

The steps redact, categories and emotion read and write only their own day's partitions
(`DAY_LOCAL`): for each day, the ones from the start step on run together, the start step
forced, under the day's lock, in one of three places:
- this process, a day after another (with fewer days than workers, the categories step splits
  each day's calls over `workers` processes);
- `workers` local forked processes, a day to a process at a time;
- flow runs on a work pool's workers (`fan_out`: flows/backfill.py, passed in, since stage code
  never imports Prefect).
This process then runs the rest of each day's cascade (search rows, incidents, hand-off, each
only when its inputs changed) in date order as the days come back, since the search index has
one writer and a day's incidents read those of the days before it.

A day that fails does not stop the others: the range finishes, then `ReapplyFailed` names the
days that failed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from callscope.core.config import Settings
from callscope.core.errors import CallscopeError
from callscope.core.logs import get_logger
from callscope.pipeline.steps import DayRunner, StepOutcome, downstream
from callscope.storage.warehouse import Warehouse

logger = get_logger(__name__)

DAY_LOCAL = ("redact", "categories", "emotion")  # steps that touch only their own day


@dataclass(frozen=True)
class DayFailure:
    """A day whose day-local steps did not run to the end (after any retries)."""

    reason: str
    exit_code: int = 1


DayResult = dict | DayFailure  # a day's summary, or why it failed


class DayFanOut(Protocol):
    """Runs each day's day-local steps from `start` elsewhere (a work pool) and yields every
    day's summary (as `reapply_day` returns it) or failure, in date order."""

    def __call__(self, days: list[dt.date], start: str) -> Iterable[tuple[dt.date, DayResult]]: ...


class ReapplyFailed(CallscopeError):
    """Days of a range whose re-apply failed; the other days were done. `summaries` holds
    those; the exit code is the lowest of the failures' (75 when every failed day was only
    locked by another writer)."""

    def __init__(self, failed: dict[dt.date, DayFailure], days: int, summaries: dict):
        self.failed, self.summaries = failed, summaries
        self.exit_code = min(failure.exit_code for failure in failed.values())
        if days == 1:
            [failure] = failed.values()
            message = failure.reason
        else:
            which = "; ".join(f"{day}: {failure.reason}" for day, failure in failed.items())
            message = f"{len(failed)} of {days} days failed ({which}); run those days again"
        super().__init__(message)


def day_local_steps(start: str) -> list[str]:
    """The day-local steps a re-apply from `start` runs per day, in order."""
    if start not in DAY_LOCAL:
        raise ValueError(f"{start!r} is not a day-local step; one of {', '.join(DAY_LOCAL)}")
    return [step.name for step in downstream(start) if step.name in DAY_LOCAL]


def reapply_range(
    settings: Settings,
    days: list[dt.date],
    start: str,
    workers: int = 1,
    fan_out: DayFanOut | None = None,
    progress: Callable[[dt.date, dict], None] | None = None,
    whole_rule_set: bool = False,
) -> dict[dt.date, dict]:
    """Step `start` forced over `days` and everything after it (see the module's doc); returns
    each day's summary (`reapply_day`'s, with the cascade's steps added to `refreshed` and
    `seconds`). `whole_rule_set` (categories) re-tags every category of the calls not tagged
    with these rules, as before per-category versions. Raises ReapplyFailed after the range
    when a day failed."""
    steps = day_local_steps(start)
    store = Warehouse.from_settings(settings)
    if whole_rule_set and "categories" in steps:
        _forget_rule_sets(store, days)
    # with more than one process at work, each day's hand-off runs beside the next day's
    # cascade (forked first, before this process opens the search index)
    beside = _Beside(settings, start) if len(days) > 1 and (workers > 1 or fan_out) else None
    if fan_out is not None:
        done = fan_out(days, start)
    elif workers <= 1 or len(days) < workers:  # a day at a time, its calls in `workers` parts
        done = ((day, _day_here(settings, day, start, workers)) for day in days)
    else:
        done = _in_processes(settings, days, start, workers)
    summaries: dict[dt.date, dict] = {}
    failed: dict[dt.date, DayFailure] = {}

    def finish(day: dt.date, summary: DayResult) -> None:
        if isinstance(summary, DayFailure):
            logger.error("%s: %s apply failed: %s", day, start, summary.reason)
            failed[day] = summary
            return
        summaries[day] = summary
        if progress:
            progress(day, summary)

    try:
        for day, summary in done:
            if isinstance(summary, dict):
                summary = _cascaded(settings, store, day, start, summary, beside is None)
            if beside is None or isinstance(summary, DayFailure):
                finish(day, summary)
                continue
            beside.submit(day, summary)
            for finished in beside.ready():
                finish(*finished)
        for finished in beside.ready(wait=True) if beside else ():
            finish(*finished)
    finally:
        if beside is not None:
            beside.close()
    if failed:
        raise ReapplyFailed(dict(sorted(failed.items())), len(days), summaries)
    return summaries


def apply_categories_range(
    settings: Settings,
    days: list[dt.date],
    workers: int = 1,
    whole_rule_set: bool = False,
    progress: Callable[[dt.date, dict], None] | None = None,
) -> dict[dt.date, dict]:
    """The rule file over stored days and what follows it, in this process or `workers` local
    ones (`reapply_range` from the categories step)."""
    return reapply_range(
        settings, days, "categories", workers, progress=progress, whole_rule_set=whole_rule_set
    )


def reapply_day(settings: Settings, day: dt.date, start: str, parts: int = 1) -> dict:
    """The day-local steps of `day` from `start` on, `start` forced, under the day's lock; the
    categories step splits the calls to tag over `parts` processes. Returns the day's summary
    (JSON-able): the start step's figures, `refreshed` (the steps after it that ran),
    `seconds` (each step's) and `day_calls` (the day's calls)."""
    store = Warehouse.from_settings(settings)
    runner = DayRunner(store, day, settings)
    runner.ctx.parts = parts
    outcomes = runner.run(start, force=True, only=day_local_steps(start))
    first = outcomes[start]
    figures, calls = FIGURES[start](first.result) if first.status == "ran" else ({}, 0)
    return {
        **figures,
        "status": first.status,
        "refreshed": [name for name, o in outcomes.items() if name != start and o.status == "ran"],
        "seconds": {name: round(o.seconds, 3) for name, o in outcomes.items()},
        "day_calls": calls,
    }


def calls_per_second(summary: dict) -> float | None:
    """The day's calls over the seconds its steps took (None when they took none)."""
    seconds = sum(summary["seconds"].values())
    return round(summary["day_calls"] / seconds, 1) if seconds > 0 else None


# each start step's figures, as its command reports them, and the day's calls --------------
def _categories_figures(run) -> tuple[dict, int]:
    figures = {
        "calls": run.calls,
        "tagged": run.tagged,
        "hits": run.hits,
        "tagged_now": run.retagged,
        "redone": None if run.redone is None else list(run.redone),
    }
    return figures, run.calls


def _emotion_figures(run) -> tuple[dict, int]:
    figures = {
        "calls": run.calls,
        "segments": run.segments,
        "angry_customers": run.angry_calls,
        "escalation_risks": run.escalation_calls,
    }
    return figures, run.calls


def _redaction_figures(run) -> tuple[dict, int]:
    figures = {
        "calls": run.calls,
        "already_current": run.current,
        "segments": run.segments,
        "changed": run.changed,
        "spans": run.spans,
    }
    return figures, run.calls + run.current


FIGURES: dict[str, Callable[[Any], tuple[dict, int]]] = {
    "categories": _categories_figures,
    "emotion": _emotion_figures,
    "redact": _redaction_figures,
}


# where the days run ------------------------------------------------------------------------
def _day_here(settings: Settings, day: dt.date, start: str, parts: int = 1) -> DayResult:
    try:
        return reapply_day(settings, day, start, parts)
    except CallscopeError as exc:
        return DayFailure(str(exc), exc.exit_code)


def _in_processes(
    settings: Settings, days: list[dt.date], start: str, workers: int
) -> Iterator[tuple[dt.date, DayResult]]:
    """Each day's day-local steps in a pool of `workers` processes, yielded in date order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # forked (every worker at the first submit, before this process opens the search index
    # for the cascade): a spawned worker would re-import the command's main module
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(min(workers, len(days)), mp_context=context) as pool:
        futures = [pool.submit(_day_here, settings, day, start) for day in days]
        for day, future in zip(days, futures, strict=True):
            yield day, future.result()


def _forget_rule_sets(store: Warehouse, days: list[dt.date]) -> None:
    from callscope.keywords.daily import forget_rule_sets

    for day in days:
        with store.lock_day(day, "categories apply"):
            forget_rule_sets(store, day)


# the rest of the cascade, here ---------------------------------------------------------------
LAST = "handoff"  # the cascade's last step: nothing reads what it writes


def _cascaded(
    settings: Settings,
    store: Warehouse,
    day: dt.date,
    start: str,
    summary: dict,
    with_last: bool = True,
) -> DayResult:
    """`summary` with the day's steps after the day-local ones run (each when its inputs
    changed; the hand-off only `with_last`), or the failure that stopped them."""
    try:
        outcomes = _cascade(settings, store, day, start, with_last)
    except CallscopeError as exc:
        return DayFailure(f"{exc} (after its {start} step was done)", exc.exit_code)
    for outcome in outcomes:
        _add(summary, outcome.name, outcome.status, outcome.seconds)
    return summary


def _add(summary: dict, step: str, status: str, seconds: float) -> None:
    summary["seconds"][step] = round(seconds, 3)
    if status == "ran":
        summary["refreshed"].append(step)


def _cascade(
    settings: Settings, store: Warehouse, day: dt.date, start: str, with_last: bool = True
) -> list[StepOutcome]:
    runner = DayRunner(store, day, settings)
    steps = [s.name for s in downstream(start) if s.name not in DAY_LOCAL]
    with store.lock_day(day, f"{start} apply"):
        return [runner.run_step(name) for name in steps if with_last or name != LAST]


class _Beside:
    """Each day's last cascade step (the hand-off) in one forked process beside this one's
    cascade of the next day; the days come back in the order they were given."""

    def __init__(self, settings: Settings, start: str):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.settings, self.start = settings, start
        context = multiprocessing.get_context("fork")
        self.pool = ProcessPoolExecutor(1, mp_context=context)
        self.pool.submit(int).result()  # forked now, before the search index is open
        self.waiting: list[tuple[dt.date, dict, Any]] = []

    def submit(self, day: dt.date, summary: dict) -> None:
        future = self.pool.submit(_last_step_here, self.settings, day, self.start)
        self.waiting.append((day, summary, future))

    def ready(self, wait: bool = False) -> Iterator[tuple[dt.date, DayResult]]:
        """The days whose last step is over, from the first given, up to one still running
        (all of them with `wait`)."""
        while self.waiting and (wait or self.waiting[0][2].done()):
            day, summary, future = self.waiting.pop(0)
            outcome = future.result()
            if isinstance(outcome, DayFailure):
                yield day, outcome
                continue
            _add(summary, LAST, *outcome)
            yield day, summary

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _last_step_here(settings: Settings, day: dt.date, start: str) -> tuple[str, float] | DayFailure:
    store = Warehouse.from_settings(settings)
    try:
        with store.lock_day(day, f"{start} apply"):
            outcome = DayRunner(store, day, settings).run_step(LAST)
    except CallscopeError as exc:
        return DayFailure(f"{exc} (after its {start} step was done)", exc.exit_code)
    return outcome.status, outcome.seconds
