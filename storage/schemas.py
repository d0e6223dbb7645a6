"""The one place where every table's schema is defined, and what each of its columns means.

Everything else (writers, readers, tests, the CLI's JSON output) derives from these. Beside
each schema, a mapping gives each column's meaning (`<SCHEMA>_MEANINGS`, by table in
`COLUMN_MEANINGS`): the table reference of the documentation shows them, and
tests/test_docs.py fails on a column without one or a meaning of a column that is not there.
A struct's fields are named below their column (`pii.kind`). The meanings are plain data,
never the schemas' field metadata: that would change the schema of the files already written.
"""

from __future__ import annotations

import pyarrow as pa

CALL_STATUSES = ("ok", "error")
SPEAKERS = ("agent", "customer", "ivr", "unknown")
CHANNEL_LAYOUTS = ("agent_left", "customer_left", "mono")


def _nested(column: str, meanings: dict[str, str]) -> dict[str, str]:
    """The meanings of a struct's fields, named below the column that holds it (pii.kind)."""
    return {f"{column}.{name}": words for name, words in meanings.items()}


def _taken(meanings: dict[str, str], columns) -> dict[str, str]:
    """The meanings of `columns` (and of their fields) as the table they come from gives them."""
    return {key: words for key, words in meanings.items() if key.split(".")[0] in columns}


PII_SPAN = pa.struct(
    [
        pa.field("kind", pa.string()),
        pa.field("start", pa.int32()),
        pa.field("end", pa.int32()),
        pa.field("start_s", pa.float32()),
        pa.field("end_s", pa.float32()),
    ]
)
PII_SPAN_MEANINGS = {
    "kind": "phone | id_number | bank_card | email | address | name | im_id",
    "start": "where it starts in `text`, a character offset",
    "end": "where it ends in `text`, a character offset (the first one after it)",
    "start_s": "when it is said, seconds from the start of the recording (from word times), "
    "so the audio can be bleeped",
    "end_s": "when it has been said, seconds from the start of the recording",
}

WORD = pa.struct(
    [
        pa.field("word", pa.string()),
        pa.field("start", pa.float32()),
        pa.field("end", pa.float32()),
        pa.field("prob", pa.float32()),
    ]
)
WORD_MEANINGS = {
    "word": "the word as transcribed (Simplified Chinese for zh)",
    "start": "when it starts, seconds from the start of the recording",
    "end": "when it ends, seconds from the start of the recording",
    "prob": "the recogniser's probability of the word, 0..1",
}

