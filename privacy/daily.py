"""Today's redaction rules applied again to stored days (no re-transcription).

The night stores `segments.text_redacted` with the rules of that night and stamps each call
with `calls.redaction_version`. `reapply_redaction` redoes the calls whose stamp is not today's
rules (all of a day stored before the stamp existed) from the stored text and word times, and
writes the day's segments and calls in one atomic write; a day already redacted with today's
rules is left as it is, without reading its segments.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from callscope.core.logs import get_logger
from callscope.privacy.redact import REDACTION_VERSION, redact_segments
from callscope.storage.schemas import to_table
from callscope.storage.warehouse import Warehouse

logger = get_logger(__name__)


@dataclass
class RedactionRun:
    day: dt.date
    segments: int  # segments redacted again (of calls not yet redacted with today's rules)
    changed: int  # segments whose redacted text is different now
    spans: int  # personal-data spans found by today's rules in those segments
    calls: int = 0  # calls redacted again
    current: int = 0  # calls already redacted with today's rules, left as they were


def reapply_redaction(store: Warehouse, day: dt.date, force: bool = False) -> RedactionRun:
    """Redact again the day's calls not stamped with today's rules (every call with `force`)."""
    calls = store.read("calls", day)
    stamps = calls["redaction_version"]
    stale = pc.invert(pc.fill_null(pc.equal(stamps, REDACTION_VERSION), False))
    stale_ids = pc.filter(calls["call_id"], stale) if not force else calls["call_id"]
    if len(stale_ids) == 0:
        logger.info(
            "redaction %s: all %d calls already redacted with %s",
            day,
            len(calls),
            REDACTION_VERSION,
        )
        return RedactionRun(day, 0, 0, 0, 0, len(calls))
    segments = store.read("segments", day)
    redo = pc.is_in(segments["call_id"], stale_ids)
    rows = segments.filter(redo).to_pylist()
    before = [row["text_redacted"] for row in rows]
    spans = redact_segments(rows)
    changed = sum(old != row["text_redacted"] for old, row in zip(before, rows, strict=True))
    tables = {"calls": _stamped(calls)}
    if changed:
        kept = segments.filter(pc.invert(redo))
        redone = to_table("segments", rows).select(kept.schema.names).cast(kept.schema)
        order = [("call_id", "ascending"), ("idx", "ascending")]
        tables["segments"] = pa.concat_tables([kept, redone]).sort_by(order)
    store.write_day(day, tables)
    run = RedactionRun(day, len(rows), changed, spans, len(stale_ids), len(calls) - len(stale_ids))
    logger.info(
        "redaction %s: %d calls redacted again (%d already current), %d of %d segments changed, "
        "%d spans",
        day,
        run.calls,
        run.current,
        changed,
        len(rows),
        spans,
    )
    return run


def _stamped(calls: pa.Table) -> pa.Table:
    column = calls.schema.get_field_index("redaction_version")
    stamp = pa.array([REDACTION_VERSION] * len(calls), pa.string())
    return calls.set_column(column, "redaction_version", stamp)
