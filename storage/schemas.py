"""The one place where every table's schema is defined.

Everything else (writers, readers, tests, the CLI's JSON output) derives from these.
"""

from __future__ import annotations

import pyarrow as pa

CALL_STATUSES = ("ok", "error")
SPEAKERS = ("agent", "customer", "ivr", "unknown")
CHANNEL_LAYOUTS = ("agent_left", "customer_left", "mono")

PII_SPAN = pa.struct(
    [
        pa.field("kind", pa.string()),  # phone|id_number|bank_card|email|address|name|im_id
        pa.field("start", pa.int32()),  # character offsets in `text`
        pa.field("end", pa.int32()),
        pa.field("start_s", pa.float32()),  # when it is said, to bleep the audio
        pa.field("end_s", pa.float32()),
    ]
)

WORD = pa.struct(
    [
        pa.field("word", pa.string()),
        pa.field("start", pa.float32()),
        pa.field("end", pa.float32()),
        pa.field("prob", pa.float32()),
    ]
)

CALLS = pa.schema(
    [
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("date", pa.date32(), nullable=False),
        pa.field("started_at", pa.timestamp("ms", tz="UTC")),
        pa.field("duration_s", pa.float64()),
        pa.field("channels", pa.int16()),
        pa.field("sample_rate", pa.int32()),
        pa.field("channel_layout", pa.string()),
        pa.field("source_uri", pa.string()),
        pa.field("audio_sha256", pa.string()),
        pa.field("agent_id", pa.string()),
        pa.field("queue", pa.string()),
        pa.field("direction", pa.string()),
        pa.field("customer_tier", pa.string()),
        pa.field("language", pa.string()),
        pa.field("asr_model", pa.string()),
        pa.field("settings_hash", pa.string()),
        pa.field("source_hash", pa.string()),  # the manifest row and channel layout in effect
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("n_segments", pa.int32()),
        pa.field("speech_s", pa.float64()),
        pa.field("processing_s", pa.float64()),
        pa.field("processed_at", pa.timestamp("ms", tz="UTC")),
        # who spoke (asr/call.py: attribute_speakers)
        pa.field("diarization", pa.string()),  # channels | the pipeline used | off
        pa.field("n_speakers", pa.int16()),
        pa.field("role_confidence", pa.float32()),
        pa.field("role_evidence", pa.string()),
        pa.field("ivr_s", pa.float64()),
        pa.field("hold_s", pa.float64()),
        # conversation metrics (asr/metrics.py defines each one)
        pa.field("talk_time_agent_s", pa.float64()),
        pa.field("talk_time_customer_s", pa.float64()),
        pa.field("silence_ratio", pa.float32()),
        pa.field("non_talk_ratio", pa.float32()),
        pa.field("overtalk_s", pa.float64()),
        pa.field("interruptions_agent", pa.int32()),
        pa.field("interruptions_customer", pa.int32()),
        pa.field("speech_rate_agent", pa.float32()),
        pa.field("speech_rate_customer", pa.float32()),
        pa.field("leading_silence_s", pa.float64()),
        pa.field("longest_silence_s", pa.float64()),
        pa.field("time_to_first_agent_s", pa.float64()),
        pa.field("n_turns_agent", pa.int32()),
        pa.field("n_turns_customer", pa.int32()),
        pa.field("redaction_version", pa.string()),  # privacy/redact.py rules the text went through
        # rule categories (keywords/categorize.py), filled after the day's calls are committed
        pa.field("categories", pa.list_(pa.string())),
        pa.field("complaint_class", pa.string()),  # business | service | network | none
        pa.field("categories_version", pa.string()),  # hash of the rule set applied
        # emotion (emotion/call.py defines each one), filled after categories
        pa.field("customer_sentiment", pa.float32()),  # -5..+5, the whole call
        pa.field("customer_sentiment_start", pa.float32()),  # the customer's first quarter of turns
        pa.field("customer_sentiment_end", pa.float32()),  # the customer's last quarter of turns
        pa.field("customer_sentiment_q", pa.list_(pa.float32())),  # by quarter of the call
        pa.field("agent_sentiment", pa.float32()),
        pa.field("agent_sentiment_q", pa.list_(pa.float32())),
        pa.field("customer_emotion", pa.string()),  # the customer's strongest emotion
        pa.field("customer_arousal", pa.float32()),  # mean over the customer's segments
        pa.field("peak_negative_s", pa.float64()),  # when the customer was most negative
        pa.field("peak_negative_sentiment", pa.float32()),
        pa.field("peak_negative_idx", pa.int32()),
        pa.field("escalation_risk", pa.bool_()),
        pa.field("escalation_risk_score", pa.float32()),  # 0..1
        pa.field("escalation_reasons", pa.list_(pa.string())),
        pa.field("emotion_version", pa.string()),
    ]
)

