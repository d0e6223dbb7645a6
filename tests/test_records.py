"""Records defined once: each table's row type is its schema's columns, the row helpers refuse
a column the schema lacks, and a stage's option defaults are the config's."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import types
import typing

import pyarrow as pa
import pytest
from callscope.asr.diarize import load_pipeline
from callscope.asr.metrics import conversation_metrics
from callscope.asr.models import load_transformers_whisper, load_whisper
from callscope.core.config import (
    AsrSettings,
    DiarizationSettings,
    EmotionSettings,
    IncidentSettings,
    SearchSettings,
)
from callscope.emotion.call import CallEmotion, CallEmotionSettings
from callscope.emotion.daily import call_settings, fusion_settings
from callscope.emotion.fuse import FusionSettings
from callscope.emotion.hf import (
    TransformersTextScorer,
    TransformersVoiceScorer,
    get_text_scorer,
    get_voice_scorer,
)
from callscope.incidents.cluster import ClusterSettings
from callscope.incidents.daily import cluster_settings, spike_settings, statement_settings
from callscope.incidents.embed import get_embedder
from callscope.incidents.spikes import SpikeSettings, match_clusters
from callscope.incidents.statements import StatementSettings
from callscope.keywords.shard import IndexShard
from callscope.storage.rows import (
    ROW_TYPES,
    CallRow,
    SegmentRow,
    Word,
    call_fields,
    call_row,
    new_row,
    python_type,
    segment_row,
)
from callscope.storage.schemas import CALLS, SEGMENTS, TABLES, to_table

DAY = dt.date(2026, 11, 20)


# every column is a field of its row type, and every field a column -------------------------
@pytest.mark.parametrize("table", sorted(TABLES))
def test_each_row_type_has_exactly_its_schema_columns(table):
    schema = TABLES[table]
    hints = typing.get_type_hints(ROW_TYPES[table])
    assert list(hints) == schema.names
    for field in schema:
        expected = python_type(field.type)
        assert hints[field.name] == (expected | None if field.nullable else expected), field.name


def test_every_table_has_a_row_type():
    assert set(ROW_TYPES) == set(TABLES)
    assert ROW_TYPES["calls"] is CallRow and ROW_TYPES["segments"] is SegmentRow


def test_the_segment_and_word_types_follow_the_schema():
    hints = typing.get_type_hints(SegmentRow)
    assert hints["date"] is dt.date and hints["idx"] is int  # non-nullable: no None
    assert hints["text_redacted"] == str | None
    assert hints["words"] == list[Word | None] | None
    assert set(typing.get_type_hints(Word)) == {"word", "start", "end", "prob"}
    assert {"pii", "voice_emotion", "voice_confidence", "emotion_confidence"} <= set(hints)


def test_partial_call_records_are_calls_columns():
    """The records a stage fills part of a calls row from."""
    emotion = {f.name for f in dataclasses.fields(CallEmotion)}
    assert emotion <= set(CALLS.names)
    assert set(CallEmotion().as_row()) == emotion
    assert set(conversation_metrics([], 10.0)) <= set(CALLS.names)


# the helpers ---------------------------------------------------------------------------------
def test_a_misspelt_column_fails_where_it_is_written():
    with pytest.raises(KeyError, match="langauge"):
        call_row(call_id="c1", date=DAY, status="ok", langauge="zh")
    with pytest.raises(KeyError, match="complaint_klass"):
        call_fields(complaint_klass="none")
    with pytest.raises(KeyError, match="speeker"):
        segment_row(call_id="c1", date=DAY, idx=0, speeker="agent")
    with pytest.raises(KeyError, match="no_such_table"):
        new_row("no_such_table")


def test_a_row_without_a_non_nullable_column_is_refused():
    with pytest.raises(ValueError, match="status"):
        call_row(call_id="c1", date=DAY)
    with pytest.raises(ValueError, match="idx"):
        segment_row(call_id="c1", date=DAY)


def test_a_built_row_has_every_column_null_unless_given():
    row = call_row(call_id="c1", date=DAY, status="error", error="unreadable")
    assert list(row) == CALLS.names
    assert row["error"] == "unreadable" and row["language"] is None
    assert call_fields(queue="billing") == {"queue": "billing"}


def _sample(arrow: pa.DataType):
    """A value of every Arrow type the schemas use, exact in float16 and float32."""
    if pa.types.is_list(arrow):
        return [_sample(arrow.value_type), None] if arrow.value_field.nullable else []
    if pa.types.is_struct(arrow):
        return {field.name: _sample(field.type) for field in arrow}
    if pa.types.is_timestamp(arrow):
        return dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
    return {
        pa.bool_(): True,
        pa.string(): "x",
        pa.date32(): DAY,
        pa.int16(): 7,
        pa.int32(): 70_000,
        pa.float16(): 0.5,
        pa.float32(): -1.25,
        pa.float64(): 0.1,
    }[arrow]


def _is_instance(value, annotation) -> bool:
    """`value` is of the row type's annotation (unions, list[...], TypedDicts)."""
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        return any(_is_instance(value, arg) for arg in typing.get_args(annotation))
    if value is None:
        return annotation is type(None)
    if origin is list:
        (item,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_is_instance(v, item) for v in value)
    if typing.is_typeddict(annotation):
        hints = typing.get_type_hints(annotation)
        return set(value) == set(hints) and all(_is_instance(value[k], hints[k]) for k in hints)
    return isinstance(value, annotation)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_a_built_row_round_trips_through_its_schema(table):
    schema = TABLES[table]
    full = new_row(table, **{field.name: _sample(field.type) for field in schema})
    required = {f.name: full[f.name] for f in schema if not f.nullable}
    sparse = new_row(table, **required)
    read = pa.Table.from_pylist([full, sparse], schema=schema).to_pylist()
    assert read == [full, sparse]
    hints = typing.get_type_hints(ROW_TYPES[table])
    for row in read:
        for name, value in row.items():
            assert _is_instance(value, hints[name]), (table, name, value)


