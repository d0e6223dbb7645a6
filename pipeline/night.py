"""One night's work, free of any orchestrator: process a call, commit a day, summarise.

The Prefect flow in flows/nightly.py wraps these functions; benchmarks call them directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Protocol

from callscope.asr.audio import decode
from callscope.asr.call import attribute_speakers, transcribe_call
from callscope.asr.diarize import DiarizationError, get_diarizer
from callscope.asr.models import load_transformers_whisper, load_whisper
from callscope.asr.speakers import load_voiceprint
from callscope.core.config import Settings, call_settings_hash
from callscope.core.errors import BadRecordingError, TransientError
from callscope.core.logs import get_logger
from callscope.emotion.backends import load_emotion_models, score_voice
from callscope.pipeline.steps import DayRunner, StepOutcome, load_step_models
from callscope.privacy.redact import REDACTION_VERSION, redact_segments
from callscope.storage.recordings import Recording, RecordingSource
from callscope.storage.warehouse import Warehouse

logger = get_logger(__name__)


class Stager(Protocol):
    """Where a processed call's rows go: the warehouse (one call a file) or a shard's batch."""

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


@dataclass
class NightSummary:
    date: dt.date
    outcomes: list[CallOutcome] = field(default_factory=list)
    wall_s: float = 0.0
    steps: dict[str, StepOutcome] = field(default_factory=dict)
    shards: list[dict] = field(default_factory=list)  # a night fanned out over workers

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

    def as_dict(self) -> dict:
        return {
            "date": self.date.isoformat(),
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
            "emotion_segments": self.emotion.segments if self.emotion else 0,
            "angry_customers": self.emotion.angry_calls if self.emotion else 0,
            "escalation_risks": self.emotion.escalation_calls if self.emotion else 0,
            "indexed_segments": self.indexed_segments,
            "topics": self.incidents.topics if self.incidents else 0,
            "spikes": self.incidents.spikes if self.incidents else [],
            "handoff": str(self.handoff.folder) if self.handoff else None,
            "steps": {name: outcome.status for name, outcome in self.steps.items()},
            "shards": self.shards,
        }

    def render(self) -> str:
        lines = [
            f"night {self.date}: {len(self.outcomes)} calls, ok {self.count('ok')}, "
            f"error {self.count('error')}, skipped {self.count('skipped')} (already done)",
            f"audio {self.audio_s / 3600:.3f} h transcribed in {self.wall_s:.1f} s wall, "
            f"{self.x_real_time:.1f}x real time",
        ]
        lines += shard_lines(self.shards)
        if self.categories and not self.categories.skipped:
            lines.append(
                f"categories: {self.categories.tagged} of {self.categories.calls} calls tagged, "
                f"{self.categories.hits} keyword hits"
            )
        if self.emotion and not self.emotion.skipped:
            lines.append(
                f"emotion: {self.emotion.segments} segments scored, "
                f"{self.emotion.angry_calls} angry customers, "
                f"{self.emotion.escalation_calls} calls at risk of escalation"
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


def shard_lines(shards: list[dict]) -> list[str]:
    """How a fanned-out night's shards went: a count, then each shard that ran again."""
    from callscope.pipeline.parts import prestarted  # it imports this module

    if not shards:
        return []
    again = [shard for shard in shards if len(shard["attempts"]) > 1]
    attempts = [a for shard in shards for a in shard["attempts"]]
    hosts = {a["host"] for a in attempts if a["host"]}
    workers = {a.get("worker") for a in attempts if a.get("worker")}
    head = f"shards: {len(shards)} on {len(hosts)} host(s)"
    head += f", {len(workers)} worker(s)" if workers else ""
    head += f", {len(again)} run again"
    hidden = prestarted(attempts)
    if hidden:
        head += f", {hidden} started up while the shard before them worked"
    return [head] + [f"  {shard_line(shard)}" for shard in again]