SEGMENTS = pa.schema(
    [
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("date", pa.date32(), nullable=False),
        pa.field("idx", pa.int32(), nullable=False),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("channel", pa.int16()),
        pa.field("speaker", pa.string()),
        pa.field("speaker_label", pa.string()),  # diarized speaker (S0, S1...) or ch0 / ch1
        pa.field("overlap", pa.bool_()),  # another speaker talked over part of it
        pa.field("text", pa.string()),
        pa.field("text_redacted", pa.string()),  # personal data replaced by [phone], [email]...
        pa.field("pii", pa.list_(PII_SPAN)),
        pa.field("words", pa.list_(WORD)),
        pa.field("language", pa.string()),
        pa.field("avg_logprob", pa.float32()),
        pa.field("no_speech_prob", pa.float32()),
        pa.field("compression_ratio", pa.float32()),
        # voice, scored with the audio at hand (emotion/prosody.py or an audio model)
        pa.field("arousal", pa.float32()),  # -1..+1 against the speaker's own baseline
        pa.field("voice_emotion", pa.string()),  # audio model's label, null for prosody
        pa.field("voice_confidence", pa.float32()),
        # text and voice together (emotion/fuse.py), filled after categories
        pa.field("sentiment", pa.float32()),  # -5..+5
        pa.field("emotion", pa.string()),  # angry | frustrated | negative | neutral | positive
        pa.field("emotion_confidence", pa.float32()),
    ]
)

KEYWORD_HITS = pa.schema(
    [
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("date", pa.date32(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("kind", pa.string()),  # any | all | near | regex
        pa.field("term", pa.string()),  # the rule phrase or pattern that matched
        pa.field("matched", pa.string()),  # the words as said
        pa.field("idx", pa.int32()),  # segment
        pa.field("speaker", pa.string()),
        pa.field("start_s", pa.float64()),  # when the match is said (word times)
        pa.field("end_s", pa.float64()),
        pa.field("char_start", pa.int32()),  # offsets in the segment text
        pa.field("char_end", pa.int32()),
        pa.field("rules_version", pa.string()),
        pa.field("match", pa.string()),  # exact | sounds_like; null in days tagged before it
    ]
)

EMOTION_DAILY = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("dimension", pa.string(), nullable=False),  # all | queue | agent | category
        pa.field("key", pa.string(), nullable=False),  # the queue, agent or category ("all")
        pa.field("role", pa.string(), nullable=False),  # customer | agent
        pa.field("calls", pa.int32()),
        pa.field("segments", pa.int32()),
        pa.field("mean_sentiment", pa.float32()),
        pa.field("mean_start", pa.float32()),
        pa.field("mean_end", pa.float32()),
        pa.field("share_negative", pa.float32()),  # calls whose sentiment is below -1
        pa.field("share_angry", pa.float32()),  # calls with an angry segment
        pa.field("share_ending_worse", pa.float32()),  # end below start by more than 1
        pa.field("share_ending_calmer", pa.float32()),  # end above start by more than 1
        pa.field("escalation_risk_calls", pa.int32()),
        pa.field("mean_arousal", pa.float32()),
        pa.field("emotion_version", pa.string()),
    ]
)

