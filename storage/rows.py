"""Row types of the tables, derived from their schemas (storage/schemas.py defines each column
once; nothing here names one).

Each table's row type is a TypedDict (total=False: stages fill a row in steps) built from its
schema at import: a key per column, typed by the column's Arrow type (string -> str, integers
-> int, floats -> float, date32 -> date, timestamps -> datetime, lists -> list, structs ->
their own TypedDict, a nullable field -> `| None`). A column added to a schema is at once a
key of its row type.

`call_row(...)` / `segment_row(...)` build a whole row: every column, null where not given.
They and `call_fields(...)` (the columns a step sets, for `row.update`) raise KeyError naming
a column the schema does not have, so a misspelt column fails where it is written, not when
the row is written to Parquet.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict

import pyarrow as pa
from callscope.storage.schemas import EXAMPLE, PII_SPAN, TABLES, VARIANT, WORD

_SCALARS: tuple[tuple[Any, type], ...] = (
    (pa.types.is_boolean, bool),
    (pa.types.is_integer, int),
    (pa.types.is_floating, float),
    (pa.types.is_string, str),
    (pa.types.is_large_string, str),
    (pa.types.is_date, dt.date),
    (pa.types.is_timestamp, dt.datetime),
)
_STRUCT_NAMES = {WORD: "Word", PII_SPAN: "PiiSpan", VARIANT: "Variant", EXAMPLE: "Example"}
_structs: dict[pa.DataType, Any] = {}


def python_type(arrow: pa.DataType) -> Any:
    """The Python type of a value of `arrow` (as pyarrow's to_pylist gives it)."""
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return list[_field_type(arrow.value_field)]
    if pa.types.is_struct(arrow):
        if arrow not in _structs:
            name = _STRUCT_NAMES.get(arrow, "Struct")
            _structs[arrow] = TypedDict(name, {f.name: _field_type(f) for f in arrow})
        return _structs[arrow]
    for is_kind, python in _SCALARS:
        if is_kind(arrow):
            return python
    raise TypeError(f"no Python type for Arrow type {arrow}")


def _field_type(field: pa.Field) -> Any:
    python = python_type(field.type)
    return python | None if field.nullable else python


def row_type(name: str, schema: pa.Schema) -> Any:
    """A TypedDict (total=False) with a key per column of `schema`, in its order."""
    return TypedDict(name, {f.name: _field_type(f) for f in schema}, total=False)


CallRow = row_type("CallRow", TABLES["calls"])
SegmentRow = row_type("SegmentRow", TABLES["segments"])
KeywordHitRow = row_type("KeywordHitRow", TABLES["keyword_hits"])
EmotionDailyRow = row_type("EmotionDailyRow", TABLES["emotion_daily"])
CallIssueRow = row_type("CallIssueRow", TABLES["call_issues"])
IncidentRow = row_type("IncidentRow", TABLES["incidents"])
StatementSampleRow = row_type("StatementSampleRow", TABLES["statement_sample"])
StatementVectorRow = row_type("StatementVectorRow", TABLES["statement_vectors"])
HandoffIncidentRow = row_type("HandoffIncidentRow", TABLES["handoff_incidents"])
HandoffCallRow = row_type("HandoffCallRow", TABLES["handoff_calls"])
Word = python_type(WORD)
PiiSpan = python_type(PII_SPAN)

ROW_TYPES: dict[str, Any] = {
    "calls": CallRow,
    "segments": SegmentRow,
    "keyword_hits": KeywordHitRow,
    "emotion_daily": EmotionDailyRow,
    "call_issues": CallIssueRow,
    "incidents": IncidentRow,
    "statement_sample": StatementSampleRow,
    "statement_vectors": StatementVectorRow,
    "handoff_incidents": HandoffIncidentRow,
    "handoff_calls": HandoffCallRow,
}

_COLUMNS = {table: frozenset(schema.names) for table, schema in TABLES.items()}


def row_fields(table: str, /, **fields: Any) -> dict[str, Any]:
    """`fields`, checked to be columns of `table` (KeyError naming any that is not)."""
    unknown = [name for name in fields if name not in _COLUMNS[table]]
    if unknown:
        raise KeyError(f"{table}: no column {', '.join(map(repr, unknown))} in the schema")
    return fields


def new_row(table: str, /, **fields: Any) -> dict[str, Any]:
    """A whole row of `table`: `fields`, and null for every other column. KeyError for a
    column the schema does not have, ValueError when a non-nullable column is not given."""
    row_fields(table, **fields)
    schema = TABLES[table]
    missing = [f.name for f in schema if not f.nullable and fields.get(f.name) is None]
    if missing:
        raise ValueError(f"{table}: no value for the non-nullable column(s) {missing}")
    return {name: fields.get(name) for name in schema.names}


def call_row(**fields: Any) -> CallRow:
    """A calls row (call_id, date and status required; the other columns null unless given)."""
    return new_row("calls", **fields)


def call_fields(**fields: Any) -> CallRow:
    """Some columns of a calls row, checked (for `row.update(call_fields(...))`)."""
    return row_fields("calls", **fields)


def segment_row(**fields: Any) -> SegmentRow:
    """A segments row (call_id, date and idx required; the other columns null unless given)."""
    return new_row("segments", **fields)
