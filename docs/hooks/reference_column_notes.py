"""Meanings of the columns that `storage/schemas.py` leaves without a comment or a
`description` in their field metadata. The schema's own words win: a column described there
is not looked up here, and `tests/test_docs.py` fails on a note for a column that no longer
exists. Keys are (definition in storage/schemas.py, column)."""

from __future__ import annotations

NOTES: dict[tuple[str, str], str] = {
    # calls
    ("CALLS", "call_id"): "the recording's name without its extension (`<call_id>.<ext>`); a "
    "name not in UTF-8 is read as GB18030, or with `%XX` for bytes that are no text",
    ("CALLS", "date"): "the day of its recordings folder (`<recordings>/<YYYY-MM-DD>/`); in "
    "the files it lives in the folder name only (`date=YYYY-MM-DD`)",
    ("CALLS", "started_at"): "from the manifest; a time without an offset is read in `timezone`",
    ("CALLS", "duration_s"): "length of the recording, seconds",
    ("CALLS", "channels"): "audio channels of the recording",
    ("CALLS", "sample_rate"): "of the recording, Hz",
    ("CALLS", "channel_layout"): "agent_left | customer_left | mono: the manifest's, else "
    "`source.default_channel_layout` (a stereo file carrying the same mix twice is mono)",
    ("CALLS", "source_uri"): "the recording's exact path (a `file:` URI where it is not UTF-8)",
    ("CALLS", "audio_sha256"): "SHA-256 of the recording's bytes: part of the call's key; the "
    "web app serves the audio only while the file still has it",
    ("CALLS", "agent_id"): "from the manifest",
    ("CALLS", "queue"): "from the manifest",
    ("CALLS", "direction"): "inbound | outbound, from the manifest",
    ("CALLS", "customer_tier"): "from the manifest",
    ("CALLS", "language"): "the language with most speech in the call, among `asr.languages`",
    ("CALLS", "asr_model"): "the recognition model that transcribed it",
    ("CALLS", "settings_hash"): "hash of the settings that shape the call's rows "
    "(transcription, diarization, roles, each per-call step's version): part of its key",
    ("CALLS", "status"): "ok | error",
    ("CALLS", "error"): "why the call has no transcript, naming the file and the fix",
    ("CALLS", "n_segments"): "segments stored",
    ("CALLS", "speech_s"): "seconds of voiced audio found, over its channels",
    ("CALLS", "processing_s"): "wall seconds the call took to process",
    ("CALLS", "processed_at"): "when it was processed",
    ("CALLS", "n_speakers"): "people found",
    ("CALLS", "role_confidence"): "0.5..1: how sure the agent / customer roles are",
    ("CALLS", "role_evidence"): "why, e.g. `S1=agent (3 agent / 0 customer phrases)`",
    ("CALLS", "ivr_s"): "seconds of IVR prompts: neither talk nor silence",
    ("CALLS", "hold_s"): "seconds of hold (music, tones): neither talk nor silence",
    ("CALLS", "talk_time_agent_s"): "seconds the agent speaks",
    ("CALLS", "talk_time_customer_s"): "seconds the customer speaks",
    ("CALLS", "silence_ratio"): "share of the call with nobody speaking",
    ("CALLS", "non_talk_ratio"): "share of the call with neither agent nor customer speaking",
    ("CALLS", "overtalk_s"): "seconds agent and customer speak at once",
    ("CALLS", "interruptions_agent"): "times the agent starts >= 1 s of speech while the "
    "customer has spoken >= 1 s and goes on >= 0.5 s (backchannels are overtalk)",
    ("CALLS", "interruptions_customer"): "the same, the customer interrupting the agent",
    ("CALLS", "speech_rate_agent"): "characters a minute (Mandarin) or words a minute",
    ("CALLS", "speech_rate_customer"): "characters a minute (Mandarin) or words a minute",
    ("CALLS", "leading_silence_s"): "time before anything is heard",
    ("CALLS", "longest_silence_s"): "longest gap between speech",
    ("CALLS", "time_to_first_agent_s"): "when the agent first speaks",
    ("CALLS", "n_turns_agent"): "the agent's turns",
    ("CALLS", "n_turns_customer"): "the customer's turns",
    ("CALLS", "categories"): "the rule categories the call fell into",
    ("CALLS", "agent_sentiment"): "-5..+5, the agent's turns, length-weighted (the last turn "
    "weighs `emotion.end_weight` times the first)",
    ("CALLS", "agent_sentiment_q"): "by quarter of the call",
    ("CALLS", "peak_negative_sentiment"): "the customer's most negative sentiment",
    ("CALLS", "peak_negative_idx"): "the segment it was said in",
    ("CALLS", "escalation_risk"): "escalation_risk_score at or above "
    "`emotion.escalation_threshold`",
    ("CALLS", "escalation_reasons"): "what added up to the score",
    ("CALLS", "emotion_version"): "version of the emotion step (code and settings) that "
    "scored the call",
    # segments
    ("SEGMENTS", "call_id"): "the call",
    ("SEGMENTS", "date"): "the call's day",
    ("SEGMENTS", "idx"): "the segment's place in the call",
    ("SEGMENTS", "start_s"): "seconds from the start of the recording",
    ("SEGMENTS", "end_s"): "seconds from the start of the recording",
    ("SEGMENTS", "channel"): "the audio channel it was heard on",
    ("SEGMENTS", "speaker"): "agent | customer | ivr | unknown",
    ("SEGMENTS", "text"): "as transcribed: Simplified Chinese with full-width punctuation, or "
    "English",
    ("SEGMENTS", "pii"): "personal data found in `text`: each span's kind, character offsets "
    "and when it is said (from word times), so the audio can be bleeped",
    ("SEGMENTS", "words"): "each word with its times and probability",
    ("SEGMENTS", "language"): "the language it was transcribed in",
    ("SEGMENTS", "avg_logprob"): "the recogniser's mean token log-probability",
    ("SEGMENTS", "no_speech_prob"): "the recogniser's probability that it is no speech",
    ("SEGMENTS", "compression_ratio"): "of the text (high: repeated text)",
    ("SEGMENTS", "voice_confidence"): "the audio model's confidence in its label",
    ("SEGMENTS", "emotion_confidence"): "confidence in `emotion`",
    # words and spans
    ("WORD", "word"): "as written",
    ("WORD", "start"): "seconds from the start of the recording",
    ("WORD", "end"): "seconds from the start of the recording",
    ("WORD", "prob"): "the recogniser's probability",
    ("PII_SPAN", "end"): "end offset in `text`",
    ("PII_SPAN", "end_s"): "when it ends",
    # keyword_hits
    ("KEYWORD_HITS", "call_id"): "the call",
    ("KEYWORD_HITS", "date"): "the call's day",
    ("KEYWORD_HITS", "category"): "the rule category",
    ("KEYWORD_HITS", "speaker"): "who said it",
    ("KEYWORD_HITS", "end_s"): "when the match ends",
    ("KEYWORD_HITS", "char_end"): "end offset in the segment text",
    ("KEYWORD_HITS", "rules_version"): "hash of the rule set that tagged it",
    # emotion_daily
    ("EMOTION_DAILY", "date"): "the day",
    ("EMOTION_DAILY", "calls"): "calls counted",
    ("EMOTION_DAILY", "segments"): "the role's turns in those calls",
    ("EMOTION_DAILY", "mean_sentiment"): "mean call sentiment of the role, -5..+5",
    (
        "EMOTION_DAILY",
        "mean_start",
    ): "customers: mean sentiment of the calls' first quarter of turns",
    ("EMOTION_DAILY", "mean_end"): "customers: mean sentiment of the calls' last quarter of turns",
    ("EMOTION_DAILY", "escalation_risk_calls"): "calls at risk of escalation",
    ("EMOTION_DAILY", "mean_arousal"): "mean voice arousal, -1..+1",
    ("EMOTION_DAILY", "emotion_version"): "version of the emotion step that wrote the row",
    # call_issues
    ("CALL_ISSUES", "call_id"): "the call",
    ("CALL_ISSUES", "date"): "the call's day",
    ("CALL_ISSUES", "start_s"): "where the statement starts in the call",
    ("CALL_ISSUES", "end_s"): "where it ends",
    ("CALL_ISSUES", "segments"): "the segments (idx) it was taken from",
    ("CALL_ISSUES", "incidents_version"): "version of the incidents step that wrote it",
    # incidents
    ("INCIDENTS", "date"): "the day",
    ("INCIDENTS", "topic_id"): "topics: kept across nights (`T20261120-01`)",
    ("INCIDENTS", "category"): "categories: the rule category",
    ("INCIDENTS", "label"): "its title",
    ("INCIDENTS", "p_value"): "tail probability of today's count against the expected one",
    ("INCIDENTS", "is_spike"): "p below `incidents.alpha`, at least `incidents.min_calls` calls "
    "and `incidents.min_ratio` times the expected count",
    ("INCIDENTS", "examples"): "its calls closest to the centroid (topics), as examples",
    ("INCIDENTS", "first_seen"): "the day the topic was first seen",
    ("INCIDENTS", "escalation_risk_calls"): "its calls at risk of escalation",
    ("INCIDENTS", "call_ids"): "its calls",
    ("INCIDENTS", "incidents_version"): "version of the incidents step that wrote it",
    # statement vectors and the sample
    ("STATEMENT_VECTORS", "call_id"): "the call",
    ("STATEMENT_VECTORS", "date"): "the call's day",
    ("STATEMENT_SAMPLE", "date"): "the day",
    ("STATEMENT_SAMPLE", "vector"): "a statement embedding",
    # the hand-off
    ("HANDOFF_INCIDENTS", "first_call_at"): "its first call",
    ("HANDOFF_INCIDENTS", "last_call_at"): "its last call",
    ("HANDOFF_INCIDENTS", "directions"): "its calls per direction",
    ("HANDOFF_INCIDENTS", "queue_shares.queue"): "the queue",
    ("HANDOFF_INCIDENTS", "queue_shares.calls"): "its calls in that queue",
    ("HANDOFF_INCIDENTS", "queue_shares.share"): "their share of the queue's calls of the day",
    ("HANDOFF_INCIDENTS", "directions.direction"): "inbound | outbound",
    ("HANDOFF_INCIDENTS", "directions.calls"): "its calls in that direction",
    ("EXAMPLE", "call_id"): "the call",
}