VARIANT = pa.struct(
    [
        pa.field("term", pa.string()),  # as the label spells it
        pa.field("heard", pa.list_(pa.string())),  # spellings that sound the same, most first
    ]
)

EXAMPLE = pa.struct(
    [
        pa.field("call_id", pa.string()),
        pa.field("start_s", pa.float64()),  # where the statement starts in the call
        pa.field("text", pa.string()),  # redacted issue statement
        pa.field("similarity", pa.float32()),  # to the cluster centroid
    ]
)

# one row per call of the day that has an issue statement (incidents/daily.py)
CALL_ISSUES = pa.schema(
    [
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("date", pa.date32(), nullable=False),
        pa.field("statement", pa.string()),  # the customer's reason for calling, redacted
        pa.field("statement_source", pa.string()),  # customer | unknown (no roles)
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("segments", pa.list_(pa.int32())),
        pa.field("cluster", pa.int32()),  # the day's cluster, -1 when in none
        pa.field("topic_id", pa.string()),  # stable across days, null when in no cluster
        pa.field("similarity", pa.float32()),  # to its cluster's centroid
        pa.field("incidents_version", pa.string()),
    ]
)

# one row per topic cluster and per rule category of the day, scored against trailing days
INCIDENTS = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("incident_id", pa.string(), nullable=False),  # topic:<topic_id> | category:<name>
        pa.field("kind", pa.string(), nullable=False),  # topic | category
        pa.field("topic_id", pa.string()),
        pa.field("category", pa.string()),
        pa.field("label", pa.string()),
        pa.field("terms", pa.list_(pa.string())),  # most distinctive terms (c-TF-IDF)
        pa.field("variants", pa.list_(VARIANT)),  # other spellings heard of its terms
        pa.field("categories", pa.list_(pa.string())),  # rule categories of most of its calls
        pa.field("calls", pa.int32()),  # observed today
        pa.field("share", pa.float32()),  # of the day's calls
        pa.field("expected", pa.float32()),  # from the trailing days
        pa.field("baseline_days", pa.int16()),  # trailing days the expectation is based on
        pa.field("ratio", pa.float32()),  # (calls + 1) / (expected + 1)
        pa.field("p_value", pa.float64()),
        pa.field("score", pa.float32()),  # -log10 p, capped at 50
        pa.field("is_spike", pa.bool_()),
        pa.field("method", pa.string()),  # poisson | negbin | new
        pa.field("first_seen", pa.date32()),
        pa.field("queues", pa.list_(pa.string())),  # most frequent first
        pa.field("mean_sentiment", pa.float32()),  # customers, -5..+5
        pa.field("escalation_risk_calls", pa.int32()),
        pa.field("call_ids", pa.list_(pa.string())),
        pa.field("examples", pa.list_(EXAMPLE)),
        pa.field("centroid", pa.list_(pa.float32())),  # topics only: for matching later days
        pa.field("incidents_version", pa.string()),
    ]
)

# each call's issue statement embedded where the call was processed (a part's worker), so the
# day's incidents step embeds only what changed since (incidents/daily.py)
STATEMENT_VECTORS = pa.schema(
    [
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("date", pa.date32(), nullable=False),
        pa.field("text", pa.string()),  # the statement embedded (redacted)
        pa.field("model", pa.string()),  # incidents.embedding_model
        pa.field("vector", pa.list_(pa.float32())),  # unit length
    ]
)

# a uniform sample of the day's statement embeddings (all of them on days up to `sample_size`),
# so that a topic first seen later can be counted on the days before it existed
STATEMENT_SAMPLE = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("vector", pa.list_(pa.float16())),
        pa.field("weight", pa.float32()),  # statements of the day this point stands for
    ]
)