def shard_line(shard: dict) -> str:
    runs = "; ".join(
        f"attempt {a['attempt']} {a['state']}"
        + (f" on {a['host']} (pid {a['worker_pid']})" if a["host"] else "")
        + (f": {a['reason']}" if a["reason"] and a["state"] != "done" else "")
        for a in shard["attempts"]
    )
    return f"{shard['name']} ({shard['calls']} calls): {runs}"


def yesterday(timezone: str) -> dt.date:
    """The night to process by default: yesterday in the call centre's time zone."""
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(timezone)).date() - dt.timedelta(days=1)


def get_model(settings: Settings):
    """The night's ASR model: faster-whisper's WhisperModel or the transformers backend."""
    asr = settings.asr
    if asr.backend == "transformers":
        return load_transformers_whisper(
            asr.model,
            str(settings.model_cache),
            asr.device,
            asr.torch_dtype,
            asr.device_index,
            asr.cpu_threads,
            asr.beam_size,
            max(asr.batch_size, 1),
        )
    return load_whisper(
        asr.model,
        str(settings.model_cache),
        asr.device,
        asr.compute_type,
        asr.device_index,
        asr.cpu_threads,
        max(asr.num_workers, settings.flow.concurrency),
    )


def load_models(settings: Settings) -> None:
    """Load this night's models and rules once, up front, so that one that cannot load stops
    the night with one clear error instead of failing every call."""
    get_model(settings)
    if settings.diarization.enabled:
        get_diarizer(settings.diarization)
    load_emotion_models(settings.emotion)
    load_step_models(settings)


def get_batched(settings: Settings):
    if settings.asr.batch_size <= 0 or settings.asr.backend != "faster-whisper":
        return None
    from faster_whisper import BatchedInferencePipeline

    return BatchedInferencePipeline(model=get_model(settings))


def process_call(
    rec: Recording,
    source: RecordingSource,
    warehouse: Stager,
    settings: Settings,
    done: dict | None = None,
) -> CallOutcome:
    """Transcribe one call and stage its rows. Only TransientError escapes."""
    started = time.perf_counter()
    settings_hash = call_settings_hash(settings)
    row = _base_row(rec, settings, settings_hash)
    try:
        if rec.problem:
            raise BadRecordingError(rec.problem)
        data = source.read(rec)
        row["audio_sha256"] = hashlib.sha256(data).hexdigest()
        if _already_done(done, row):
            return CallOutcome(rec.call_id, "skipped", audio_s=done.get("duration_s") or 0.0)
        audio = decode(data, rec.name, settings.asr.max_duration_s)
        row.update(
            duration_s=round(audio.duration_s, 3),
            channels=audio.source_channels,
            sample_rate=audio.source_rate,
        )
        layout = rec.meta.channel_layout or settings.source.default_channel_layout
        transcript = transcribe_call(
            get_model(settings), audio, layout, settings.asr, batched=get_batched(settings)
        )
        speakers = attribute_speakers(
            transcript,
            audio,
            settings,
            lambda: get_diarizer(settings.diarization),
            rec.meta.direction,
            load_voiceprint(settings.roles, rec.meta.agent_id),
        )
    except BadRecordingError as exc:
        return _finish_error(rec, row, str(exc), started, warehouse)
    except TransientError:
        raise
    except DiarizationError as exc:
        return _finish_error(rec, row, f"{rec.name}: {exc}", started, warehouse)
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower():
            raise TransientError(f"{rec.name}: {exc}") from exc
        logger.exception("%s: transcription failed", rec.name)
        return _finish_error(
            rec, row, f"{rec.name}: transcription failed: {exc}", started, warehouse
        )
    segments = [{**seg, "call_id": rec.call_id, "date": rec.date} for seg in transcript.segments]
    redact_segments(segments)
    row["redaction_version"] = REDACTION_VERSION
    if settings.emotion.enabled:
        _score_voice(rec, audio, segments, settings)
    row.update(
        status="ok",
        channel_layout=transcript.layout,
        language=transcript.language,
        n_segments=len(segments),
        speech_s=round(transcript.speech_s, 3),
        diarization=speakers.method,
        n_speakers=speakers.n_speakers,
        role_confidence=speakers.role_confidence,
        role_evidence=speakers.role_evidence,
        ivr_s=round(sum(s["end_s"] - s["start_s"] for s in segments if s["speaker"] == "ivr"), 3),
        hold_s=round(sum(end - start for start, end in speakers.hold), 3),
        **speakers.metrics,
    )
    return _finish(rec, row, segments, started, warehouse)