# one row per recording of the day, processed or not (status error: why not)
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
        pa.field("source_hash", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("n_segments", pa.int32()),
        pa.field("speech_s", pa.float64()),
        pa.field("processing_s", pa.float64()),
        pa.field("processed_at", pa.timestamp("ms", tz="UTC")),
        # who spoke (asr/call.py: attribute_speakers)
        pa.field("diarization", pa.string()),
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
        # personal data (privacy/redact.py)
        pa.field("redaction_version", pa.string()),
        # rule categories (keywords/categorize.py), filled after the day's calls are committed
        pa.field("categories", pa.list_(pa.string())),
        pa.field("complaint_class", pa.string()),
        pa.field("categories_version", pa.string()),
        # emotion (emotion/call.py defines each one), filled after categories
        pa.field("customer_sentiment", pa.float32()),
        pa.field("customer_sentiment_start", pa.float32()),
        pa.field("customer_sentiment_end", pa.float32()),
        pa.field("customer_sentiment_q", pa.list_(pa.float32())),
        pa.field("agent_sentiment", pa.float32()),
        pa.field("agent_sentiment_q", pa.list_(pa.float32())),
        pa.field("customer_emotion", pa.string()),
        pa.field("customer_arousal", pa.float32()),
        pa.field("peak_negative_s", pa.float64()),
        pa.field("peak_negative_sentiment", pa.float32()),
        pa.field("peak_negative_idx", pa.int32()),
        pa.field("escalation_risk", pa.bool_()),
        pa.field("escalation_risk_score", pa.float32()),
        pa.field("escalation_reasons", pa.list_(pa.string())),
        pa.field("emotion_version", pa.string()),
        pa.field("emotion_scores", pa.string()),
    ]
)
CALLS_MEANINGS = {
    "call_id": "the recording's name without its extension (`<call_id>.<ext>`); a name not in "
    "UTF-8 is read as GB18030, or with `%XX` for bytes that are no text",
    "date": "the day of its recordings folder (`<recordings>/<YYYY-MM-DD>/`); in the files it "
    "lives in the folder name only (`date=YYYY-MM-DD`)",
    "started_at": "when the call started, from the manifest (null without one); a time without "
    "an offset is read in `timezone`",
    "duration_s": "length of the recording, seconds",
    "channels": "audio channels of the recording (1: mono, 2: stereo)",
    "sample_rate": "sample rate of the recording, Hz (it is decoded at 16 kHz)",
    "channel_layout": "agent_left | customer_left | mono: the manifest's, else "
    "`source.default_channel_layout`; mono for a mono file, or a stereo one carrying the same "
    "mix twice",
    "source_uri": "the recording's absolute path (a `file:` URI where the path is not UTF-8)",
    "audio_sha256": "SHA-256 of the recording's bytes: part of the call's key; the web app "
    "serves the audio only while the file still has it",
    "agent_id": "the agent's id, from the manifest (also picks the agent's voiceprint)",
    "queue": "the queue or skill group it came in on, from the manifest",
    "direction": "inbound | outbound, from the manifest",
    "customer_tier": "the customer's tier, from the manifest",
    "language": "the language with most speech in the call, among `asr.languages`",
    "asr_model": "the recognition model that transcribed it (`asr.model`)",
    "settings_hash": "hash of the settings that shape the call's rows (transcription, "
    "diarization, roles, each per-call step's version): part of its key",
    "source_hash": "hash of the manifest row and the channel layout in effect: part of its key, "
    "so a corrected row redoes the call",
    "status": "ok | error",
    "error": "why the call has no transcript, naming the file and the fix; null when ok",
    "n_segments": "segments stored for the call",
    "speech_s": "seconds of voiced audio found, summed over its channels",
    "processing_s": "wall seconds the call took to process",
    "processed_at": "when it was processed",
    "diarization": "how speakers were told apart: channels (stereo), the diarization pipeline "
    "used (mono), or off",
    "n_speakers": "voices that said something: 2 for a stereo call, the diarized speakers of a "
    "mono one (an IVR voice included, hold music not)",
    "role_confidence": "0.5..1: how sure the agent / customer roles are (1 for stereo); null "
    "when no one spoke or diarization is off",
    "role_evidence": "why, e.g. `S1=agent (3 agent / 0 customer phrases)`",
    "ivr_s": "seconds of IVR prompts: neither talk nor silence",
    "hold_s": "seconds of hold (music, tones): neither talk nor silence",
    "talk_time_agent_s": "seconds the agent speaks",
    "talk_time_customer_s": "seconds the customer speaks",
    "silence_ratio": "share of the call (0..1) in which nothing is heard: no one speaking, no "
    "hold, no IVR",
    "non_talk_ratio": "share of the call (0..1) with neither agent nor customer speaking",
    "overtalk_s": "seconds agent and customer speak at once",
    "interruptions_agent": "times the agent starts >= 1 s of speech while the customer has "
    "spoken >= 1 s and goes on >= 0.5 s (backchannels are overtalk)",
    "interruptions_customer": "the same, the customer interrupting the agent",
    "speech_rate_agent": "the agent's characters a minute of talk (Mandarin) or words a minute",
    "speech_rate_customer": "the customer's characters a minute of talk (Mandarin) or words a "
    "minute",
    "leading_silence_s": "seconds before anything is heard",
    "longest_silence_s": "longest gap in which nothing is heard between the first and the last "
    "sound, seconds",
    "time_to_first_agent_s": "seconds until the agent first speaks; null if they never do",
    "n_turns_agent": "the agent's turns: stretches of their speech that the customer does not "
    "break (a backchannel inside one does not)",
    "n_turns_customer": "the customer's turns, counted the same way",
    "redaction_version": "version of the redaction rules the text went through",
    "categories": "the rule categories the call fell into (`keywords.rules`)",
    "complaint_class": "business | service | network | none: the class, in the rule file, with "
    "the most hits among the call's categories",
    "categories_version": "hash of the rule set that tagged it",
    "customer_sentiment": "-5..+5, the customer's turns, length-weighted (the last turn weighs "
    "`emotion.end_weight` times the first)",
    "customer_sentiment_start": "mean sentiment of the customer's first quarter of turns",
    "customer_sentiment_end": "mean sentiment of the customer's last quarter of turns",
    "customer_sentiment_q": "the customer's sentiment in each quarter of the call (null for a "
    "quarter they did not speak in)",
    "agent_sentiment": "-5..+5, the agent's turns, length-weighted (the last turn weighs "
    "`emotion.end_weight` times the first)",
    "agent_sentiment_q": "the agent's sentiment in each quarter of the call",
    "customer_emotion": "angry or frustrated when any customer segment is, else negative | "
    "neutral | positive from customer_sentiment",
    "customer_arousal": "mean voice arousal of the customer's segments, -1..+1",
    "peak_negative_s": "when the customer's most negative segment starts, seconds (null when "
    "none is below 0)",
    "peak_negative_sentiment": "the sentiment of that segment",
    "peak_negative_idx": "that segment (`segments.idx`)",
    "escalation_risk": "escalation_risk_score at or above `emotion.escalation_threshold`",
    "escalation_risk_score": "0..1: points for each sign that the customer may escalate",
    "escalation_reasons": "the signs that added up to the score (escalation category, repeat or "
    "rudeness, angry, frustrated, ends negative, ends worse)",
    "emotion_version": "version of the emotion step (code and settings) that scored the call",
    "emotion_scores": "version of the scoring (code and emotion settings) its segments' sentiment "
    "and emotion and its summary were made with, where it was processed or by the emotion step",
}

