"""The call-batch runner: every night's calls go through here, whichever way the night runs
(in one process, in a Prefect flow, or in a worker's part of a fanned-out night).

A call's steps (pipeline/steps.py, `CALL_STEPS`) run in two places: those `on="recogniser"`
(decode, transcribe) on the recogniser's threads, one call each, and the rest (speakers,
redaction, voice emotion) in a CPU pool beside them, so the recogniser is not idle while the
share of earlier calls runs. A bounded window of calls is in flight (the audio of at most that
many calls is held); finished calls are staged in the order given, so a batch's calls, and so
the batch's share of the day's steps (`BATCH_STEPS`, run by the stager), are the same
whichever path ran them.

A call's rows depend only on the call and the settings that make its key: each call is
decoded on its own with `asr.cpu_threads` threads, never batched with another call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Protocol

from callscope.core.config import Settings
from callscope.core.errors import BadRecordingError, TransientError
from callscope.core.logs import get_logger
from callscope.pipeline.steps import (
    BATCH_STEPS,
    CALL_STEPS,
    CallStep,
    CallWork,
    call_settings_hash,
    settings_on,
)
from callscope.storage.recordings import Recording, RecordingSource
from callscope.storage.rows import CallRow, call_fields, call_row
from callscope.storage.warehouse import Warehouse

logger = get_logger(__name__)


class Stager(Protocol):
    """Where a processed call's rows go: the warehouse (one call a file) or a part's batch."""

    def stage_call(self, day: dt.date, call_row: dict, segment_rows: list[dict]) -> None: ...


@dataclass
class CallOutcome:
    call_id: str
    status: str  # ok | error | skipped
    audio_s: float = 0.0
    wall_s: float = 0.0
    language: str | None = None
    n_segments: int = 0
    error: str | None = None


WINDOW_BEYOND_RECOGNISERS = 2  # calls recognised ahead of the CPU share (their audio is held)


@dataclass
class BusyTimes:
    """When the recogniser and the CPU share worked: how much of the share ran beside it."""

    recogniser: list[tuple[float, float]] = field(default_factory=list)
    share: list[tuple[float, float]] = field(default_factory=list)
    steps_s: dict[str, float] = field(default_factory=dict)  # per step, all calls
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, started: float, ended: float) -> None:
        with self._lock:
            getattr(self, kind).append((started, ended))

    def add_step(self, name: str, seconds: float) -> None:
        with self._lock:
            self.steps_s[name] = self.steps_s.get(name, 0.0) + seconds

    @property
    def recogniser_s(self) -> float:
        return _length(_union(self.recogniser))

    @property
    def share_s(self) -> float:
        return sum(end - start for start, end in self.share)

    @property
    def overlapped_s(self) -> float:
        busy = _union(self.recogniser)
        return sum(_length(_clip(busy, start, end)) for start, end in self.share)

    def as_dict(self) -> dict:
        share = self.share_s
        return {
            "recogniser_s": round(self.recogniser_s, 2),
            "cpu_share_s": round(share, 2),
            "cpu_share_overlapped": round(self.overlapped_s / share, 3) if share else None,
            "steps_s": {name: round(seconds, 2) for name, seconds in self.steps_s.items()},
        }


def _union(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _clip(spans, start: float, end: float) -> list[tuple[float, float]]:
    return [(max(a, start), min(b, end)) for a, b in spans if b > start and a < end]


def _length(spans) -> float:
    return sum(end - start for start, end in spans)


@dataclass
class _Call:
    """A call between the runner's pools: its work so far, or how it ended early."""

    work: CallWork
    busy_s: float = 0.0
    ended: CallOutcome | None = None  # skipped (already done)
    error: str | None = None


