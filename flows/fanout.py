"""The night's calls fanned out as parts over a work pool's workers, and gathered back.

Each part is a flow run of the `transcribe-part` deployment (flows/part.py). The night
watches their states through the Prefect API and their heartbeats in the shared warehouse:
- completed: its report (the calls' outcomes) is read from the warehouse;
- failed, crashed or cancelled: run again, on whichever worker takes it, up to
  `flow.part_retries` times;
- running but its heartbeat is older than `flow.part_lost_after_s` (the worker or its host
  died): marked crashed in Prefect and run again the same way.
A part out of retries turns its calls into error rows naming the part, so the night still
commits everything else. Calls are staged by id, so a call a lost part had already staged is
replaced, never duplicated, and the retry skips it when its staged row is current.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from callscope.core.config import Settings
from callscope.pipeline.night import ProgressLog
from callscope.pipeline.parts import (
    PartAttempt,
    PartReport,
    outcomes_of,
    part_name,
    report_name,
    split,
)
from callscope.pipeline.runner import CallOutcome, record_error
from callscope.storage.recordings import Recording
from callscope.storage.warehouse import Warehouse
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.states import Crashed

WAITING_NOTE_S = 60.0  # when no worker took any part for this long, the log says so


class FanOut:
    def __init__(
        self,
        day: dt.date,
        settings: Settings,
        store: Warehouse,
        deployment: str,
        parameters: dict,
        log: Callable[[str], None],
    ):
        self.day, self.settings, self.store = day, settings, store
        self.deployment = deployment
        self.parameters = parameters
        self.log = log
        self.flow = settings.flow
        self.parts: list[PartReport] = []
        self._submitted_at: dict[str, float] = {}
        self._noted: set[str] = set()
        self._running_since: dict[str, float] = {}  # flow run id -> first seen running
        self._taken: set[str] = set()  # parts some worker has picked up (no idle pool)

    def run(self, recordings: list[Recording]) -> list[CallOutcome]:
        """Every recording's outcome, once every part has finished or run out of retries."""
        by_id = {rec.call_id: rec for rec in recordings}
        ids = [rec.call_id for rec in recordings]
        self.parts = [
            PartReport(part_name(n), calls)
            for n, calls in enumerate(split(ids, self.flow.part_calls), start=1)
        ]
        self.log(
            f"night {self.day}: {len(ids)} calls in {len(self.parts)} parts of at most "
            f"{self.flow.part_calls} on work pool {self.flow.work_pool}"
        )
        self.store.clear_part_files(self.day)
        progress = ProgressLog(len(ids), log=self.log)
        outcomes: list[CallOutcome] = []
        running = list(self.parts)
        for part in running:
            self._submit(part)
        with get_client(sync_client=True) as client:
            while running:
                time.sleep(self.flow.part_poll_s)
                for part in list(running):
                    finished = self._check(client, part, by_id)
                    if finished is None:
                        continue
                    running.remove(part)
                    for outcome in finished:
                        outcomes.append(outcome)
                        progress(outcome)
        order = {call_id: n for n, call_id in enumerate(ids)}
        return sorted(outcomes, key=lambda outcome: order.get(outcome.call_id, len(order)))

    # one part -----------------------------------------------------------------------------
    def _submit(self, part: PartReport) -> None:
        attempt = len(part.attempts) + 1
        run = run_deployment(
            self.deployment,
            parameters={
                **self.parameters,
                "date": self.day.isoformat(),
                "part": part.name,
                "call_ids": part.call_ids,
                "attempt": attempt,
            },
            flow_run_name=f"{self.day}-{part.name}-a{attempt}",
            timeout=0,
            as_subflow=True,
        )
        part.attempts.append(PartAttempt(attempt, str(run.id)))
        self._submitted_at[part.name] = time.monotonic()

    def _check(self, client, part: PartReport, by_id: dict) -> list[CallOutcome] | None:
        """The part's outcomes when it is over for good (done, or out of retries); None while
        it runs, waits, or was just submitted again."""
        attempt = part.attempts[-1]
        state = client.read_flow_run(attempt.flow_run_id).state
        beat, age = self.store.read_part_file(self.day, f"{part.name}.beat")
        if beat and beat.get("attempt") == attempt.attempt:
            attempt.host, attempt.worker_pid = beat.get("host"), beat.get("pid")
            attempt.worker = beat.get("worker")
        if state is not None and state.is_completed():
            report, _ = self.store.read_part_file(self.day, report_name(part.name, attempt.attempt))
            if report is not None:
                attempt.state, attempt.wall_s = "done", float(report.get("wall_s") or 0.0)
                attempt.host, attempt.worker_pid = report.get("host"), report.get("pid")
                for key in ("worker", "started_at", "finished_at"):
                    setattr(attempt, key, report.get(key))
                attempt.slot_waited_s = float(report.get("slot_waited_s") or 0.0)
                return outcomes_of(report)
            return self._again(part, by_id, "failed", "finished without writing its report")
        if state is not None and state.is_final():
            kind = state.type.value.lower()
            return self._again(part, by_id, kind, state.message or state.name)
        if state is not None and state.is_running():
            self._taken.add(part.name)
            seen = self._running_since.setdefault(attempt.flow_run_id, time.monotonic())
            current = beat if beat and beat.get("attempt") == attempt.attempt else None
            silent_s = age if current else time.monotonic() - seen
            if silent_s is not None and silent_s > self.flow.part_lost_after_s:
                reason = f"no heartbeat for {silent_s:.0f} s"
                client.set_flow_run_state(
                    attempt.flow_run_id, Crashed(message=f"lost: {reason}"), force=True
                )
                return self._again(part, by_id, "lost", reason)
            return None
        waited = time.monotonic() - self._submitted_at[part.name]
        if state is not None and state.is_pending():
            self._taken.add(part.name)  # a worker has it and is starting it
        if waited > WAITING_NOTE_S and not self._taken and part.name not in self._noted:
            self._noted.add(part.name)
            self.log(
                f"{part.name}: no worker of pool {self.flow.work_pool} has taken it for "
                f"{waited:.0f} s (start one: callscope worker --pool {self.flow.work_pool})"
            )
        return None

    def _again(
        self, part: PartReport, by_id: dict, state: str, reason: str
    ) -> list[CallOutcome] | None:
        attempt = part.attempts[-1]
        attempt.state, attempt.reason = state, reason
        where = f" on {attempt.host} (pid {attempt.worker_pid})" if attempt.host else ""
        if len(part.attempts) <= self.flow.part_retries:
            self.log(f"{part.name} attempt {attempt.attempt} {state}{where}: {reason}; again")
            self._submit(part)
            return None
        self.log(f"{part.name} {state}{where}: {reason}; out of retries")
        message = (
            f"its part {part.name} {state} {len(part.attempts)} times (last: {reason}); "
            "run the night again"
        )
        known = self.store.done_calls(self.day)  # committed or staged by an earlier attempt
        outcomes = []
        for call_id in part.call_ids:
            row = known.get(call_id) or {}
            if row.get("status") == "ok":  # kept as it is: nothing written is lost
                outcomes.append(CallOutcome(call_id, "skipped", row.get("duration_s") or 0.0))
                continue
            reason = f"{call_id}: {message}"
            outcomes.append(record_error(by_id[call_id], self.store, self.settings, reason))
        return outcomes