# one row per stretch of one speaker's speech, in time order (a call with status error has none)
SEGMENTS = pa.schema(
    [
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("date", pa.date32(), nullable=False),
        pa.field("idx", pa.int32(), nullable=False),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("channel", pa.int16()),
        pa.field("speaker", pa.string()),
        pa.field("speaker_label", pa.string()),
        pa.field("overlap", pa.bool_()),
        pa.field("text", pa.string()),
        pa.field("text_redacted", pa.string()),
        pa.field("pii", pa.list_(PII_SPAN)),
        pa.field("words", pa.list_(WORD)),
        pa.field("language", pa.string()),
        pa.field("avg_logprob", pa.float32()),
        pa.field("no_speech_prob", pa.float32()),
        pa.field("compression_ratio", pa.float32()),
        # voice, scored with the audio at hand (emotion/prosody.py or an audio model)
        pa.field("arousal", pa.float32()),
        pa.field("voice_emotion", pa.string()),
        pa.field("voice_confidence", pa.float32()),
        # text and voice together (emotion/fuse.py), filled after categories
        pa.field("sentiment", pa.float32()),
        pa.field("emotion", pa.string()),
        pa.field("emotion_confidence", pa.float32()),
    ]
)
SEGMENTS_MEANINGS = {
    "call_id": "the call",
    "date": "the call's day",
    "idx": "the segment's place in the call, from 0",
    "start_s": "when it starts, seconds from the start of the recording",
    "end_s": "when it ends, seconds from the start of the recording",
    "channel": "the audio channel it was heard on: 0 (left, or mono), 1 (right)",
    "speaker": "agent | customer | ivr | unknown",
    "speaker_label": "the diarized speaker (S0, S1... in the order they first speak) or the "
    "channel (ch0, ch1); null without diarization",
    "overlap": "another speaker talked over part of it",
    "text": "as transcribed: Simplified Chinese with full-width punctuation, or English",
    "text_redacted": "`text` with personal data replaced by its kind: [phone], [email]...",
    "pii": "personal data found in `text`: each span's kind, character offsets and when it is said",
    **_nested("pii", PII_SPAN_MEANINGS),
    "words": "each word with its times and probability",
    **_nested("words", WORD_MEANINGS),
    "language": "the language it was transcribed in",
    "avg_logprob": "the recogniser's mean token log-probability",
    "no_speech_prob": "the recogniser's probability that it is no speech",
    "compression_ratio": "how much the text compresses (high: repeated text)",
    "arousal": "-1..+1: how aroused the voice sounds against the speaker's own baseline",
    "voice_emotion": "an audio emotion model's label; null with prosody",
    "voice_confidence": "the audio model's confidence in its label",
    "sentiment": "-5..+5: the text's valence, an audio model's mixed in by "
    "`emotion.voice_weight`; null for IVR",
    "emotion": "angry | frustrated | negative | neutral | positive: the text's, angry when a "
    "negative or frustrated one is said with arousal of `emotion.angry_arousal` or more, or an "
    "audio model hears anger",
    "emotion_confidence": "confidence in `emotion`",
}

