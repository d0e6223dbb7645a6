"""A night fanned out over workers, free of any orchestrator: parts of a day's calls, the
loop a worker runs over one part, and the small files through which a part tells the night
that it is alive and what it did.

The night (flows/nightly.py) splits the day into parts and hands each to a worker as a flow run
(flows/part.py); a worker runs `run_part` and stages every call in the shared warehouse, as
the single-process night does. Only the night commits the day and runs the day's steps.

Files, in `<warehouse>/_parts/date=D/` (the shared folder every host mounts):
- `<part>.beat.json`: rewritten every few seconds while the part runs (host, pid, attempt,
  calls done); a running part whose beat stopped is lost (its host or worker died).
- `<part>.a<attempt>.report.json`: the calls' outcomes, written once the part has finished.

A worker that pre-starts (`flow.worker_prestart`) runs its next part's process while the
current one works; the two meet at the worker's slot (`WorkerSlot`, a lock file on the
worker's own host), which only one of them holds while it processes calls.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from callscope.core.config import Settings
from callscope.core.errors import PartSlotStuck
from callscope.core.logs import get_logger
from callscope.pipeline.night import ProgressLog, load_models
from callscope.pipeline.runner import CallOutcome, run_calls
from callscope.storage.recordings import LocalRecordingSource, Recording
from callscope.storage.warehouse import Warehouse

logger = get_logger(__name__)


def part_name(number: int) -> str:
    return f"part-{number:04d}"


def split(calls: Sequence[str], size: int) -> list[list[str]]:
    """The call ids in parts of at most `size`, in order."""
    return [list(calls[start : start + size]) for start in range(0, len(calls), size)]


@dataclass
class PartAttempt:
    """One run of a part: where it ran and how it ended."""

    attempt: int
    flow_run_id: str | None = None
    state: str = "submitted"  # submitted | done | failed | crashed | lost | cancelled
    host: str | None = None
    worker_pid: int | None = None
    worker: str | None = None  # the Prefect worker's name
    reason: str | None = None
    wall_s: float = 0.0
    slot_waited_s: float = 0.0  # how long it waited at the worker's slot for the part before
    started_at: float | None = None  # epoch seconds: its process began the part
    finished_at: float | None = None


@dataclass
class PartReport:
    """A part as the night summary shows it."""

    name: str
    call_ids: list[str]
    attempts: list[PartAttempt] = field(default_factory=list)

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


def process_started_at() -> float:
    """When this process began, in epoch seconds (a part's start-up counts from there); now
    where the system does not say."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


class Heartbeat:
    """Rewrites the part's beat file every `every_s` seconds from a daemon thread."""

    def __init__(self, store: Warehouse, day: dt.date, name: str, attempt: int, every_s: float):
        self.store, self.day, self.name = store, day, name
        self.record = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "worker": os.environ.get(WORKER_VARIABLE),
            "started_at": round(process_started_at(), 3),
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
            self.store.write_part_file(self.day, f"{self.name}.beat", self.record)
        except OSError as exc:  # a missed beat is retried; a long outage makes the part lost
            logger.warning("%s: heartbeat not written (%s)", self.name, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.beat()


SLOT_VARIABLE = "CALLSCOPE_WORKER_SLOT"  # set by `callscope worker` for its part processes
WORKER_VARIABLE = "CALLSCOPE_WORKER_NAME"
SLOT_POLL_S = 0.2


def slot_path(worker_name: str) -> Path:
    """The slot file of a worker: on its own host, shared by the parts it runs."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", worker_name)
    return Path(tempfile.gettempdir()) / f"callscope-slot-{safe}.lock"


def slot_is_held(path: Path) -> bool:
    """Whether a part of the worker holds its slot (is processing calls) right now."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class WorkerSlot:
    """The worker's GPU (or share of cores), held by one part at a time while it processes
    calls; a pre-started part waits here, beating, until the part before it is done.

    The lock is an flock on a local file, so it is released when its holder dies however it
    dies. A holder that lives on but whose heartbeat is older than `stale_after_s` (hung) is
    not waited for: the waiter raises PartSlotStuck and the night runs it again elsewhere."""

    def __init__(self, path: Path | None, holder: dict, stale_after_s: float):
        self.path, self.holder, self.stale_after_s = path, holder, stale_after_s
        self.waited_s = 0.0
        self._fd: int | None = None

    def __enter__(self) -> WorkerSlot:
        if self.path is None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        started = time.monotonic()
        try:
            self._wait(fd)
        except BaseException:
            os.close(fd)
            raise
        self.waited_s = round(time.monotonic() - started, 3)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(self.holder).encode("utf-8"), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def _wait(self, fd: int) -> None:
        noted = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            other = _slot_holder(fd)
            if not noted:
                logger.info("waiting for %s to finish on this worker", other.get("part", "a part"))
                noted = True
            age = _beat_age(other)
            if age is not None and age > self.stale_after_s:
                raise PartSlotStuck(
                    f"this worker's slot is held by {other.get('part')} (pid {other.get('pid')}), "
                    f"whose heartbeat stopped {age:.0f} s ago; stop that process "
                    f"(kill {other.get('pid')}) or restart the worker"
                )
            time.sleep(SLOT_POLL_S)


def _slot_holder(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:  # being rewritten by the holder that just took it
        return {}


def _beat_age(holder: dict) -> float | None:
    beat = holder.get("beat")
    if not beat:
        return None
    try:
        return time.time() - os.stat(beat).st_mtime
    except OSError:
        return None


def worker_slot(store: Warehouse, day: dt.date, name: str, settings: Settings) -> WorkerSlot:
    """The slot of the worker running this process (none outside a pre-starting worker)."""
    path = os.environ.get(SLOT_VARIABLE)
    beat = store.part_file_path(day, f"{name}.beat") if store.local else None
    holder = {"part": name, "pid": os.getpid(), "beat": beat}
    return WorkerSlot(Path(path) if path else None, holder, settings.flow.part_lost_after_s)


def beat_every_s(settings: Settings) -> float:
    return max(1.0, settings.flow.part_lost_after_s / 5)


def run_part(
    day: dt.date,
    name: str,
    call_ids: Sequence[str],
    settings: Settings,
    attempt: int = 1,
    progress: Callable[[CallOutcome], None] | None = None,
) -> dict:
    """Process the part's calls one after another with the models loaded once, staging each
    call in the warehouse; write and return the part's report."""
    started = time.perf_counter()
    store = Warehouse.from_settings(settings)
    source = LocalRecordingSource.from_settings(settings)
    wanted = set(call_ids)
    recordings = [rec for rec in source.list_day(day) if rec.call_id in wanted]
    missing = wanted - {rec.call_id for rec in recordings}
    recordings += [_vanished(call_id, day, source) for call_id in sorted(missing)]
    with Heartbeat(store, day, name, attempt, beat_every_s(settings)) as heartbeat:
        heartbeat.beat(total=len(recordings))
        load_models(settings)
        log = progress or ProgressLog(len(recordings))
        finished = 0

        def beat_and_log(outcome: CallOutcome) -> None:
            nonlocal finished
            finished += 1
            log(outcome)
            heartbeat.beat(done=finished)

        slot = worker_slot(store, day, name, settings)
        with slot:
            heartbeat.beat(slot_waited_s=slot.waited_s)
            done = store.done_calls(day)  # after the wait: what the part before this one did
            outcomes, busy = run_calls(recordings, source, store, settings, done, beat_and_log)
    report = {
        **heartbeat.record,
        "name": name,
        "outcomes": [asdict(outcome) for outcome in outcomes],
        "busy": busy.as_dict(),
        "wall_s": round(time.perf_counter() - started, 3),
        "finished_at": round(time.time(), 3),
    }
    store.write_part_file(day, report_name(name, attempt), report)
    return report


def prestarted(attempts: Sequence[dict]) -> int:
    """How many part runs began while the run before them on the same worker still worked:
    their start-up was hidden behind it (pre-starting workers)."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for attempt in attempts:
        started, finished = attempt.get("started_at"), attempt.get("finished_at")
        if attempt.get("worker") and started is not None and finished is not None:
            spans.setdefault(attempt["worker"], []).append((started, finished))
    return sum(
        1
        for runs in spans.values()
        for before, after in zip(sorted(runs), sorted(runs)[1:], strict=False)
        if after[0] < before[1]
    )


def report_name(name: str, attempt: int) -> str:
    return f"{name}.a{attempt}.report"


def _vanished(call_id: str, day: dt.date, source: LocalRecordingSource) -> Recording:
    """A call the night listed that this worker no longer finds: an error row, not a gap."""
    problem = (
        f"{call_id}: listed when the night started but no longer in "
        f"{source.day_folder(day)} when its part ran; put the recording back and run the "
        "night again"
    )
    return Recording(call_id, day, None, problem=problem)


def outcomes_of(report: dict) -> list[CallOutcome]:
    return [CallOutcome(**outcome) for outcome in report.get("outcomes", [])]
