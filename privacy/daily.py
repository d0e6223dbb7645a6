"""Today's redaction rules applied again to stored days (no re-transcription).

The night stores `segments.text_redacted` with the rules of that night. When the rules improve,
`reapply_redaction` rewrites a day's redacted text and personal-data spans from the stored text
and word times, in one atomic write of the day's segments.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core.logs import get_logger
from privacy.redact import redact_segments
from storage.schemas import to_table
from storage.warehouse import Warehouse

logger = get_logger(__name__)


@dataclass
class RedactionRun:
    day: dt.date
    segments: int
    changed: int  # segments whose redacted text is different now
    spans: int  # personal-data spans found by today's rules


def reapply_redaction(store: Warehouse, day: dt.date) -> RedactionRun:
    rows = store.read("segments", day).to_pylist()
    before = [row["text_redacted"] for row in rows]
    spans = redact_segments(rows)
    changed = sum(old != row["text_redacted"] for old, row in zip(before, rows, strict=True))
    if changed:
        store.replace_day("segments", day, to_table("segments", rows))
    logger.info("redaction %s: %d of %d segments changed, %d spans", day, changed, len(rows), spans)
    return RedactionRun(day, len(rows), changed, spans)