# one row per place a rule category's term was said (keywords/categorize.py)
KEYWORD_HITS = pa.schema(
    [
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("date", pa.date32(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("kind", pa.string()),
        pa.field("term", pa.string()),
        pa.field("matched", pa.string()),
        pa.field("idx", pa.int32()),
        pa.field("speaker", pa.string()),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("char_start", pa.int32()),
        pa.field("char_end", pa.int32()),
        pa.field("rules_version", pa.string()),
        pa.field("match", pa.string()),
    ]
)
KEYWORD_HITS_MEANINGS = {
    "call_id": "the call",
    "date": "the call's day",
    "category": "the rule category",
    "kind": "any | all | near | regex: the kind of rule that matched",
    "term": "the rule phrase or pattern that matched",
    "matched": "the words as said (from `segments.text`)",
    "idx": "the segment it was said in (`segments.idx`)",
    "speaker": "who said it",
    "start_s": "when the match is said, seconds (from word times, else its place in the segment)",
    "end_s": "when the match ends, seconds",
    "char_start": "where the match starts in the segment's `text`, a character offset",
    "char_end": "where it ends in the segment's `text` (the first character after it)",
    "rules_version": "hash of the rule set that tagged it",
    "match": "exact | sounds_like; null in days tagged before it",
}

# one row per day, slice of its calls (all, a queue, an agent, a rule category) and role: the
# calls' emotion summed up for trends (emotion/daily.py)
EMOTION_DAILY = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("dimension", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),
        pa.field("calls", pa.int32()),
        pa.field("segments", pa.int32()),
        pa.field("mean_sentiment", pa.float32()),
        pa.field("mean_start", pa.float32()),
        pa.field("mean_end", pa.float32()),
        pa.field("share_negative", pa.float32()),
        pa.field("share_angry", pa.float32()),
        pa.field("share_ending_worse", pa.float32()),
        pa.field("share_ending_calmer", pa.float32()),
        pa.field("escalation_risk_calls", pa.int32()),
        pa.field("mean_arousal", pa.float32()),
        pa.field("emotion_version", pa.string()),
    ]
)
EMOTION_DAILY_MEANINGS = {
    "date": "the day",
    "dimension": "all | queue | agent | category: how the day's calls are sliced",
    "key": "the queue, agent_id or rule category (all for dimension all; (unknown) or (none) "
    "for calls without one); a call counts in each of its categories",
    "role": "customer | agent: whose sentiment",
    "calls": "calls of the slice in which the role was scored",
    "segments": "the role's turns in those calls",
    "mean_sentiment": "mean call sentiment of the role, -5..+5",
    "mean_start": "customers: mean sentiment of the calls' first quarter of turns",
    "mean_end": "customers: mean sentiment of the calls' last quarter of turns",
    "share_negative": "share of the calls whose sentiment (of the role) is below -1",
    "share_angry": "customers: share of the calls with an angry customer",
    "share_ending_worse": "customers: share of the calls ending more than 1 below their start",
    "share_ending_calmer": "customers: share of the calls ending more than 1 above their start",
    "escalation_risk_calls": "customers: calls flagged `escalation_risk`",
    "mean_arousal": "customers: mean voice arousal, -1..+1",
    "emotion_version": "version of the emotion step that wrote the row",
}

VARIANT = pa.struct(
    [
        pa.field("term", pa.string()),
        pa.field("heard", pa.list_(pa.string())),
    ]
)
VARIANT_MEANINGS = {
    "term": "the term as the label spells it",
    "heard": "spellings heard that sound the same, most frequent first",
}

EXAMPLE = pa.struct(
    [
        pa.field("call_id", pa.string()),
        pa.field("start_s", pa.float64()),
        pa.field("text", pa.string()),
        pa.field("similarity", pa.float32()),
    ]
)
EXAMPLE_MEANINGS = {
    "call_id": "the call",
    "start_s": "where the statement starts in the call, seconds",
    "text": "the issue statement, redacted",
    "similarity": "cosine similarity to the topic's centroid; null for a category",
}

