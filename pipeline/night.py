"""One night's work, free of any orchestrator: process a call, commit a day, summarise.

The Prefect flow in flows/nightly.py wraps these functions; benchmarks call them directly.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from callscope.asr.diarize import get_diarizer
from callscope.asr.models import get_model
from callscope.core.config import Settings
from callscope.core.logs import get_logger
from callscope.emotion.backends import load_emotion_models
from callscope.pipeline.runner import CallOutcome, CallRunner, Stager, run_calls
from callscope.pipeline.steps import DayRunner, StepOutcome, load_step_models
from callscope.storage.recordings import Recording, RecordingSource
from callscope.storage.warehouse import Warehouse

logger = get_logger(__name__)


@dataclass
class NightSummary:
    date: dt.date
    outcomes: list[CallOutcome] = field(default_factory=list)
    wall_s: float = 0.0
    steps: dict[str, StepOutcome] = field(default_factory=dict)
    parts: list[dict] = field(default_factory=list)  # a night fanned out over workers
    busy: dict = field(default_factory=dict)  # the runner's recogniser and CPU share (BusyTimes)
    # flow.max_failed_share; None: only a night in which every call failed fails on its calls
    max_failed_share: float | None = None
    stopped_by: str | None = None  # the error that stopped the night before it ran its calls

    def _result(self, name: str):
        outcome = self.steps.get(name)
        return outcome.result if outcome and outcome.status == "ran" else None

    @property
    def categories(self):
        return self._result("categories")

    @property
    def emotion(self):
        return self._result("emotion")

    @property
    def indexed_segments(self) -> int | None:
        return self._result("index")  # None: the index was already current

    @property
    def incidents(self):
        return self._result("incidents")

    @property
    def handoff(self):
        return self._result("handoff")

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    @property
    def audio_s(self) -> float:
        return sum(o.audio_s for o in self.outcomes if o.status == "ok")

    @property
    def x_real_time(self) -> float:
        return self.audio_s / self.wall_s if self.wall_s else 0.0

    def reasons(self) -> list[str]:
        """Why the night failed its job; none for a night that did it."""
        reasons = [f"the night could not run: {self.stopped_by}"] if self.stopped_by else []
        calls, failed = len(self.outcomes), self.count("error")
        share = failed / calls if calls else 0.0
        if calls and failed == calls:
            reasons.append(f"every call failed ({failed} of {calls})")
        elif self.max_failed_share is not None and share > self.max_failed_share:
            reasons.append(
                f"{failed} of {calls} calls failed ({share:.0%}), more than "
                f"flow.max_failed_share ({self.max_failed_share:.0%})"
            )
        reasons += [
            f"day step {name} failed: {outcome.reason}"
            for name, outcome in self.steps.items()
            if outcome.status == "failed"
        ]
        return reasons

    @property
    def succeeded(self) -> bool:
        return not self.reasons()

    def as_dict(self) -> dict:
        reasons = self.reasons()
        return {
            "date": self.date.isoformat(),
            "status": "failed" if reasons else "ok",
            "reasons": reasons,
            "calls": len(self.outcomes),
            "ok": self.count("ok"),
            "error": self.count("error"),
            "skipped": self.count("skipped"),
            "audio_hours": round(self.audio_s / 3600, 4),
            "wall_s": round(self.wall_s, 2),
            "x_real_time": round(self.x_real_time, 2),
            "errors": [asdict(o) for o in self.outcomes if o.status == "error"],
            "tagged_calls": self.categories.tagged if self.categories else 0,
            "keyword_hits": self.categories.hits if self.categories else 0,
            "emotion_calls": self.emotion.calls if self.emotion else 0,
            "emotion_segments": self.emotion.segments if self.emotion else 0,
            "angry_customers": self.emotion.angry_calls if self.emotion else 0,
            "escalation_risks": self.emotion.escalation_calls if self.emotion else 0,
            "indexed_segments": self.indexed_segments,
            "topics": self.incidents.topics if self.incidents else 0,
            "spikes": self.incidents.spikes if self.incidents else [],
            "handoff": str(self.handoff.folder) if self.handoff else None,
            "steps": {name: outcome.status for name, outcome in self.steps.items()},
            "step_seconds": {
                name: round(outcome.seconds, 3)
                for name, outcome in self.steps.items()
                if outcome.status == "ran"
            },
            "parts": self.parts,
            "busy": self.busy,
        }

    def render(self) -> str:
        lines = [
            f"night {self.date}: {len(self.outcomes)} calls, ok {self.count('ok')}, "
            f"error {self.count('error')}, skipped {self.count('skipped')} (already done)",
            f"audio {self.audio_s / 3600:.3f} h transcribed in {self.wall_s:.1f} s wall, "
            f"{self.x_real_time:.1f}x real time",
        ]
        lines += part_lines(self.parts)
        if self.busy.get("cpu_share_overlapped") is not None:
            lines.append(
                f"recogniser busy {self.busy['recogniser_s']:.1f} s; CPU share "
                f"{self.busy['cpu_share_s']:.1f} s, {self.busy['cpu_share_overlapped']:.0%} of it "
                "beside the recogniser"
            )
        if self.categories and not self.categories.skipped:
            lines.append(
                f"categories: {self.categories.tagged} of {self.categories.calls} calls tagged, "
                f"{self.categories.hits} keyword hits"
            )
        if self.emotion and not self.emotion.skipped:
            run = self.emotion
            lines.append(
                emotion_line(run.calls, run.angry_calls, run.escalation_calls, run.segments)
            )
        if self.indexed_segments is not None:
            lines.append(f"search index: {self.indexed_segments} segments indexed")
        if self.incidents:
            lines.append(
                f"incidents: {self.incidents.statements} issue statements, "
                f"{self.incidents.topics} topics ({self.incidents.new_topics} new), "
                f"{len(self.incidents.spikes)} spikes"
                + (" (warming up: too few earlier days)" if self.incidents.warming_up else "")
            )
            lines += [f"  spike: {label}" for label in self.incidents.spikes]
        if self.handoff:
            lines.append(f"hand-off: {self.handoff.folder}")
        lines += [f"  error {o.call_id}: {o.error}" for o in self.outcomes if o.status == "error"]
        return "\n".join(lines)


def failed_line(date: str, reasons: list[str]) -> str:
    """The last line of a failed night's summary."""
    return f"night {date} FAILED: {'; '.join(reasons)}"


