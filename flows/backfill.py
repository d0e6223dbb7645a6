"""A re-apply over a range of days fanned out over a work pool's workers: each day's day-local
steps (redact, categories, emotion: pipeline/backfill.py) as a flow run of the `reapply-day`
deployment, on the workers that run the nights' parts.

The command that drives it submits every day at once, watches their states through the
Prefect API, runs a failed or crashed day again up to `flow.part_retries` times, and hands
the days' summaries back in date order, so that it runs day 1's cascade (search rows,
incidents, hand-off) while later days still run. A running day beats a heartbeat file; one
silent for `flow.part_lost_after_s` (its worker or host died) is marked crashed and run again,
as a night's part is. A day's summary and heartbeat travel as small files in the warehouse's
part folder, named after the command's run, beside (never in place of) a night's part files.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from callscope.core.config import Settings, load_config
from callscope.core.logs import get_logger
from callscope.pipeline.backfill import DayFailure, DayResult, reapply_day
from callscope.pipeline.parts import Heartbeat, beat_every_s
from callscope.storage.warehouse import Warehouse
from prefect import flow, get_run_logger

DEPLOYMENT = "reapply-day"
FLOW = "reapply-day"

logger = get_logger(__name__)


def summary_name(run_id: str, attempt: int) -> str:
    return f"reapply-{run_id}.a{attempt}"


def beat_name(run_id: str) -> str:
    return f"reapply-{run_id}"


@flow(name=FLOW, log_prints=True)
def reapply_day_flow(
    date: str,
    start: str,
    run_id: str,
    attempt: int = 1,
    config: str | None = None,
    warehouse: str | None = None,
    handoff: str | None = None,
) -> dict:
    """The day-local steps of `date` from `start` on; writes the day's summary to the
    warehouse's part folder (`summary_name`) and returns it."""
    settings = load_config(config, warehouse=warehouse, handoff=handoff)
    day = dt.date.fromisoformat(date)
    log = get_run_logger()
    log.info("%s: %s and the day-local steps after it, attempt %d", date, start, attempt)
    store = Warehouse.from_settings(settings)
    with Heartbeat(store, day, beat_name(run_id), attempt, beat_every_s(settings)):
        summary = reapply_day(settings, day, start)
    store.write_part_file(day, summary_name(run_id, attempt), summary)
    log.info("%s done in %.1f s", date, sum(summary["seconds"].values()))
    return summary


def reapply_deployment(work_pool: str):
    """The deployment the workers of `work_pool` run for a re-applied day."""
    from callscope.flows.part import pool_deployment

    description = "Re-apply one stored day's redaction, rule categories or emotion."
    return pool_deployment(reapply_day_flow, DEPLOYMENT, work_pool, description, "reapply")


@dataclass
class _Day:
    day: dt.date
    flow_runs: list[str] = field(default_factory=list)  # one per attempt
    running_since: float | None = None  # when this attempt was first seen running


class WorkPoolDays:
    """`DayFanOut` over `settings.flow.work_pool`: `parameters` are the paths a worker loads
    its settings from (config, warehouse, handoff), absolute."""

    def __init__(
        self, settings: Settings, parameters: dict, log: Callable[[str], None] = logger.info
    ):
        self.settings, self.parameters, self.log = settings, parameters, log
        self.store = Warehouse.from_settings(settings)
        self.run_id = uuid.uuid4().hex[:12]

    def __call__(self, days: list[dt.date], start: str) -> Iterator[tuple[dt.date, DayResult]]:
        from callscope.flows.part import ensure_pool
        from prefect.client.orchestration import get_client

        ensure_pool(self.settings.flow.work_pool)
        self.log(
            f"{len(days)} days of {start} apply sent to work pool {self.settings.flow.work_pool}"
        )
        waiting = [_Day(day) for day in days]
        for entry in waiting:
            self._submit(entry, start)
        done: dict[dt.date, DayResult] = {}
        with get_client(sync_client=True) as client:
            while waiting:
                time.sleep(self.settings.flow.part_poll_s)
                for entry in waiting:
                    if entry.day not in done:
                        result = self._check(client, entry, start)
                        if result is not None:
                            done[entry.day] = result
                while waiting and waiting[0].day in done:
                    day = waiting.pop(0).day
                    yield day, done.pop(day)

    def _submit(self, entry: _Day, start: str) -> None:
        from prefect.deployments import run_deployment

        attempt = len(entry.flow_runs) + 1
        entry.running_since = None
        run = run_deployment(
            f"{FLOW}/{DEPLOYMENT}",
            parameters={
                **self.parameters,
                "date": entry.day.isoformat(),
                "start": start,
                "run_id": self.run_id,
                "attempt": attempt,
            },
            flow_run_name=f"{entry.day}-{start}-{self.run_id}-a{attempt}",
            timeout=0,
            as_subflow=False,
        )
        entry.flow_runs.append(str(run.id))

    def _check(self, client, entry: _Day, start: str) -> DayResult | None:
        """The day's summary or failure once it is over for good; None while it waits, runs,
        or was just submitted again."""
        attempt = len(entry.flow_runs)
        state = client.read_flow_run(entry.flow_runs[-1]).state
        if state is not None and state.is_running():
            return self._check_beat(client, entry, start, attempt)
        if state is None or not state.is_final():
            return None
        if state.is_completed():
            name = summary_name(self.run_id, attempt)
            summary, _ = self.store.read_part_file(entry.day, name)
            if summary is not None:
                self._remove(entry.day, name)
                self._remove(entry.day, f"{beat_name(self.run_id)}.beat")
                return summary
            return self._again(entry, start, "failed", "finished without writing its summary")
        return self._again(entry, start, state.type.value.lower(), state.message or state.name)

    def _check_beat(self, client, entry: _Day, start: str, attempt: int) -> DayResult | None:
        """A running day whose heartbeat has been silent too long is lost: crashed, again."""
        from prefect.states import Crashed

        beat, age = self.store.read_part_file(entry.day, f"{beat_name(self.run_id)}.beat")
        if entry.running_since is None:
            entry.running_since = time.monotonic()
        if beat is None or beat.get("attempt") != attempt:  # not started beating yet
            age = time.monotonic() - entry.running_since
        if age is None or age <= self.settings.flow.part_lost_after_s:
            return None
        reason = f"no heartbeat for {age:.0f} s"
        client.set_flow_run_state(
            entry.flow_runs[-1], Crashed(message=f"lost: {reason}"), force=True
        )
        return self._again(entry, start, "lost", reason)

    def _again(self, entry: _Day, start: str, kind: str, reason: str) -> DayResult | None:
        attempts = len(entry.flow_runs)
        if attempts <= self.settings.flow.part_retries:
            self.log(f"{entry.day} attempt {attempts} {kind}: {reason}; again")
            self._submit(entry, start)
            return None
        self.log(f"{entry.day} {kind}: {reason}; out of retries")
        return DayFailure(f"{kind} on the work pool {attempts} times (last: {reason})")

    def _remove(self, day: dt.date, name: str) -> None:
        try:
            self.store.fs.delete_file(self.store.part_file_path(day, name))
        except OSError as exc:  # a stray summary file harms nothing
            logger.debug("%s not removed: %s", name, exc)