# one row per call of the day that has an issue statement (incidents/daily.py)
CALL_ISSUES = pa.schema(
    [
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("date", pa.date32(), nullable=False),
        pa.field("statement", pa.string()),
        pa.field("statement_source", pa.string()),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("segments", pa.list_(pa.int32())),
        pa.field("cluster", pa.int32()),
        pa.field("topic_id", pa.string()),
        pa.field("similarity", pa.float32()),
        pa.field("incidents_version", pa.string()),
    ]
)
CALL_ISSUES_MEANINGS = {
    "call_id": "the call",
    "date": "the call's day",
    "statement": "the customer's reason for calling, in their own words, redacted",
    "statement_source": "customer | unknown: the customer's turns, or every turn but the IVR's "
    "and the agent-sounding ones where the call has no roles",
    "start_s": "where the statement starts in the call, seconds",
    "end_s": "where it ends, seconds",
    "segments": "the segments (`segments.idx`) it was taken from",
    "cluster": "its cluster among the day's statements, -1 when in none",
    "topic_id": "the topic it counts for: the nearest topic, when at least "
    "`incidents.assign_similarity` close; null otherwise",
    "similarity": "cosine similarity to the nearest topic's centroid",
    "incidents_version": "version of the incidents step that wrote it",
}

# one row per topic cluster and per rule category of the day, scored against trailing days
INCIDENTS = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("incident_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("topic_id", pa.string()),
        pa.field("category", pa.string()),
        pa.field("label", pa.string()),
        pa.field("terms", pa.list_(pa.string())),
        pa.field("variants", pa.list_(VARIANT)),
        pa.field("categories", pa.list_(pa.string())),
        pa.field("calls", pa.int32()),
        pa.field("share", pa.float32()),
        pa.field("expected", pa.float32()),
        pa.field("baseline_days", pa.int16()),
        pa.field("ratio", pa.float32()),
        pa.field("p_value", pa.float64()),
        pa.field("score", pa.float32()),
        pa.field("is_spike", pa.bool_()),
        pa.field("method", pa.string()),
        pa.field("first_seen", pa.date32()),
        pa.field("queues", pa.list_(pa.string())),
        pa.field("mean_sentiment", pa.float32()),
        pa.field("escalation_risk_calls", pa.int32()),
        pa.field("call_ids", pa.list_(pa.string())),
        pa.field("examples", pa.list_(EXAMPLE)),
        pa.field("centroid", pa.list_(pa.float32())),
        pa.field("incidents_version", pa.string()),
    ]
)
INCIDENTS_MEANINGS = {
    "date": "the day",
    "incident_id": "topic:<topic_id> | category:<name>",
    "kind": "topic | category",
    "topic_id": "topics: kept across nights (`T20261120-01`)",
    "category": "categories: the rule category",
    "label": "its title: a topic's terms joined by ·, a category's label in the rule file (else "
    "its name)",
    "terms": "the most distinctive terms of its calls' statements (c-TF-IDF)",
    "variants": "other spellings heard of its terms",
    **_nested("variants", VARIANT_MEANINGS),
    "categories": "topics: the rule categories of at least 30% of its calls (3 at most); "
    "categories: itself",
    "calls": "its calls today",
    "share": "its share of the day's calls",
    "expected": "calls expected today from the trailing days (`incidents.history_days`)",
    "baseline_days": "trailing days the expectation is based on",
    "ratio": "(calls + 1) / (expected + 1)",
    "p_value": "tail probability of today's count against the expected one",
    "score": "-log10 p_value, capped at 50",
    "is_spike": "p below `incidents.alpha`, at least `incidents.min_calls` calls and "
    "`incidents.min_ratio` times the expected count",
    "method": "poisson | negbin | new | warm-up: how the count was read (warm-up: fewer than "
    "`incidents.warmup_days` days processed before, no spike flagged)",
    "first_seen": "topics: the day the topic was first seen",
    "queues": "the 3 most common queues of its calls, most frequent first",
    "mean_sentiment": "mean customer sentiment of its calls, -5..+5",
    "escalation_risk_calls": "its calls at risk of escalation",
    "call_ids": "its calls",
    "examples": "example statements (`incidents.examples`): a topic's closest to its centroid, "
    "a category's first calls",
    **_nested("examples", EXAMPLE_MEANINGS),
    "centroid": "topics: the mean of today's statement vectors, to match later days' clusters",
    "incidents_version": "version of the incidents step that wrote it",
}

# each call's issue statement embedded where the call was processed (a part's worker), so the
# day's incidents step embeds only what changed since (incidents/daily.py)
STATEMENT_VECTORS = pa.schema(
    [
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("date", pa.date32(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("model", pa.string()),
        pa.field("vector", pa.list_(pa.float32())),
    ]
)
STATEMENT_VECTORS_MEANINGS = {
    "call_id": "the call",
    "date": "the call's day",
    "text": "the statement embedded (redacted)",
    "model": "the embedding model (`incidents.embedding_model`); a vector of another model is "
    "embedded again",
    "vector": "the statement's embedding, unit length",
}

# a uniform sample of the day's statement embeddings (all of them on days with up to 2000), so
# that a topic first seen later can be counted on the days before it existed
STATEMENT_SAMPLE = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("vector", pa.list_(pa.float16())),
        pa.field("weight", pa.float32()),
    ]
)
STATEMENT_SAMPLE_MEANINGS = {
    "date": "the day",
    "vector": "one statement's embedding (of up to 2000 a day, drawn at random)",
    "weight": "statements of the day this point stands for",
}