def _score_voice(rec: Recording, audio, segments: list[dict], settings: Settings) -> None:
    """Arousal (and an audio model's emotion) per segment; without it the text still counts."""
    try:
        voices = score_voice(audio, segments, settings.emotion)
    except (ValueError, RuntimeError, FloatingPointError) as exc:
        logger.warning("%s: voice emotion skipped: %s", rec.name, exc)
        return
    for segment, voice in zip(segments, voices, strict=True):
        segment.update(
            arousal=voice.arousal, voice_emotion=voice.label, voice_confidence=voice.confidence
        )


def source_hash(rec: Recording, settings: Settings) -> str:
    """The call's inputs besides its audio: the manifest row and the channel layout in effect,
    so that a corrected manifest row or layout setting redoes that call (and only it)."""
    meta = asdict(rec.meta)
    meta["channel_layout"] = rec.meta.channel_layout or settings.source.default_channel_layout
    blob = json.dumps(meta, sort_keys=True, default=str, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _base_row(rec: Recording, settings: Settings, settings_hash: str) -> dict:
    meta = rec.meta
    return {
        "call_id": rec.call_id,
        "date": rec.date,
        "started_at": meta.started_at,
        "source_uri": rec.stored_uri,
        "agent_id": meta.agent_id,
        "queue": meta.queue,
        "direction": meta.direction,
        "customer_tier": meta.customer_tier,
        "channel_layout": meta.channel_layout,
        "asr_model": settings.asr.model,
        "settings_hash": settings_hash,
        "source_hash": source_hash(rec, settings),
        "status": "error",
    }


def record_error(rec: Recording, warehouse: Stager, settings: Settings, reason: str):
    """Stage an error row for a call that could not be processed at all."""
    row = _base_row(rec, settings, call_settings_hash(settings))
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
    row.update(status="error", error=reason, n_segments=0)
    return _finish(rec, row, [], started, warehouse)


def _finish(rec, row, segments, started, warehouse: Stager) -> CallOutcome:
    row["processing_s"] = round(time.perf_counter() - started, 3)
    row["processed_at"] = dt.datetime.now(dt.UTC).replace(microsecond=0)
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


class ProgressLog:
    """Progress hook: one log line per finished call with counts and rates."""

    def __init__(self, total: int, log: Callable[[str], None] | None = None):
        self.total = total
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
        self.log(
            f"[{self.done}/{self.total}] {outcome.call_id} {outcome.status}: {detail} "
            f"(night so far {rate:.1f}x real time)"
        )


def run_night(
    day: dt.date,
    source: RecordingSource,
    warehouse: Warehouse,
    settings: Settings,
    progress: Callable[[CallOutcome], None] | None = None,
    recordings: Iterable[Recording] | None = None,
) -> NightSummary:
    """The night in this process, one call after another (benchmarks, tests, no Prefect)."""
    started = time.perf_counter()
    summary = NightSummary(day)
    with warehouse.lock_day(day, "nightly"):
        recordings = list(recordings if recordings is not None else source.list_day(day))
        done = warehouse.done_calls(day)
        load_models(settings)
        progress = progress or ProgressLog(len(recordings))
        for rec in recordings:
            outcome = process_call(rec, source, warehouse, settings, done.get(rec.call_id))
            summary.outcomes.append(outcome)
            progress(outcome)
        summary.steps = DayRunner(warehouse, day, settings).run()
    summary.wall_s = time.perf_counter() - started
    return summary