def test_helper_rows_are_what_the_writers_take():
    call = call_row(call_id="c1", date=DAY, status="ok", language="zh", n_segments=1)
    call.update(call_fields(categories=["billing"], complaint_class="none"))
    segment = segment_row(call_id="c1", date=DAY, idx=0, text="你好", speaker="agent")
    assert to_table("calls", [call]).to_pylist() == [call]
    assert to_table("segments", [segment]).to_pylist() == [segment]
    assert pa.Table.from_pylist([segment], schema=SEGMENTS).column("speaker").to_pylist() == [
        "agent"
    ]


# a stage's option defaults are the config's ------------------------------------------------
INCIDENTS, EMOTION = IncidentSettings(), EmotionSettings()
ASR = AsrSettings()
DIARIZATION, SEARCH = DiarizationSettings(), SearchSettings()

# (stage option, where it is, the config section's defaults, the config field)
STAGE_DEFAULTS = [
    (load_whisper, "device", ASR, "device"),
    (load_whisper, "compute_type", ASR, "compute_type"),
    (load_whisper, "device_index", ASR, "device_index"),
    (load_whisper, "cpu_threads", ASR, "cpu_threads"),
    (load_whisper, "num_workers", ASR, "num_workers"),
    (load_transformers_whisper, "device", ASR, "device"),
    (load_transformers_whisper, "torch_dtype", ASR, "torch_dtype"),
    (load_transformers_whisper, "device_index", ASR, "device_index"),
    (load_transformers_whisper, "cpu_threads", ASR, "cpu_threads"),
    (load_transformers_whisper, "beam_size", ASR, "beam_size"),
    (load_transformers_whisper, "batch_size", ASR, "batch_size"),
    (ClusterSettings, "merge_similarity", INCIDENTS, "merge_similarity"),
    (ClusterSettings, "min_cluster_size", INCIDENTS, "min_cluster_size"),
    (ClusterSettings, "assign_similarity", INCIDENTS, "assign_similarity"),
    (SpikeSettings, "history_days", INCIDENTS, "history_days"),
    (SpikeSettings, "min_history_days", INCIDENTS, "min_history_days"),
    (SpikeSettings, "same_weekday_weight", INCIDENTS, "same_weekday_weight"),
    (SpikeSettings, "prior_rate", INCIDENTS, "prior_rate"),
    (SpikeSettings, "min_count", INCIDENTS, "min_calls"),
    (SpikeSettings, "min_ratio", INCIDENTS, "min_ratio"),
    (SpikeSettings, "alpha", INCIDENTS, "alpha"),
    (match_clusters, "threshold", INCIDENTS, "match_similarity"),
    (StatementSettings, "min_chars", INCIDENTS, "statement_min_chars"),
    (StatementSettings, "max_chars", INCIDENTS, "statement_max_chars"),
    (get_embedder, "model", INCIDENTS, "embedding_model"),
    (get_embedder, "device", INCIDENTS, "device"),
    (FusionSettings, "voice_weight", EMOTION, "voice_weight"),
    (FusionSettings, "angry_arousal", EMOTION, "angry_arousal"),
    (CallEmotionSettings, "end_weight", EMOTION, "end_weight"),
    (CallEmotionSettings, "escalation_categories", EMOTION, "escalation_categories"),
    (CallEmotionSettings, "aggravating_categories", EMOTION, "aggravating_categories"),
    (CallEmotionSettings, "threshold", EMOTION, "escalation_threshold"),
    (get_text_scorer, "device", EMOTION, "device"),
    (get_text_scorer, "batch_size", EMOTION, "batch_size"),
    (get_voice_scorer, "device", EMOTION, "device"),
    (TransformersTextScorer, "device", EMOTION, "device"),
    (TransformersTextScorer, "batch_size", EMOTION, "batch_size"),
    (TransformersVoiceScorer, "device", EMOTION, "device"),
    (load_pipeline, "device", DIARIZATION, "device"),
    (load_pipeline, "threshold", DIARIZATION, "clustering_threshold"),
    (load_pipeline, "min_cluster_size", DIARIZATION, "min_cluster_size"),
    (load_pipeline, "min_duration_off", DIARIZATION, "min_duration_off"),
    (load_pipeline, "segmentation_step", DIARIZATION, "segmentation_step"),
    (load_pipeline, "batch_size", DIARIZATION, "batch_size"),
    (load_pipeline, "reassign_margin", DIARIZATION, "reassign_margin"),
    (IndexShard, "engine", SEARCH, "engine"),
]


def _stage_default(owner, name: str):
    if dataclasses.is_dataclass(owner):
        (field,) = [f for f in dataclasses.fields(owner) if f.name == name]
        return field.default
    return inspect.signature(owner).parameters[name].default


def _plain(value):
    return list(value) if isinstance(value, tuple | list) else value


@pytest.mark.parametrize(
    ("owner", "name", "section", "key"),
    STAGE_DEFAULTS,
    ids=[f"{owner.__name__}.{name}" for owner, name, _, _ in STAGE_DEFAULTS],
)
def test_a_stage_option_defaults_to_its_config_default(owner, name, section, key):
    assert _plain(_stage_default(owner, name)) == _plain(getattr(section, key))


def test_stage_settings_from_the_default_config_are_the_stage_defaults():
    """The mappings config -> stage settings the day steps use, on the config's defaults."""
    assert cluster_settings(INCIDENTS) == ClusterSettings()
    assert spike_settings(INCIDENTS) == SpikeSettings()
    assert statement_settings(INCIDENTS) == StatementSettings()
    assert call_settings(EMOTION) == CallEmotionSettings()
    assert fusion_settings(EMOTION) == FusionSettings()