# the marketing hand-off: derived from the tables above, without vectors or internal ids, and
# arranged as it is told (incidents/stories.py): each story once, with its facets
HANDOFF_INCIDENTS = pa.schema(
    [f for f in INCIDENTS if f.name not in ("centroid",)]
    + [
        pa.field("section", pa.string()),
        pa.field("title", pa.string()),
        pa.field("story_id", pa.string()),
        pa.field("story_rank", pa.int16()),
        pa.field("story_calls", pa.int32()),
        pa.field("first_call_at", pa.timestamp("ms", tz="UTC")),
        pa.field("last_call_at", pa.timestamp("ms", tz="UTC")),
        pa.field("calls_by_hour", pa.list_(pa.int32())),
        pa.field(
            "queue_shares",
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
        pa.field("rule", pa.string()),
        pa.field("catalogue_names", pa.list_(pa.string())),
    ]
)
HANDOFF_INCIDENTS_MEANINGS = {
    **_taken(INCIDENTS_MEANINGS, HANDOFF_INCIDENTS.names),
    "section": "story | facet | aspect | emerging: how summary.md tells it; null: in the table "
    "only",
    "title": "a section's heading (its incident's label, a topic's prefixed by the rule "
    "category holding most of its calls)",
    "story_id": "incident_id of the section it is told in",
    "story_rank": "the section's place in summary.md, from 1",
    "story_calls": "calls it shares with that section's incident",
    "first_call_at": "when its first call started",
    "last_call_at": "when its last call started",
    "calls_by_hour": "its calls started in each hour of the day, 24 counts, in `timezone`",
    "queue_shares": "its calls per queue, and their share of that queue's calls",
    "queue_shares.queue": "the queue (- when unknown)",
    "queue_shares.calls": "its calls in that queue",
    "queue_shares.share": "their share of the queue's calls of the day",
    "directions": "its calls per direction",
    "directions.direction": "inbound | outbound (- when unknown)",
    "directions.calls": "its calls in that direction",
    "rule": "categories: the rule that defines the category, in words",
    "catalogue_names": "the catalogue's names among its terms (a story's: its facets' too)",
}

HANDOFF_CALL_FIELDS = (
    "call_id", "date", "started_at", "duration_s", "queue", "direction", "customer_tier",
    "language", "categories", "complaint_class", "customer_sentiment", "customer_emotion",
    "escalation_risk",
)  # fmt: skip
# the hand-off's calls: each processed call of the day with its statement and its story
HANDOFF_CALLS = pa.schema(
    [CALLS.field(name) for name in HANDOFF_CALL_FIELDS]
    + [
        CALL_ISSUES.field("statement"),
        CALL_ISSUES.field("topic_id"),
        pa.field("incident", pa.string()),
        pa.field("story_id", pa.string()),
    ]
)
HANDOFF_CALLS_MEANINGS = {
    **_taken(CALLS_MEANINGS, HANDOFF_CALL_FIELDS),
    "date": "the call's day",
    **_taken(CALL_ISSUES_MEANINGS, ("statement", "topic_id")),
    "incident": "the label of the topic it counts for",
    "story_id": "the first section of summary.md that counts it",
}

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

# what each column of each table means (the reference of the documentation shows them)
COLUMN_MEANINGS: dict[str, dict[str, str]] = {
    "calls": CALLS_MEANINGS,
    "segments": SEGMENTS_MEANINGS,
    "keyword_hits": KEYWORD_HITS_MEANINGS,
    "emotion_daily": EMOTION_DAILY_MEANINGS,
    "call_issues": CALL_ISSUES_MEANINGS,
    "incidents": INCIDENTS_MEANINGS,
    "statement_sample": STATEMENT_SAMPLE_MEANINGS,
    "statement_vectors": STATEMENT_VECTORS_MEANINGS,
    "handoff_incidents": HANDOFF_INCIDENTS_MEANINGS,
    "handoff_calls": HANDOFF_CALLS_MEANINGS,
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
