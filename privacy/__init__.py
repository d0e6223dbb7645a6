"""Personal-data (PII) detection and redaction for transcripts and search snippets."""

from callscope.privacy.redact import KINDS, PiiSpan, find_pii, redact, redact_segment

__all__ = ["KINDS", "PiiSpan", "find_pii", "redact", "redact_segment"]
