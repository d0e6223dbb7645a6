"""The night's steps: the one place that lists them, in order, with what each reads and writes.

Per call (`CALL_STEPS`): decode, transcribe, speakers, redact, voice emotion. The call runner
(pipeline/runner.py) runs the steps marked `on="recogniser"` on the recogniser's thread and
the rest in a CPU pool beside it; a call's key (`call_settings_hash`) is made of these steps'
versions and shaping settings, those of the call's day (`settings_on`: the catalogue's names
active that day join the hotwords). Per batch of processed calls (`BATCH_STEPS`): the calls' share
of the day's steps (rule categories, issue statements' vectors), staged with the calls.

Per day (`STEPS`): the night commits its staged calls and then runs every day step from
`commit`. An `apply` command runs one step again and then everything downstream of it, so
re-applying the rules to a past day also refreshes that day's emotion, search rows, incidents
and hand-off.

Each day step has a version made of its code version and the settings that shape its output,
and it reads the output versions of the steps it comes after. The runner records, per day, the
version, inputs and output of every step that ran (Warehouse.read_state / write_state); a step
whose version and inputs are unchanged is skipped. A step that runs gets a new output version,
so the steps after it run too. The whole run holds the day's lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from callscope.core.config import Settings
from callscope.core.logs import get_logger
from callscope.storage.rows import call_fields
from callscope.storage.warehouse import Warehouse

logger = get_logger(__name__)


@dataclass(frozen=True)
class Step:
    name: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    after: tuple[str, ...]
    code_version: str
    shaping: Callable[[DayContext], Any]  # what of the settings shapes the output (JSON-able)
    run: Callable[[DayContext], Any]
    enabled: Callable[[Settings], bool] = lambda settings: True
    always: bool = False  # runs every time (its input is outside the graph: staged calls)
    changed: Callable[[Any], bool] = lambda result: True
    retries: int = 0

    def version(self, ctx: DayContext) -> str:
        return _digest([self.code_version, self.shaping(ctx)])


@dataclass
class DayContext:
    """What a step needs: the warehouse, the day, the settings and the models (loaded once per
    process through each stage's cached factory)."""

    store: Warehouse
    day: dt.date
    settings: Settings
    parts: int = 1  # processes the categories step may split the day's calls over
    forced: str | None = None  # the step being run on request (an apply command), if any

    @cached_property
    def rules(self):
        from callscope.keywords.rules import load_rules

        return load_rules(self.settings.keywords.rules, self.settings.keywords.sounds_like)

    @cached_property
    def text_scorer(self):
        from callscope.emotion.backends import get_text_scorer

        return get_text_scorer(self.settings.emotion)

    @property
    def embedder(self):
        from callscope.incidents.embed import get_embedder

        incidents = self.settings.incidents
        return get_embedder(incidents.embedding_model, incidents.device)

    def category_labels(self) -> dict[str, str]:
        return {c.name: c.label or c.name for c in self.rules.categories}

    @cached_property
    def catalogue(self):
        from callscope.core.catalogue import load_catalogue

        return load_catalogue(self.settings.keywords.catalogue)

    def naming(self):
        """The spellings topic names prefer: the rules' phrases and the catalogue's names."""
        from callscope.incidents.cluster import Naming

        spellings = self.rules.spellings | self.catalogue.spellings
        return Naming(self.settings.keywords.sounds_like.confusion_set, spellings)


@dataclass
class StepOutcome:
    name: str
    status: str  # ran | skipped | off | failed
    result: Any = None
    seconds: float = 0.0
    reason: str = ""


# the per-call steps ----------------------------------------------------------------------------
@dataclass
class CallWork:
    """One call on its way through the per-call steps: what each step reads and adds."""

    rec: Any  # storage.recordings.Recording
    settings: Settings
    row: dict  # the calls row being filled in
    data: bytes = b""
    audio: Any = None  # core.records.DecodedAudio
    transcript: Any = None  # asr.call.CallTranscript
    speakers: Any = None  # asr.call.CallSpeakers
    segments: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class CallStep:
    name: str
    code_version: str
    shaping: Callable[[Settings], Any]  # what of the settings shapes the call's rows
    run: Callable[[CallWork], None]
    on: Literal["recogniser", "cpu"]  # the recogniser's thread, or the CPU pool beside it
    enabled: Callable[[Settings], bool] = lambda settings: True


def _decode(call: CallWork) -> None:
    from callscope.asr.audio import decode

    audio = decode(call.data, call.rec.name, call.settings.asr.max_duration_s)
    call.data = b""
    call.audio = audio
    call.row.update(
        call_fields(
            duration_s=round(audio.duration_s, 3),
            channels=audio.source_channels,
            sample_rate=audio.source_rate,
        )
    )


def _transcribe(call: CallWork) -> None:
    from callscope.asr.call import transcribe_call
    from callscope.asr.models import get_batched, get_model

    settings = call.settings
    layout = call.rec.meta.channel_layout or settings.source.default_channel_layout
    call.transcript = transcribe_call(
        get_model(settings), call.audio, layout, settings.asr, batched=get_batched(settings)
    )


def _speakers(call: CallWork) -> None:
    from callscope.asr.call import attribute_speakers
    from callscope.asr.diarize import get_diarizer
    from callscope.asr.speakers import load_voiceprint

    settings, rec, transcript = call.settings, call.rec, call.transcript
    speakers = attribute_speakers(
        transcript,
        call.audio,
        settings,
        lambda: get_diarizer(settings.diarization),
        rec.meta.direction,
        load_voiceprint(settings.roles, rec.meta.agent_id),
    )
    call.speakers = speakers
    call.segments = [
        {**segment, "call_id": rec.call_id, "date": rec.date} for segment in transcript.segments
    ]
    call.row.update(
        call_fields(
            channel_layout=transcript.layout,
            language=transcript.language,
            speech_s=round(transcript.speech_s, 3),
            diarization=speakers.method,
            n_speakers=speakers.n_speakers,
            role_confidence=speakers.role_confidence,
            role_evidence=speakers.role_evidence,
            ivr_s=round(
                sum(s["end_s"] - s["start_s"] for s in call.segments if s["speaker"] == "ivr"), 3
            ),
            hold_s=round(sum(end - start for start, end in speakers.hold), 3),
            **speakers.metrics,
        )
    )


def _redact_call(call: CallWork) -> None:
    from callscope.privacy.redact import REDACTION_VERSION, redact_segments

    redact_segments(call.segments)
    call.row.update(call_fields(redaction_version=REDACTION_VERSION))


def _voice_emotion(call: CallWork) -> None:
    """Arousal (and an audio model's emotion) per segment; without it the text still counts."""
    from callscope.emotion.backends import score_voice

    try:
        voices = score_voice(call.audio, call.segments, call.settings.emotion)
    except (ValueError, RuntimeError, FloatingPointError) as exc:
        logger.warning("%s: voice emotion skipped: %s", call.rec.name, exc)
        return
    for segment, voice in zip(call.segments, voices, strict=True):
        segment.update(
            arousal=voice.arousal, voice_emotion=voice.label, voice_confidence=voice.confidence
        )


def _recogniser_shaping(settings: Settings) -> dict:
    exclude = {"device_index", "num_workers", "cpu_threads"}
    asr = settings.asr.model_dump(exclude=exclude)
    if asr["backend"] == "faster-whisper":
        del asr["backend"], asr["torch_dtype"]
    else:
        del asr["compute_type"]
    if settings.asr.device == "cpu":  # CTranslate2's int8 CPU decode depends on its threads
        asr["decode_threads"] = settings.asr.cpu_threads
    return asr


def _speaker_shaping(settings: Settings) -> dict:
    return {
        "diarization": settings.diarization.model_dump(exclude={"device", "batch_size"}),
        "roles": settings.roles.model_dump(mode="json"),
    }


def _redaction_shaping(settings: Settings) -> str:
    from callscope.privacy.redact import REDACTION_VERSION

    return REDACTION_VERSION


CALL_STEPS: tuple[CallStep, ...] = (
    CallStep("decode", "decode-1", lambda settings: None, _decode, on="recogniser"),
    CallStep("transcribe", "asr-1", _recogniser_shaping, _transcribe, on="recogniser"),
    CallStep("speakers", "speakers-1", _speaker_shaping, _speakers, on="cpu"),
    CallStep("redact", "redact-1", _redaction_shaping, _redact_call, on="cpu"),
    CallStep(
        "voice_emotion",
        "voice-1",
        lambda s: [s.emotion.voice_model, s.emotion.voice_label_map],
        _voice_emotion,
        on="cpu",
        enabled=lambda settings: settings.emotion.enabled,
    ),
)


def settings_on(settings: Settings, day: dt.date) -> Settings:
    """The settings a call of `day` is made with: the names of the catalogue of names
    (keywords.catalogue) active on that day join the recogniser's hotwords of their language,
    first (faster-whisper cuts long hotwords at the end). The hotwords are part of the
    transcribe step's shaping, so a call's key changes exactly when its day's names do; with
    no name active the settings are returned as they are (the same key as without a
    catalogue)."""
    from callscope.core.catalogue import load_catalogue

    names = load_catalogue(settings.keywords.catalogue).hotwords(day, settings.asr.languages)
    if not names:
        return settings
    hotwords = dict(settings.asr.hotwords)
    for language, words in names.items():
        written = hotwords.get(language) or ""
        new = [word for word in words if word not in written.split()]
        hotwords[language] = " ".join([*new, written]).strip()
    asr = settings.asr.model_copy(update={"hotwords": hotwords})
    return settings.model_copy(update={"asr": asr})


def call_settings_hash(settings: Settings, steps: Iterable[CallStep] = CALL_STEPS) -> str:
    """A call's key besides its audio and manifest row: the version and shaping settings of
    every per-call step switched on (speed-only settings such as the device stay out)."""
    shaping = [
        [step.name, step.code_version, step.shaping(settings)]
        for step in steps
        if step.enabled(settings)
    ]
    return _digest(shaping)


# the per-batch share of the day's steps ---------------------------------------------------------
@dataclass(frozen=True)
class BatchStep:
    """Done for each batch of processed calls beside their transcription, staged with them;
    the day step named `day_step` then redoes only what changed since."""

    name: str
    writes: str | None  # a staged table, or None: it fills in the calls' own rows
    day_step: str
    make: Callable[[Settings], Callable[[list[tuple[dict, list[dict]]]], list[dict]]]
    enabled: Callable[[Settings], bool] = lambda settings: True


def _keyword_hits(settings: Settings):
    from callscope.keywords.daily import categorize_calls
    from callscope.keywords.rules import load_rules

    rules = load_rules(settings.keywords.rules, settings.keywords.sounds_like)
    return lambda calls: categorize_calls(calls, rules)


def _statement_vectors(settings: Settings):
    from callscope.incidents.daily import embed_statements
    from callscope.incidents.embed import get_embedder

    incidents = settings.incidents
    embed = get_embedder(incidents.embedding_model, incidents.device)
    return lambda calls: embed_statements(calls, incidents, embed)


def _emotion_scores(settings: Settings):
    from callscope.emotion.backends import get_text_scorer
    from callscope.emotion.daily import score_calls

    scorer = get_text_scorer(settings.emotion)

    def score(calls: list[tuple[dict, list[dict]]]) -> list[dict]:
        score_calls(calls, scorer, settings.emotion)
        return []

    return score


BATCH_STEPS: tuple[BatchStep, ...] = (
    BatchStep("categories", "keyword_hits", "categories", _keyword_hits),
    BatchStep(  # after the categories: a call's escalation risk reads them
        "emotion_scores",
        None,
        "emotion",
        _emotion_scores,
        enabled=lambda settings: settings.emotion.enabled,
    ),
    BatchStep(
        "statements",
        "statement_vectors",
        "incidents",
        _statement_vectors,
        enabled=lambda settings: settings.incidents.enabled,
    ),
)


# the day's steps ---------------------------------------------------------------------------------
def _commit(ctx: DayContext) -> int:
    return ctx.store.commit_day(ctx.day)


def _redact(ctx: DayContext):
    from callscope.privacy.daily import reapply_redaction

    return reapply_redaction(ctx.store, ctx.day)


def _categories(ctx: DayContext):
    from callscope.keywords.daily import apply_categories

    return apply_categories(ctx.store, ctx.day, ctx.rules, parts=ctx.parts)


def _emotion(ctx: DayContext):
    from callscope.emotion.daily import apply_emotion

    rescore = ctx.forced == "emotion"  # `emotion apply`; after a rule change the scores stand
    return apply_emotion(
        ctx.store, ctx.day, ctx.text_scorer, ctx.settings.emotion, force=True, rescore=rescore
    )


def _index(ctx: DayContext) -> int | None:
    from callscope.keywords.daily import rebuild_shard, stale_days, update_index
    from callscope.keywords.index import open_index, retire_single_file_index

    index = open_index(ctx.settings)
    try:
        for key in index.outdated_keys():  # another version built it: rebuild the shard
            rebuild_shard(ctx.store, index, key)
        if index.created:  # a new index (or one replacing a single-file index): every day
            for day in stale_days(ctx.store, index):
                if day != ctx.day:
                    update_index(ctx.store, index, day)
        count = update_index(ctx.store, index, ctx.day)
    finally:
        index.close()
    retire_single_file_index(ctx.settings)
    return count


def _incidents(ctx: DayContext):
    from callscope.incidents.daily import apply_incidents

    return apply_incidents(
        ctx.store,
        ctx.day,
        ctx.settings.incidents,
        ctx.embedder,
        ctx.category_labels(),
        ctx.naming(),
        recluster=ctx.forced == "incidents",  # --rebuild finds the topics again
    )


def _handoff(ctx: DayContext):
    from callscope.incidents.handoff import write_handoff

    return write_handoff(
        ctx.store,
        ctx.day,
        ctx.settings.handoff_dir,
        settings=ctx.settings.incidents,
        rules={category.name: category.describe() for category in ctx.rules.categories},
        aspects=ctx.rules.aspects,
        names={entry.name: entry.english for entry in ctx.catalogue.active(ctx.day)},
        console_url=ctx.settings.web.public_url,
        timezone=ctx.settings.timezone,
    )


def _emotion_shaping(ctx: DayContext):
    from callscope.emotion.backends import settings_version

    return settings_version(ctx.settings.emotion, ctx.text_scorer)


def _incident_shaping(ctx: DayContext):
    from callscope.incidents.daily import version

    naming = ctx.naming()
    return [
        version(ctx.settings.incidents),
        ctx.category_labels(),
        sorted(naming.confusions),
        sorted(naming.spellings),
    ]


def _redaction_version(ctx: DayContext) -> str:
    from callscope.privacy.redact import REDACTION_VERSION

    return REDACTION_VERSION


def _index_version(ctx: DayContext) -> str:
    from callscope.keywords.index import index_version

    return index_version(ctx.settings.keywords.sounds_like.confusion_set)


STEPS: tuple[Step, ...] = (
    Step(
        "commit",
        reads=("staged calls",),
        writes=("calls", "segments"),
        after=(),
        code_version="commit-1",
        shaping=lambda ctx: None,
        run=_commit,
        always=True,
        changed=lambda merged: merged > 0,
        retries=2,
    ),
    Step(
        "redact",
        reads=("segments",),
        writes=("segments",),
        after=("commit",),
        code_version="redact-1",
        shaping=_redaction_version,
        run=_redact,
        changed=lambda run: run.changed > 0,
    ),
    Step(
        "categories",
        reads=("calls", "segments"),
        writes=("keyword_hits", "calls"),
        after=("redact",),
        code_version="categories-1",
        shaping=lambda ctx: ctx.rules.version_hash,
        run=_categories,
        changed=lambda run: not run.skipped,  # every call already tagged with these rules
    ),
    Step(
        "emotion",
        reads=("calls", "segments"),
        writes=("segments", "calls", "emotion_daily"),
        after=("categories",),  # the escalation risk reads the categories
        code_version="emotion-1",
        shaping=_emotion_shaping,
        run=_emotion,
        enabled=lambda settings: settings.emotion.enabled,
    ),
    Step(
        "index",
        reads=("calls", "segments"),
        writes=("search index",),
        after=("emotion", "categories"),
        code_version="index-1",
        shaping=_index_version,
        run=_index,
        retries=2,
    ),
    Step(
        "incidents",
        reads=("calls", "segments", "incidents of earlier days"),
        writes=("call_issues", "statement_sample", "incidents"),
        after=("emotion", "categories"),
        code_version="incidents-1",
        shaping=_incident_shaping,
        run=_incidents,
        enabled=lambda settings: settings.incidents.enabled,
    ),
    Step(
        "handoff",
        reads=("incidents", "call_issues", "calls"),
        writes=("hand-off bundle",),
        after=("incidents",),
        code_version="handoff-1",
        shaping=lambda ctx: str(ctx.settings.handoff_dir),
        run=_handoff,
        enabled=lambda settings: settings.incidents.enabled,
        retries=2,
    ),
)
BY_NAME = {step.name: step for step in STEPS}


def downstream(start: str | None) -> list[Step]:
    """`start` and every step that depends on it, in the graph's order (all steps for None)."""
    if start is None:
        return list(STEPS)
    if start not in BY_NAME:
        raise ValueError(f"no step {start!r}; steps: {', '.join(BY_NAME)}")
    chosen = {start}
    for step in STEPS:
        if chosen.intersection(step.after):
            chosen.add(step.name)
    return [step for step in STEPS if step.name in chosen]


def load_step_models(settings: Settings) -> None:
    """Load the day steps' models and rules up front, so that one that cannot load stops the
    run with one clear error instead of failing at the end of a night."""
    ctx = DayContext(Warehouse.from_settings(settings), dt.date.today(), settings)
    ctx.rules  # noqa: B018 (loads and checks the rule file)
    if settings.emotion.enabled:
        ctx.text_scorer  # noqa: B018
    if settings.incidents.enabled:
        ctx.embedder  # noqa: B018


@dataclass
class DayRunner:
    """Runs steps of one day and records what ran."""

    store: Warehouse
    day: dt.date
    settings: Settings
    progress: Callable[[StepOutcome], None] | None = None
    ctx: DayContext = field(init=False)

    def __post_init__(self) -> None:
        self.ctx = DayContext(self.store, self.day, self.settings)

    def plan(self, start: str | None = None, only: Iterable[str] | None = None) -> list[Step]:
        steps = downstream(start)
        if only is not None:
            wanted = set(only)
            steps = [step for step in steps if step.name in wanted]
        return steps

    def run(
        self, start: str | None = None, force: bool = False, only: Iterable[str] | None = None
    ) -> dict[str, StepOutcome]:
        """Run `start` (forced when `force`) and everything after it; all steps for None."""
        outcomes = {}
        with self.store.lock_day(self.day, f"steps from {start or 'commit'}"):
            for step in self.plan(start, only):
                outcomes[step.name] = self.run_step(step.name, force and step.name == start)
        return outcomes

    def run_step(self, name: str, force: bool = False) -> StepOutcome:
        step = BY_NAME[name]
        with self.store.lock_day(self.day, f"step {name}"):
            outcome = self._run_step(step, force)
        logger.info(
            "%s %s: %s%s",
            self.day,
            name,
            outcome.status,
            f" ({outcome.reason})" if outcome.reason else f" in {outcome.seconds:.1f} s",
        )
        if self.progress:
            self.progress(outcome)
        return outcome

    def _run_step(self, step: Step, force: bool) -> StepOutcome:
        state = self.store.read_state(self.day)
        records = state.setdefault("steps", {})
        previous = records.get(step.name)
        if not step.enabled(self.settings):
            records[step.name] = {"version": "off", "inputs": "", "output": "off"}
            self.store.write_state(self.day, state)
            return StepOutcome(step.name, "off", reason="switched off in the config")
        version = step.version(self.ctx)
        inputs = _digest([records.get(up, {}).get("output") for up in step.after])
        same = bool(previous) and previous["version"] == version and previous["inputs"] == inputs
        if same and not (force or step.always):
            return StepOutcome(step.name, "skipped", reason="inputs and settings unchanged")
        started = time.perf_counter()
        self.ctx.forced = step.name if force else None
        result = step.run(self.ctx)
        seconds = time.perf_counter() - started
        state = self.store.read_state(self.day)  # the step may have kept records of its own
        records = state.setdefault("steps", {})
        if same and not step.changed(result):
            output = previous["output"]
        elif same or step.always:
            output = _digest([version, inputs, uuid.uuid4().hex])  # same inputs, new data
        else:
            output = _digest([version, inputs])
        records[step.name] = {
            "version": version,
            "inputs": inputs,
            "output": output,
            "at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "seconds": round(seconds, 3),
        }
        self.store.write_state(self.day, state)
        return StepOutcome(step.name, "ran", result, seconds)


def _digest(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