class CallRunner:
    """Runs calls through the per-call steps and stages each in `stager` (a Warehouse, or a
    StagingBatch that also runs the batch steps); returns the outcomes in the order given."""

    def __init__(
        self,
        settings: Settings,
        source: RecordingSource,
        stager: Stager,
        progress: Callable[[CallOutcome], None] | None = None,
        steps: Sequence[CallStep] = CALL_STEPS,
        busy: BusyTimes | None = None,
    ):
        self.settings, self.source, self.stager = settings, source, stager
        self.progress = progress or (lambda outcome: None)
        self.steps = [step for step in steps if step.enabled(settings)]
        self.settings_hash = call_settings_hash(settings, steps)
        self._given = tuple(steps)
        self._days: dict[dt.date, tuple[Settings, str]] = {}
        self.recognisers = settings.flow.concurrency
        self.busy = busy or BusyTimes()

    def on_day(self, day: dt.date) -> tuple[Settings, str]:
        """The settings a call of `day` is made with and its key: the night's settings and
        `settings_hash`, unless names of the catalogue are active that day (their hotwords).
        Read once per day by this runner, so the calls of a day agree."""
        found = self._days.get(day)
        if found is None:
            settings = settings_on(self.settings, day)
            same = settings is self.settings
            key = self.settings_hash if same else call_settings_hash(settings, self._given)
            found = self._days.setdefault(day, (settings, key))
        return found

    def _new_work(self, rec: Recording) -> CallWork:
        return _new_work(rec, *self.on_day(rec.date))

    def run(self, recordings: Iterable[Recording], done: dict[str, dict]) -> list[CallOutcome]:
        outcomes: list[CallOutcome] = []
        window = self.recognisers + WINDOW_BEYOND_RECOGNISERS
        pending: deque[tuple[Recording, Future]] = deque()
        todo = iter(recordings)
        with (
            share_threads(self.settings),
            ThreadPoolExecutor(self.recognisers, thread_name_prefix="recogniser") as recogniser,
            ThreadPoolExecutor(1, thread_name_prefix="cpu-share") as share,
        ):

            def submit() -> None:
                if (rec := next(todo, None)) is not None:
                    recognised = recogniser.submit(self._recognise, rec, done.get(rec.call_id))
                    pending.append((rec, share.submit(self._share, recognised)))

            for _ in range(window):
                submit()
            while pending:
                rec, future = pending.popleft()
                outcome = self._stage(future.result())
                outcomes.append(outcome)
                self.progress(outcome)
                submit()
        return outcomes

    def process(self, rec: Recording, done: dict | None = None) -> CallOutcome:
        """One call, all its steps in this thread (the same steps as `run`)."""
        return self._stage(self._share(self._recognise(rec, done)))

    # the recogniser's side: read, key check, the recogniser steps, retried when transient
    def _recognise(self, rec: Recording, done: dict | None) -> _Call:
        retries, delay = self.settings.flow.retries, self.settings.flow.retry_delay_s
        for attempt in range(retries + 1):
            try:
                return self._recognise_once(rec, done)
            except TransientError as exc:
                if attempt == retries:
                    call = _Call(self._new_work(rec))
                    call.error = f"{rec.name}: failed after {retries} retries: {exc}"
                    return call
                logger.warning("%s: %s; trying again in %.0f s", rec.name, exc, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _recognise_once(self, rec: Recording, done: dict | None) -> _Call:
        call = _Call(self._new_work(rec))
        started = time.perf_counter()
        try:
            if rec.problem:
                raise BadRecordingError(rec.problem)
            call.work.data = self.source.read(rec)
            call.work.row.update(
                call_fields(audio_sha256=hashlib.sha256(call.work.data).hexdigest())
            )
            if _already_done(done, call.work.row):
                call.ended = CallOutcome(
                    rec.call_id, "skipped", audio_s=done.get("duration_s") or 0.0
                )
                return call
            self._run_steps(call, "recogniser")
        except BadRecordingError as exc:
            call.error = str(exc)
        finally:
            ended = time.perf_counter()
            call.busy_s += ended - started
            self.busy.add("recogniser", started, ended)
        return call

    # the CPU pool's side: the remaining steps of a recognised call
    def _share(self, recognised: Future | _Call) -> _Call:
        call = recognised.result() if isinstance(recognised, Future) else recognised
        if call.ended or call.error:
            return call
        started = time.perf_counter()
        try:
            self._run_steps(call, "cpu")
        except TransientError as exc:  # only the recogniser's side is retried
            call.error = f"{call.work.rec.name}: {exc}"
        finally:
            ended = time.perf_counter()
            call.busy_s += ended - started
            self.busy.add("share", started, ended)
            call.work.audio = None
        return call

    def _run_steps(self, call: _Call, where: str) -> None:
        """The call's steps that run here; a bad recording or a failed step ends only this
        call (an error row), an out-of-memory is transient."""
        from callscope.asr.diarize import DiarizationError

        rec = call.work.rec
        for step in self.steps:
            if step.on != where or call.error:
                continue
            started = time.perf_counter()
            try:
                step.run(call.work)
            except BadRecordingError as exc:
                call.error = str(exc)
            except DiarizationError as exc:
                call.error = f"{rec.name}: {exc}"
            except TransientError:
                raise
            except Exception as exc:  # one bad call never stops the night
                if isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower():
                    raise TransientError(f"{rec.name}: {exc}") from exc
                logger.exception("%s: %s failed", rec.name, step.name)
                call.error = f"{rec.name}: {_failed(step.name)}: {exc}"
            finally:
                self.busy.add_step(step.name, time.perf_counter() - started)

    # the caller's side: stage the call's rows, in the order the calls were given
    def _stage(self, call: _Call) -> CallOutcome:
        if call.ended:
            return call.ended
        work, started = call.work, time.perf_counter() - call.busy_s
        if call.error:
            return _finish_error(work.rec, work.row, call.error, started, self.stager)
        work.row.update(call_fields(status="ok", n_segments=len(work.segments)))
        return _finish(work.rec, work.row, work.segments, started, self.stager)


@contextmanager
def share_threads(settings: Settings) -> Iterator[None]:
    """While the runner runs, torch (speakers, voice emotion) gets the cores the CPU
    recognisers leave, at least one: on a CPU machine the two would otherwise fight for the
    same cores and the recogniser would wait on its own threads."""
    import torch

    before = torch.get_num_threads()
    recognising = settings.asr.cpu_threads * settings.flow.concurrency
    cores = len(os.sched_getaffinity(0))
    on_cpu = settings.asr.device == "cpu" and settings.asr.backend == "faster-whisper"
    wanted = max(1, cores - recognising) if on_cpu else before  # torch's recogniser: its own
    torch.set_num_threads(min(wanted, before))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _failed(step: str) -> str:
    return "transcription failed" if step in ("decode", "transcribe") else f"{step} failed"


def _new_work(rec: Recording, settings: Settings, settings_hash: str) -> CallWork:
    return CallWork(rec, settings, _base_row(rec, settings, settings_hash))


def source_hash(rec: Recording, settings: Settings) -> str:
    """The call's inputs besides its audio: the manifest row and the channel layout in effect,
    so that a corrected manifest row or layout setting redoes that call (and only it)."""
    meta = asdict(rec.meta)
    meta["channel_layout"] = rec.meta.channel_layout or settings.source.default_channel_layout
    blob = json.dumps(meta, sort_keys=True, default=str, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _base_row(rec: Recording, settings: Settings, settings_hash: str) -> CallRow:
    meta = rec.meta
    return call_row(
        call_id=rec.call_id,
        date=rec.date,
        started_at=meta.started_at,
        source_uri=rec.stored_uri,
        agent_id=meta.agent_id,
        queue=meta.queue,
        direction=meta.direction,
        customer_tier=meta.customer_tier,
        channel_layout=meta.channel_layout,
        asr_model=settings.asr.model,
        settings_hash=settings_hash,
        source_hash=source_hash(rec, settings),
        status="error",
    )


def record_error(rec: Recording, warehouse: Stager, settings: Settings, reason: str):
    """Stage an error row for a call that could not be processed at all."""
    row = _base_row(rec, settings, call_settings_hash(settings_on(settings, rec.date)))
    return _finish_error(rec, row, reason, time.perf_counter(), warehouse)


def _already_done(done: dict | None, row: dict) -> bool:
    return bool(
        done
        and done.get("status") == "ok"
        and done.get("audio_sha256") == row["audio_sha256"]
        and done.get("settings_hash") == row["settings_hash"]
        and done.get("source_hash") == row["source_hash"]
    )


def _finish_error(rec, row, reason, started, warehouse) -> CallOutcome:
    # an exception's text can carry a file name's undecoded bytes; Parquet strings are UTF-8
    reason = reason.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    logger.warning("%s", reason)
    row.update(call_fields(status="error", error=reason, n_segments=0))
    return _finish(rec, row, [], started, warehouse)


def _finish(rec, row, segments, started, warehouse: Stager) -> CallOutcome:
    row.update(
        call_fields(
            processing_s=round(time.perf_counter() - started, 3),
            processed_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
        )
    )
    warehouse.stage_call(rec.date, row, segments)
    return CallOutcome(
        rec.call_id,
        row["status"],
        audio_s=row.get("duration_s") or 0.0,
        wall_s=row["processing_s"],
        language=row.get("language"),
        n_segments=row.get("n_segments") or 0,
        error=row.get("error"),
    )


class StagingBatch:
    """Buffers processed calls and stages them together (storage.Warehouse
    .stage_calls): every `max_calls` calls or `max_s` seconds, and at the end. A part that
    dies loses at most one batch of work, which its retry redoes."""

    def __init__(
        self,
        store: Warehouse,
        max_calls: int,
        max_s: float,
        share: Callable[[list[tuple[dict, list[dict]]]], dict[str, list[dict]]] | None = None,
        busy: BusyTimes | None = None,
    ):
        self.store, self.max_calls, self.max_s = store, max_calls, max_s
        self.share = share  # the calls' share of the day's steps (batch_share)
        self.busy = busy
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
            started = time.perf_counter()
            extra = self.share(self._calls) if self.share else None
            if self.busy is not None:
                self.busy.add("share", started, time.perf_counter())
                self.busy.add_step("batch share", time.perf_counter() - started)
            self.store.stage_calls(self._day, self._calls, extra)
        self._calls = []


def batch_share(settings: Settings) -> Callable[[list[tuple[dict, list[dict]]]], dict]:
    """The batch steps (pipeline/steps.py, `BATCH_STEPS`) switched on: done for each batch of
    processed calls beside their transcription, staged with them. A part that fails is left
    to its day step (a warning); the calls are staged all the same."""
    parts = [(step, step.make(settings)) for step in BATCH_STEPS if step.enabled(settings)]

    def share(calls: list[tuple[dict, list[dict]]]) -> dict[str, list[dict]]:
        done = {}
        for step, make in parts:
            try:
                rows = make(calls)
            except Exception:
                what = step.writes or step.name
                logger.exception("%s of %d calls left to the day's steps", what, len(calls))
                continue
            if step.writes is not None:
                done[step.writes] = rows
        return done

    return share


def run_calls(
    recordings: Sequence[Recording],
    source: RecordingSource,
    store: Warehouse,
    settings: Settings,
    done: dict[str, dict],
    progress: Callable[[CallOutcome], None] | None = None,
) -> tuple[list[CallOutcome], BusyTimes]:
    """The night's calls through the runner, staged in batches of `flow.stage_batch_calls`
    with their share of the day's steps: the one loop every kind of night runs."""
    busy = BusyTimes()
    flow = settings.flow
    share = batch_share(settings)
    with StagingBatch(store, flow.stage_batch_calls, flow.stage_batch_s, share, busy) as batch:
        runner = CallRunner(settings, source, batch, progress, busy=busy)
        outcomes = runner.run(recordings, done)
    return outcomes, busy
