"""A night fanned out over workers, free of any orchestrator: shards of a day's calls, the
loop a worker runs over one shard, and the small files through which a shard tells the night
that it is alive and what it did.

The night (flows/nightly.py) splits the day into shards and hands each to a worker as a flow run
(flows/shard.py); a worker runs `run_shard` and stages every call in the shared warehouse, as
the single-process night does. Only the night commits the day and runs the day's steps.

Files, in `<warehouse>/_shards/date=D/` (the shared folder every host mounts):
- `<shard>.beat.json`: rewritten every few seconds while the shard runs (host, pid, attempt,
  calls done); a running shard whose beat stopped is lost (its host or worker died).
- `<shard>.a<attempt>.report.json`: the calls' outcomes, written once the shard has finished.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from callscope.night import CallOutcome, ProgressLog, load_models, process_call
from core.config import Settings
from core.logs import get_logger
from storage.recordings import LocalRecordingSource, Recording
from storage.warehouse import Warehouse

logger = get_logger(__name__)


def shard_name(number: int) -> str:
    return f"shard-{number:04d}"


def split(calls: Sequence[str], size: int) -> list[list[str]]:
    """The call ids in shards of at most `size`, in order."""
    return [list(calls[start : start + size]) for start in range(0, len(calls), size)]


@dataclass
class ShardAttempt:
    """One run of a shard: where it ran and how it ended."""

    attempt: int
    flow_run_id: str | None = None
    state: str = "submitted"  # submitted | done | failed | crashed | lost | cancelled
    host: str | None = None
    worker_pid: int | None = None
    reason: str | None = None
    wall_s: float = 0.0


@dataclass
class ShardReport:
    """A shard as the night summary shows it."""

    name: str
    call_ids: list[str]
    attempts: list[ShardAttempt] = field(default_factory=list)

    @property
    def retried(self) -> bool:
        return len(self.attempts) > 1

    @property
    def state(self) -> str:
        return self.attempts[-1].state if self.attempts else "pending"

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "calls": len(self.call_ids),
            "state": self.state,
            "attempts": [asdict(a) for a in self.attempts],
        }


class Heartbeat:
    """Rewrites the shard's beat file every `every_s` seconds from a daemon thread."""

    def __init__(self, store: Warehouse, day: dt.date, name: str, attempt: int, every_s: float):
        self.store, self.day, self.name = store, day, name
        self.record = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "attempt": attempt,
            "done": 0,
            "total": 0,
        }
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"beat-{name}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every_s + 5)

    def beat(self, **update) -> None:
        self.record.update(update)
        try:
            self.store.write_shard_file(self.day, f"{self.name}.beat", self.record)
        except OSError as exc:  # a missed beat is retried; a long outage makes the shard lost
            logger.warning("%s: heartbeat not written (%s)", self.name, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.beat()


class StagingBatch:
    """Buffers a shard's processed calls and stages them together (storage.Warehouse
    .stage_calls): every `max_calls` calls or `max_s` seconds, and at the end. A shard that
    dies loses at most one batch of work, which its retry redoes."""

    def __init__(self, store: Warehouse, max_calls: int, max_s: float):
        self.store, self.max_calls, self.max_s = store, max_calls, max_s
        self._calls: list[tuple[dict, list[dict]]] = []
        self._day: dt.date | None = None
        self._since = time.monotonic()

    def __enter__(self) -> StagingBatch:
        return self

    def __exit__(self, *exc) -> None:
        self.flush()

    def stage_call(self, day: dt.date, call_row: dict, segment_rows: list[dict]) -> None:
        if self._day not in (None, day):
            self.flush()
        if not self._calls:
            self._since = time.monotonic()
        self._day = day
        self._calls.append((call_row, segment_rows))
        if len(self._calls) >= self.max_calls or time.monotonic() - self._since >= self.max_s:
            self.flush()

    def flush(self) -> None:
        if self._calls and self._day is not None:
            self.store.stage_calls(self._day, self._calls)
        self._calls = []


def beat_every_s(settings: Settings) -> float:
    return max(1.0, settings.flow.shard_lost_after_s / 5)


def run_shard(
    day: dt.date,
    name: str,
    call_ids: Sequence[str],
    settings: Settings,
    attempt: int = 1,
    progress: Callable[[CallOutcome], None] | None = None,
) -> dict:
    """Process the shard's calls one after another with the models loaded once, staging each
    call in the warehouse; write and return the shard's report."""
    started = time.perf_counter()
    store = Warehouse.from_settings(settings)
    source = LocalRecordingSource.from_settings(settings)
    wanted = set(call_ids)
    recordings = [rec for rec in source.list_day(day) if rec.call_id in wanted]
    missing = wanted - {rec.call_id for rec in recordings}
    recordings += [_vanished(call_id, day, source) for call_id in sorted(missing)]
    with Heartbeat(store, day, name, attempt, beat_every_s(settings)) as heartbeat:
        heartbeat.beat(total=len(recordings))
        done = store.done_calls(day)
        load_models(settings)
        progress = progress or ProgressLog(len(recordings))
        outcomes = []
        flow = settings.flow
        with StagingBatch(store, flow.stage_batch_calls, flow.stage_batch_s) as batch:
            for n, rec in enumerate(recordings, start=1):
                outcome = process_call(rec, source, batch, settings, done.get(rec.call_id))
                outcomes.append(outcome)
                progress(outcome)
                heartbeat.beat(done=n)
    report = {
        **heartbeat.record,
        "name": name,
        "outcomes": [asdict(outcome) for outcome in outcomes],
        "wall_s": round(time.perf_counter() - started, 3),
    }
    store.write_shard_file(day, report_name(name, attempt), report)
    return report


def report_name(name: str, attempt: int) -> str:
    return f"{name}.a{attempt}.report"


def _vanished(call_id: str, day: dt.date, source: LocalRecordingSource) -> Recording:
    """A call the night listed that this worker no longer finds: an error row, not a gap."""
    problem = (
        f"{call_id}: listed when the night started but no longer in "
        f"{source.day_folder(day)} when its shard ran; put the recording back and run the "
        "night again"
    )
    return Recording(call_id, day, None, problem=problem)


def outcomes_of(report: dict) -> list[CallOutcome]:
    return [CallOutcome(**outcome) for outcome in report.get("outcomes", [])]