def part_lines(parts: list[dict]) -> list[str]:
    """How a fanned-out night's parts went: a count, then each part that ran again."""
    from callscope.pipeline.parts import prestarted  # it imports this module

    if not parts:
        return []
    again = [part for part in parts if len(part["attempts"]) > 1]
    attempts = [a for part in parts for a in part["attempts"]]
    hosts = {a["host"] for a in attempts if a["host"]}
    workers = {a.get("worker") for a in attempts if a.get("worker")}
    head = f"parts: {len(parts)} on {len(hosts)} host(s)"
    head += f", {len(workers)} worker(s)" if workers else ""
    head += f", {len(again)} run again"
    hidden = prestarted(attempts)
    if hidden:
        head += f", {hidden} started up while the part before them worked"
    return [head] + [f"  {part_line(part)}" for part in again]


def part_line(part: dict) -> str:
    runs = "; ".join(
        f"attempt {a['attempt']} {a['state']}"
        + (f" on {a['host']} (pid {a['worker_pid']})" if a["host"] else "")
        + (f": {a['reason']}" if a["reason"] and a["state"] != "done" else "")
        for a in part["attempts"]
    )
    return f"{part['name']} ({part['calls']} calls): {runs}"


def yesterday(timezone: str) -> dt.date:
    """The night to process by default: yesterday in the call centre's time zone."""
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(timezone)).date() - dt.timedelta(days=1)


def process_call(
    rec: Recording,
    source: RecordingSource,
    stager: Stager,
    settings: Settings,
    done: dict | None = None,
) -> CallOutcome:
    """One call through all its steps in this thread, staged in `stager`."""
    return CallRunner(settings, source, stager).process(rec, done)


def load_models(settings: Settings) -> None:
    """Load this night's models and rules once, up front, so that one that cannot load stops
    the night with one clear error instead of failing every call."""
    get_model(settings)
    if settings.diarization.enabled:
        get_diarizer(settings.diarization)
    load_emotion_models(settings.emotion)
    load_step_models(settings)


class ProgressLog:
    """Progress hook: one log line per finished call with counts and rates."""

    def __init__(
        self, total: int, log: Callable[[str], None] | None = None, day: dt.date | None = None
    ):
        self.total = total
        self.day = day
        self.done = 0
        self.audio_s = 0.0
        self.started = time.perf_counter()
        self.log = log or logger.info

    def __call__(self, outcome: CallOutcome) -> None:
        self.done += 1
        self.audio_s += outcome.audio_s if outcome.status == "ok" else 0.0
        elapsed = time.perf_counter() - self.started
        detail = {
            "ok": f"{outcome.audio_s:.1f} s audio in {outcome.wall_s:.1f} s, "
            f"{outcome.language or '-'}, {outcome.n_segments} segments",
            "skipped": "already done with this recording and settings",
            "error": outcome.error or "",
        }[outcome.status]
        rate = self.audio_s / elapsed if elapsed else 0.0
        line = (
            f"[{self.done}/{self.total}] {outcome.call_id} {outcome.status}: {detail} "
            f"(night so far {rate:.1f}x real time)"
        )
        if isinstance(getattr(self.log, "__self__", None), logging.Logger | logging.LoggerAdapter):
            fields = {"call_id": outcome.call_id}
            if self.day is not None:
                fields["date"] = self.day.isoformat()
            self.log(line, extra=fields)  # a logger's method: the JSON log carries the fields
        else:
            self.log(line)


def run_night(
    day: dt.date,
    source: RecordingSource,
    warehouse: Warehouse,
    settings: Settings,
    progress: Callable[[CallOutcome], None] | None = None,
    recordings: Iterable[Recording] | None = None,
) -> NightSummary:
    """The night in this process (benchmarks, tests, no Prefect)."""
    started = time.perf_counter()
    summary = NightSummary(day, max_failed_share=settings.flow.max_failed_share)
    with warehouse.lock_day(day, "nightly"):
        recordings = list(recordings if recordings is not None else source.list_day(day))
        done = warehouse.done_calls(day)
        load_models(settings)
        progress = progress or ProgressLog(len(recordings))
        summary.outcomes, busy = run_calls(recordings, source, warehouse, settings, done, progress)
        summary.busy = busy.as_dict()
        summary.steps = DayRunner(warehouse, day, settings).run()
    summary.wall_s = time.perf_counter() - started
    return summary


def emotion_line(calls: int, angry: int, risks: int, segments: int) -> str:
    """The night's emotion in a line; `segments`: those the day step scored (the others were
    scored with their calls)."""
    line = f"emotion: {calls} calls, {angry} angry customers, {risks} calls at risk of escalation"
    return line + (f" ({segments} segments scored by the day step)" if segments else "")