# the marketing hand-off: derived from the tables above, without vectors or internal ids, and
# arranged as it is told (incidents/stories.py): each story once, with its facets
HANDOFF_INCIDENTS = pa.schema(
    [f for f in INCIDENTS if f.name not in ("centroid",)]
    + [
        pa.field("section", pa.string()),  # story | facet | aspect | emerging | null: table only
        pa.field("title", pa.string()),  # a section's heading (its incident's label, a topic's
        # prefixed by the rule category holding most of its calls)
        pa.field("story_id", pa.string()),  # incident_id of the section it is told in
        pa.field("story_rank", pa.int16()),  # the section's place in summary.md, from 1
        pa.field("story_calls", pa.int32()),  # calls it shares with that section's incident
        pa.field("first_call_at", pa.timestamp("ms", tz="UTC")),
        pa.field("last_call_at", pa.timestamp("ms", tz="UTC")),
        pa.field("calls_by_hour", pa.list_(pa.int32())),  # 24 counts, hours of `timezone`
        pa.field(
            "queue_shares",  # its calls per queue, and their share of that queue's calls
            pa.list_(
                pa.struct(
                    [
                        pa.field("queue", pa.string()),
                        pa.field("calls", pa.int32()),
                        pa.field("share", pa.float32()),
                    ]
                )
            ),
        ),
        pa.field(
            "directions",
            pa.list_(
                pa.struct([pa.field("direction", pa.string()), pa.field("calls", pa.int32())])
            ),
        ),
        pa.field("rule", pa.string()),  # categories: the rule that defines the category
        pa.field("catalogue_names", pa.list_(pa.string())),  # the catalogue's names it mentions
    ]
)
HANDOFF_CALL_FIELDS = (
    "call_id", "date", "started_at", "duration_s", "queue", "direction", "customer_tier",
    "language", "categories", "complaint_class", "customer_sentiment", "customer_emotion",
    "escalation_risk",
)  # fmt: skip
HANDOFF_CALLS = pa.schema(
    [CALLS.field(name) for name in HANDOFF_CALL_FIELDS]
    + [
        CALL_ISSUES.field("statement"),
        CALL_ISSUES.field("topic_id"),
        pa.field("incident", pa.string()),  # its topic's label
        pa.field("story_id", pa.string()),  # the first section of summary.md that counts it
    ]
)

COMPLAINT_CLASSES = ("business", "service", "network", "none")

TABLES: dict[str, pa.Schema] = {
    "calls": CALLS,
    "segments": SEGMENTS,
    "keyword_hits": KEYWORD_HITS,
    "emotion_daily": EMOTION_DAILY,
    "call_issues": CALL_ISSUES,
    "incidents": INCIDENTS,
    "statement_sample": STATEMENT_SAMPLE,
    "statement_vectors": STATEMENT_VECTORS,
    "handoff_incidents": HANDOFF_INCIDENTS,
    "handoff_calls": HANDOFF_CALLS,
}


PARTITION_KEY = "date"
# the tables stored as <table>/date=YYYY-MM-DD/ partitions (the hand-off ones are files of a bundle)
PARTITIONED_TABLES = (
    "calls", "segments", "keyword_hits", "emotion_daily", "call_issues", "incidents",
    "statement_sample",
)  # fmt: skip


def file_schema(name: str) -> pa.Schema:
    """What a partition file of `name` holds: its schema without the partition key, which lives
    in the folder name only (as Hive and Spark write it)."""
    schema = TABLES[name]
    index = schema.get_field_index(PARTITION_KEY)
    return schema.remove(index) if index >= 0 else schema


def empty_table(name: str) -> pa.Table:
    return TABLES[name].empty_table()


def to_table(name: str, rows: list[dict]) -> pa.Table:
    """Build a table of `name` from row dicts, checking every column against the schema."""
    schema = TABLES[name]
    unknown = {key for row in rows for key in row} - set(schema.names)
    if unknown:
        raise ValueError(f"{name}: columns not in the schema: {sorted(unknown)}")
    return pa.Table.from_pylist(rows, schema=schema)
