"""Generated calls stored as a night stores them, for tests that build small text-only days
(synth/ plans, no audio, no ASR)."""

from __future__ import annotations

import datetime as dt

from callscope.privacy.redact import REDACTION_VERSION, redact_segments

PROCESSED_AT = dt.datetime(2026, 10, 5, tzinfo=dt.UTC)


def processed_call(call, day: dt.date, redacted: bool = True) -> tuple[dict, list[dict]]:
    """A planned call's calls row and segments as a part stages them; `redacted=False` stores
    them as rules older than any personal-data rule would have (text kept, version redact-0)."""
    segments = [{**s, "call_id": call.call_id, "date": day} for s in call.segments(asr_style=True)]
    if redacted:
        redact_segments(segments)
    else:
        for segment in segments:
            segment |= {"text_redacted": segment["text"], "pii": []}
    row = {
        "call_id": call.call_id,
        "date": day,
        "status": "ok",
        "started_at": call.started_at,
        "processed_at": PROCESSED_AT,
        "queue": call.queue,
        "agent_id": call.agent_id,
        "language": call.language,
        "n_segments": len(segments),
        "duration_s": round(segments[-1]["end_s"], 3),
        "redaction_version": REDACTION_VERSION if redacted else "redact-0",
    }
    return row, segments
