"""The day-level incident step: statements -> clusters -> topics -> spikes, over the warehouse.

After the day's categories and emotion, it builds each call's issue statement, embeds and
clusters them, matches each cluster to a topic of the trailing days (by centroid cosine; a
topic that split in two today still counts once), and scores every topic and every rule
category against its own trailing counts (incidents/spikes.py). It replaces the day's
`call_issues` and `incidents` partitions, so it can be repeated; topic ids of a new topic are
derived from the day and its rank, so a rerun gives the same ids.

Topic history lives in the stored `incidents` rows (kind = topic, with their centroids): the
days that have an incidents partition are the processed days, and a topic with no row on a
processed day since it was first seen had no calls that day.

The day's state records what the day's clusters were made from (`incidents_clustered`): the
settings, the segments and statement_vectors partitions, the day's calls and the earlier days'
topics, and which topic each cluster was matched to. While all of it still holds (only the
calls' categories or emotion changed, after a rule change), the day is not clustered again:
the stored topics keep their ids, counts, centroids and spike scores; their names (the rules'
spellings may have changed), what they take from the calls (categories, queues, sentiment)
and the category rows are figured again from the stored statements, and only `incidents` is
written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow.compute as pc
from callscope.core.logs import get_logger
from callscope.incidents.cluster import (
    Cluster,
    ClusterSettings,
    Naming,
    Vocabulary,
    build_clusters,
    day_vocabulary,
    distinctive_terms,
)
from callscope.incidents.spikes import SpikeScore, SpikeSettings, match_clusters, score_spike
from callscope.incidents.statements import Statement, StatementSettings, issue_statement
from callscope.incidents.vectors import nearest, unit_rows
from callscope.storage.schemas import to_table
from callscope.storage.warehouse import Warehouse

logger = get_logger(__name__)

ALGORITHM = "incidents-4"  # 2: spellings that sound alike merged in names; category terms
# 3: names start and end on dictionary words (no 准版 of 标准版); 4: names are dictionary words,
# rule / catalogue spellings or compound names only (no 营业听, 结果订单, 不到)
SEGMENT_COLUMNS = ["call_id", "idx", "speaker", "start_s", "end_s", "text", "text_redacted"]
CALL_COLUMNS = [
    "call_id",
    "status",
    "started_at",
    "queue",
    "categories",
    "customer_sentiment",
    "escalation_risk",
]
TOPIC_COLUMNS = ["topic_id", "calls", "first_seen", "centroid", "label", "terms"]
CLUSTERED = "incidents_clustered"  # the day state's record of what the clusters were made from
SAMPLE_SIZE = 2000  # statement vectors kept per day for counting later topics backwards
CENTROID_EMA = 0.3  # today's weight in a topic's running centroid

Embedder = Callable[[Sequence[str]], np.ndarray]


@dataclass
class IncidentRun:
    date: dt.date
    calls: int
    statements: int = 0
    topics: int = 0
    new_topics: int = 0
    spikes: list[str] = field(default_factory=list)  # labels of the day's spikes
    warming_up: bool = False
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # statements, embed, cluster
    reclustered: bool = True  # False: the stored topics re-used (only the calls changed)


@dataclass
class Topic:
    topic_id: str
    centroid: np.ndarray
    first_seen: dt.date
    counts: dict[dt.date, int] = field(default_factory=dict)
    terms: list[str] = field(default_factory=list)


@dataclass
class TopicHistory:
    """The topics of the trailing days, rebuilt from the stored incidents rows."""

    days: list[dt.date]
    topics: dict[str, Topic]

    def counts(self, topic_id: str) -> list[tuple[dt.date, int]]:
        topic = self.topics[topic_id]
        return [(d, topic.counts.get(d, 0)) for d in self.days if d >= topic.first_seen]


def statement_settings(settings) -> StatementSettings:
    return StatementSettings(
        min_chars=settings.statement_min_chars, max_chars=settings.statement_max_chars
    )


def cluster_settings(settings, naming: Naming | None = None) -> ClusterSettings:
    return ClusterSettings(
        merge_similarity=settings.merge_similarity,
        min_cluster_size=settings.min_cluster_size,
        assign_similarity=settings.assign_similarity,
        naming=naming or Naming(),
    )


def spike_settings(settings) -> SpikeSettings:
    return SpikeSettings(
        history_days=settings.history_days,
        min_history_days=settings.min_history_days,
        same_weekday_weight=settings.same_weekday_weight,
        prior_rate=settings.prior_rate,
        min_count=settings.min_calls,
        min_ratio=settings.min_ratio,
        alpha=settings.alpha,
    )


def version(settings) -> str:
    blob = json.dumps([ALGORITHM, settings.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def embed_unique(embed: Embedder, texts: list[str]) -> np.ndarray:
    """Embed each distinct text once (short statements repeat: 我要查话费)."""
    unique = list(dict.fromkeys(texts))
    if len(unique) == len(texts):
        return embed(texts)
    row = {text: i for i, text in enumerate(unique)}
    return embed(unique)[[row[text] for text in texts]]


def embed_statements(calls: list[tuple[dict, list[dict]]], settings, embed: Embedder) -> list[dict]:
    """statement_vectors rows for processed calls (row, segments): each ok call's issue
    statement embedded where the call was processed, so the day's step need not
    (settings: IncidentSettings)."""
    st = statement_settings(settings)
    said = []
    for row, segments in calls:
        if row.get("status") == "ok":
            statement = issue_statement(sorted(segments, key=lambda s: s["idx"]), st)
            if not statement.empty:
                said.append((row, statement.text))
    if not said:
        return []
    vectors = embed_unique(embed, [text for _, text in said])
    return [
        {
            "call_id": row["call_id"],
            "date": row["date"],
            "text": text,
            "model": settings.embedding_model,
            "vector": vector.tolist(),
        }
        for (row, text), vector in zip(said, vectors, strict=True)
    ]


def statement_vectors(
    store: Warehouse, day: dt.date, said: list[tuple[str, Statement]], embed: Embedder, model: str
) -> tuple[np.ndarray, int]:
    """A vector per statement: the one stored for its call when it is of the same text and
    model (statement_vectors, embedded where the call was processed), the rest embedded now.
    Also how many were stored."""
    texts = [statement.text for _, statement in said]
    if not said or not store.exists("statement_vectors", day):
        return embed_unique(embed, texts), 0
    table = store.read("statement_vectors", day, columns=["call_id", "text", "model", "vector"])
    table = table.filter(pc.equal(table["model"], model))
    row_of = {call_id: i for i, call_id in enumerate(table["call_id"].to_pylist())}
    stored_texts = table["text"].to_pylist()
    found = [row_of.get(call_id) for call_id, _ in said]
    found = [
        i if i is not None and stored_texts[i] == text else None
        for i, text in zip(found, texts, strict=True)
    ]
    have = [n for n, i in enumerate(found) if i is not None]
    if not have:
        return embed_unique(embed, texts), 0
    flat = table["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
    stored = flat.astype(np.float32).reshape(table.num_rows, -1)
    out = np.empty((len(said), stored.shape[1]), dtype=np.float32)
    out[have] = stored[[found[n] for n in have]]
    missing = [n for n, i in enumerate(found) if i is None]
    if missing:
        out[missing] = embed_unique(embed, [texts[n] for n in missing])
    return out, len(have)


# history ------------------------------------------------------------------------------------
def _history_days(store: Warehouse, day: dt.date, history_days: int) -> list[dt.date]:
    start = day - dt.timedelta(days=history_days)
    return [d for d in store.days("incidents") if start <= d < day]


def load_history(store: Warehouse, day: dt.date, history_days: int) -> TopicHistory:
    days = _history_days(store, day, history_days)
    topics: dict[str, Topic] = {}
    for d in days:
        rows = store.read("incidents", d)
        rows = rows.filter(pc.equal(rows["kind"], "topic")).select(TOPIC_COLUMNS).to_pylist()
        for row in rows:
            centroid = np.asarray(row["centroid"] or [], dtype=np.float32)
            topic = topics.get(row["topic_id"])
            if topic is None:
                topic = topics[row["topic_id"]] = Topic(
                    row["topic_id"], centroid, row["first_seen"] or d
                )
            elif len(centroid) == len(topic.centroid):
                topic.centroid = unit_rows(
                    (1 - CENTROID_EMA) * topic.centroid + CENTROID_EMA * centroid
                )
            topic.counts[d] = int(row["calls"] or 0)
            topic.terms = list(row["terms"] or []) or topic.terms
    return TopicHistory(days, topics)


def history_digest(store: Warehouse, day: dt.date, history_days: int) -> str:
    """What the matching and counting read of the trailing days: their topic rows' ids, counts,
    first days and centroids (a day clustered again with other topics changes it; its names,
    re-read each time, need not be the same)."""
    digest = hashlib.sha256()
    for d in _history_days(store, day, history_days):
        digest.update(f"|{d}".encode())
        rows = store.read("incidents", d, columns=["kind", *TOPIC_COLUMNS[:4]])
        rows = rows.filter(pc.equal(rows["kind"], "topic")).to_pylist()
        for row in sorted(rows, key=lambda r: r["topic_id"]):
            fields = [row["topic_id"], row["calls"], str(row["first_seen"])]
            digest.update(json.dumps(fields, ensure_ascii=False).encode())
            digest.update(np.asarray(row["centroid"] or [], dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


def match_topics(
    history: TopicHistory, clusters: list[Cluster], threshold: float, day: dt.date
) -> list[str]:
    """A topic id per cluster. One-to-one best matches first; a further cluster as close to an
    already matched topic joins it (a topic split in two today); the rest are new topics."""
    known = [t for t in history.topics.values() if len(t.centroid)]
    if clusters and known and len(known[0].centroid) != len(clusters[0].centroid):
        logger.warning("topic centroids changed dimension (new embedding model): topics restart")
        known = []
    ids: list[str | None] = [None] * len(clusters)
    if known and clusters:
        previous = np.vstack([t.centroid for t in known])
        current = np.vstack([c.centroid for c in clusters])
        paired = match_clusters(previous, current, threshold)
        closest, _ = nearest(current, previous, threshold)
        for row in range(len(clusters)):
            col = paired.get(row, closest[row])
            ids[row] = known[col].topic_id if col >= 0 else None
    new = 0
    for row in range(len(clusters)):
        if ids[row] is None:
            new += 1
            ids[row] = f"T{day:%Y%m%d}-{new:02d}"
    return [i for i in ids if i is not None]


def category_history(store: Warehouse, day: dt.date, history_days: int) -> dict:
    """Per category: [(day, calls)] over the processed days of the trailing window."""
    start = day - dt.timedelta(days=history_days)
    days = [d for d in store.days("calls") if start <= d < day]
    counts: dict[str, dict[dt.date, int]] = defaultdict(dict)
    for d in days:
        calls = store.read("calls", d).select(["status", "categories"]).to_pylist()
        for row in calls:
            if row["status"] == "ok":
                for category in set(row["categories"] or []):
                    counts[category][d] = counts[category].get(d, 0) + 1
    return {"days": days, "counts": counts}


# the day ------------------------------------------------------------------------------------
def _statements(store: Warehouse, day: dt.date, call_ids: set[str], settings) -> dict:
    by_call: dict[str, list[dict]] = defaultdict(list)
    for row in store.read("segments", day).select(SEGMENT_COLUMNS).to_pylist():
        if row["call_id"] in call_ids:
            by_call[row["call_id"]].append(row)
    st = statement_settings(settings)
    return {call_id: issue_statement(by_call.get(call_id, []), st) for call_id in sorted(call_ids)}


def apply_incidents(
    store: Warehouse,
    day: dt.date,
    settings,
    embed: Embedder,
    category_labels: dict[str, str] | None = None,
    naming: Naming | None = None,
    recluster: bool = False,
) -> IncidentRun:
    """Statements, clusters, topics and spikes of `day` (settings: IncidentSettings); `naming`
    says which spellings sound alike and which the rules use. While the day's record of what
    its clusters were made from still holds, the stored topics are re-used (only the calls'
    categories and emotion are read again), unless `recluster` is asked."""
    started = time.perf_counter()
    calls = [
        r for r in store.read("calls", day).select(CALL_COLUMNS).to_pylist() if r["status"] == "ok"
    ]
    info = {row["call_id"]: row for row in calls}
    inputs = clustering_inputs(store, day, settings, info)
    labels = category_labels or {}
    if not recluster and clusters_current(store, day, inputs):
        run = _refresh(store, day, settings, info, labels, naming)
    else:
        run, matched = _cluster_day(store, day, settings, embed, info, labels, naming)
        _record_clusters(store, day, inputs, matched)
    run.seconds = time.perf_counter() - started
    logger.info(
        "incidents %s: %d calls, %d statements, %d topics (%d new), %d spikes in %.1f s%s",
        day,
        run.calls,
        run.statements,
        run.topics,
        run.new_topics,
        len(run.spikes),
        run.seconds,
        "" if run.reclustered else " (the stored topics re-used)",
    )
    return run


def _cluster_day(
    store, day, settings, embed, info, category_labels, naming
) -> tuple[IncidentRun, list[list]]:
    """The day clustered and its topics found; also each cluster's [label, topic id]."""
    stages: dict[str, float] = {}
    clock = time.perf_counter()
    statements = _statements(store, day, set(info), settings)
    said = [(cid, s) for cid, s in statements.items() if not s.empty]
    texts = [s.text for _, s in said]
    stages["statements"], clock = time.perf_counter() - clock, time.perf_counter()
    vectors, stored = statement_vectors(store, day, said, embed, settings.embedding_model)
    stages["embed"], clock = time.perf_counter() - clock, time.perf_counter()
    logger.info("incidents %s: %d of %d statements embedded before", day, stored, len(said))
    clustering = cluster_settings(settings, naming)
    vocabulary = day_vocabulary(texts, clustering)
    memo: dict = {}  # each statement's terms, read once for topics and categories
    labels, clusters = build_clusters(texts, vectors, clustering, vocabulary, memo)
    stages["cluster"] = time.perf_counter() - clock
    history = load_history(store, day, settings.history_days)
    topic_ids = match_topics(history, clusters, settings.match_similarity, day)
    run = IncidentRun(day, len(info), statements=len(said), stage_seconds=stages)
    run.warming_up = len(history.days) < settings.warmup_days
    ver = version(settings)
    topics = TodayTopics.build(history, clusters, topic_ids, vectors, settings, day)
    backfill = _backfill(store, day, history, topics, settings)
    rows = _topic_rows(day, topics, said, info, history, backfill, settings, ver)
    rows += _category_rows(
        day,
        store,
        info,
        statements,
        category_labels,
        settings,
        ver,
        clustering,
        vocabulary,
        memo,
    )
    issue_rows = _issue_rows(day, said, labels, topics, ver)
    store.write_day(
        day,
        {
            "call_issues": to_table("call_issues", issue_rows),
            "statement_sample": _sample(day, vectors),
            "incidents": to_table("incidents", _ranked(rows)),
        },
    )
    _count(run, rows, settings)
    run.new_topics = len({t for t in topic_ids if t not in history.topics})
    matched = [[c.label, topic_id] for c, topic_id in zip(clusters, topic_ids, strict=True)]
    return run, matched


def _count(run: IncidentRun, rows: list[dict], settings) -> None:
    run.topics = sum(r["kind"] == "topic" and r["calls"] >= settings.min_cluster_size for r in rows)
    run.spikes = [row["label"] for row in _ranked(rows) if row["is_spike"]]


# a rule change: the stored topics re-used ----------------------------------------------------
def clustering_inputs(store: Warehouse, day: dt.date, settings, info: dict) -> dict:
    """What the day's clusters and topics are made from (their names aside: the naming only
    names them), besides the calls' categories."""
    return {
        "settings": version(settings),
        "segments": store.version("segments", day),
        "vectors": store.version("statement_vectors", day),
        "calls": _digest(sorted(info)),
        "history": history_digest(store, day, settings.history_days),
    }


def clusters_current(store: Warehouse, day: dt.date, inputs: dict) -> bool:
    """Whether the stored topics and call_issues of `day` were made from `inputs` and are
    still the ones written then."""
    record = store.read_state(day).get(CLUSTERED) or {}
    return (
        inputs["segments"] is not None
        and record.get("inputs") == inputs
        and record.get("call_issues") == store.version("call_issues", day)
        and record.get("clusters") is not None
        and store.exists("incidents", day)
    )


def _record_clusters(store: Warehouse, day: dt.date, inputs: dict, matched: list) -> None:
    state = store.read_state(day)
    state[CLUSTERED] = {
        "inputs": inputs,
        "call_issues": store.version("call_issues", day),
        "clusters": matched,  # [label, topic id] per cluster, largest first
    }
    store.write_state(day, state)


def _digest(value) -> str:
    blob = json.dumps(value, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _refresh(store, day, settings, info, category_labels, naming) -> IncidentRun:
    """The day's incidents from its stored topics and statements: the topics named again and
    what they take from the calls figured again, and the category rows made again."""
    clock = time.perf_counter()
    statements, labels = _stored_statements(store, day, info)
    said = [s.text for s in statements.values() if not s.empty]
    run = IncidentRun(day, len(info), statements=len(said), reclustered=False)
    run.stage_seconds["statements"], clock = time.perf_counter() - clock, time.perf_counter()
    clustering = cluster_settings(settings, naming)
    vocabulary = day_vocabulary(said, clustering)
    memo: dict = {}
    history = load_history(store, day, settings.history_days)
    matched = store.read_state(day)[CLUSTERED]["clusters"]
    names = _topic_names(
        history, matched, distinctive_terms(said, labels, clustering, vocabulary, memo)
    )
    run.stage_seconds["names"] = time.perf_counter() - clock
    stored = store.read("incidents", day).to_pylist()
    rows = [_with_calls(_named(row, names), info) for row in stored if row["kind"] == "topic"]
    ver = version(settings)
    rows += _category_rows(
        day, store, info, statements, category_labels, settings, ver, clustering, vocabulary, memo
    )
    store.write_day(day, {"incidents": to_table("incidents", _ranked(rows))})
    _count(run, rows, settings)
    run.new_topics = sum(row["kind"] == "topic" and row["first_seen"] == day for row in rows)
    run.warming_up = len(history.days) < settings.warmup_days
    return run


def _topic_names(history: TopicHistory, matched: list, names: dict) -> dict:
    """Each topic's terms and variants as TodayTopics names them: from the first (largest)
    cluster matched to it that has terms today, else its last terms of the trailing days."""
    named = {tid: (topic.terms, {}) for tid, topic in history.topics.items()}
    today: set[str] = set()
    for label, topic_id in matched:
        terms, variants = names.get(label, ([], {}))
        if topic_id not in today and terms:
            named[topic_id] = (terms, variants)
            today.add(topic_id)
    return named


def _named(row: dict, names: dict) -> dict:
    terms, heard = names.get(row["topic_id"], ([], {}))
    return {
        **row,
        "label": " · ".join(terms) or f"topic {row['topic_id']}",
        "terms": terms,
        "variants": [{"term": t, "heard": heard[t]} for t in terms if heard.get(t)],
    }


def _stored_statements(
    store: Warehouse, day: dt.date, info: dict
) -> tuple[dict[str, Statement], np.ndarray]:
    """Each ok call's issue statement as call_issues keeps it (none: an empty one), and the
    cluster label of each statement said, in the order the day clustered them."""
    columns = ["call_id", "statement", "statement_source", "start_s", "end_s", "segments"]
    stored = store.read("call_issues", day, [*columns, "cluster"]).to_pylist()
    kept = {row["call_id"]: row for row in stored}
    statements = {}
    for call_id in sorted(info):
        row = kept.get(call_id)
        statements[call_id] = (
            Statement(
                row["statement"],
                row["start_s"],
                row["end_s"],
                list(row["segments"] or []),
                row["statement_source"],
            )
            if row and row["statement"]
            else Statement("", source="none")
        )
    labels = [kept[cid]["cluster"] for cid, s in statements.items() if not s.empty]
    return statements, np.asarray(labels, dtype=np.int64)


def _with_calls(row: dict, info: dict) -> dict:
    """A stored topic row with what it takes from its calls as they are now."""
    members = [info[call_id] for call_id in row["call_ids"]]
    return {
        **row,
        "categories": _common(members, "categories", share=0.3),
        **_summary(members, len(info)),
    }


def _ranked(rows: list[dict]) -> list[dict]:
    """Spikes first, then by score as stored (float32: a re-used topic row ranks as it did)."""
    return sorted(
        rows,
        key=lambda r: (
            not r["is_spike"],
            -float(np.float32(r["score"])),
            -r["calls"],
            r["incident_id"],
        ),
    )


def _score(history: list[tuple[dt.date, int]], day, observed, settings, days: int) -> SpikeScore:
    """The spike score; while fewer than `warmup_days` days were processed before this one,
    nothing is flagged (every topic would look new on a first night)."""
    score = score_spike(history, day, observed, spike_settings(settings))
    if days < settings.warmup_days:
        return SpikeScore(**{**score.__dict__, "is_spike": False, "method": "warm-up"})
    return score


def _common(members: list[dict], key: str, share: float = 0.0, top: int = 3) -> list[str]:
    """The `top` most common values, ties by value: the same list in every process (a set's
    order of strings is not)."""
    counts = Counter(v for row in members for v in _as_list(row.get(key)))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [v for v, n in ranked if n >= share * len(members)]


def _as_list(value) -> list:
    if value is None:
        return []
    return sorted(set(value)) if isinstance(value, list) else [value]


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _summary(members: list[dict], total: int) -> dict:
    return {
        "calls": len(members),
        "share": len(members) / total if total else 0.0,
        "queues": _common(members, "queue"),
        "mean_sentiment": _mean([m["customer_sentiment"] for m in members]),
        "escalation_risk_calls": sum(bool(m["escalation_risk"]) for m in members),
    }


def _spike_fields(score: SpikeScore, baseline_days: int) -> dict:
    return {
        "expected": score.expected,
        "baseline_days": baseline_days,
        "ratio": score.ratio,
        "p_value": score.p_value,
        "score": score.score,
        "is_spike": score.is_spike,
        "method": score.method,
    }


@dataclass
class TodayTopics:
    """Today's candidate topics (the trailing days' topics and today's new clusters) and the
    topic of each statement: its nearest topic centroid, if close enough. Counting by nearest
    centroid keeps a topic's daily count steady even when today's clustering cuts it
    differently from yesterday's."""

    ids: list[str]
    centroids: np.ndarray
    terms: dict[str, list[str]]
    variants: dict[str, dict[str, list[str]]]
    first_seen: dict[str, dt.date]
    assigned: np.ndarray  # index into ids per statement, -1: none
    similarity: np.ndarray
    vectors: np.ndarray

    @classmethod
    def build(cls, history, clusters, cluster_topics, vectors, settings, day) -> TodayTopics:
        dim = vectors.shape[1] if vectors.ndim == 2 and len(vectors) else None
        known = [t for t in history.topics.values() if dim is None or len(t.centroid) == dim]
        ids = [t.topic_id for t in known]
        centroids = [t.centroid for t in known]
        terms = {t.topic_id: t.terms for t in known}
        variants: dict[str, dict[str, list[str]]] = {}
        first = {t.topic_id: t.first_seen for t in known}
        named_today: set[str] = set()
        for cluster, topic_id in zip(clusters, cluster_topics, strict=True):  # largest first
            if topic_id not in first:
                ids.append(topic_id)
                centroids.append(cluster.centroid)
                first[topic_id] = day
            if topic_id not in named_today and cluster.terms:
                terms[topic_id] = cluster.terms  # today's wording names the topic
                variants[topic_id] = cluster.variants
                named_today.add(topic_id)
        matrix = np.vstack(centroids).astype(np.float32) if centroids else np.zeros((0, 1))
        assigned, similarity = nearest(vectors, matrix, settings.assign_similarity)
        return cls(ids, matrix, terms, variants, first, assigned, similarity, vectors)

    def todays_centroid(self, k: int) -> np.ndarray:
        rows = self.assigned == k
        return unit_rows(self.vectors[rows].sum(axis=0)) if rows.any() else self.centroids[k]

    def members(self, k: int) -> list[tuple[int, float]]:
        rows = np.flatnonzero(self.assigned == k)
        pairs = [(int(i), float(self.similarity[i])) for i in rows]
        return sorted(pairs, key=lambda p: (-p[1], p[0]))


def _sample(day: dt.date, vectors: np.ndarray):
    n = len(vectors)
    if n > SAMPLE_SIZE:
        rng = np.random.default_rng(day.toordinal())
        vectors = vectors[np.sort(rng.choice(n, SAMPLE_SIZE, replace=False))]
    weight = n / len(vectors) if len(vectors) else 1.0
    rows = [
        {"date": day, "vector": v.astype(np.float16).tolist(), "weight": weight} for v in vectors
    ]
    return to_table("statement_sample", rows)


def _backfill(store: Warehouse, day, history, topics: TodayTopics, settings) -> dict:
    """Counts of each topic on the trailing days before it was first seen, from those days'
    statement samples assigned to today's topics: a topic that is new today gets the baseline
    it would have had (and a fragment of an old topic is not mistaken for a new one)."""
    wanted = (
        [k for k, tid in enumerate(topics.ids) if topics.first_seen[tid] > history.days[0]]
        if history.days
        else []
    )
    out: dict[str, dict[dt.date, float]] = defaultdict(dict)
    if not wanted or not len(topics.centroids):
        return out
    for d in history.days:
        table = store.read("statement_sample", d)
        if not table.num_rows:
            continue
        vectors = table["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        vectors = vectors.astype(np.float32).reshape(table.num_rows, -1)
        if vectors.shape[1] != topics.centroids.shape[1]:
            continue
        weights = table["weight"].to_numpy()
        assigned, _ = nearest(vectors, topics.centroids, settings.assign_similarity)
        for k in wanted:
            tid = topics.ids[k]
            if d < topics.first_seen[tid]:
                out[tid][d] = float(weights[assigned == k].sum())
    return out


def _topic_counts(
    topic_id: str, history: TopicHistory, backfill: dict
) -> list[tuple[dt.date, int]]:
    known = history.counts(topic_id) if topic_id in history.topics else []
    earlier = [(d, int(round(c))) for d, c in sorted(backfill.get(topic_id, {}).items())]
    return sorted(earlier + known)


def _topic_rows(day, topics: TodayTopics, said, info, history, backfill, settings, ver):
    rows = []
    for k, topic_id in enumerate(topics.ids):
        members = topics.members(k)
        if not members:
            continue
        member_calls = [info[said[i][0]] for i, _ in members]
        counts = _topic_counts(topic_id, history, backfill)
        score = _score(counts, day, len(members), settings, len(history.days))
        terms = topics.terms.get(topic_id, [])
        heard = topics.variants.get(topic_id, {})
        rows.append(
            {
                "date": day,
                "incident_id": f"topic:{topic_id}",
                "kind": "topic",
                "topic_id": topic_id,
                "label": " · ".join(terms) or f"topic {topic_id}",
                "terms": terms,
                "variants": [{"term": t, "heard": heard[t]} for t in terms if heard.get(t)],
                "categories": _common(member_calls, "categories", share=0.3),
                **_summary(member_calls, len(info)),
                **_spike_fields(score, len(counts)),
                "first_seen": topics.first_seen[topic_id],
                "call_ids": [said[i][0] for i, _ in members],
                "examples": [_example(said[i], sim) for i, sim in members[: settings.examples]],
                "centroid": topics.todays_centroid(k).astype(np.float32).tolist(),
                "incidents_version": ver,
            }
        )
    return rows


def _example(item: tuple[str, Statement], similarity: float | None) -> dict:
    call_id, statement = item
    return {
        "call_id": call_id,
        "start_s": statement.start_s,
        "text": statement.text,
        "similarity": similarity,
    }


def _category_rows(
    day, store, info, statements, labels, settings, ver, clustering, vocabulary, memo: dict
):
    history = category_history(store, day, settings.history_days)
    by_category: dict[str, list[dict]] = defaultdict(list)
    for row in info.values():
        for category in set(row["categories"] or []):
            by_category[category].append(row)
    said = [(cid, s.text) for cid, s in statements.items() if not s.empty]
    contrast = _every_nth(said, CATEGORY_SAMPLE)
    rows = []
    for category in sorted(by_category):
        members = sorted(by_category[category], key=_call_order)
        counts = history["counts"].get(category, {})
        series = [(d, counts.get(d, 0)) for d in history["days"]]
        score = _score(series, day, len(members), settings, len(history["days"]))
        examples = [
            _example((r["call_id"], statements[r["call_id"]]), None)
            for r in members
            if not statements[r["call_id"]].empty
        ][: settings.examples]
        members_ids = {r["call_id"] for r in members}
        terms, heard = _category_terms(said, contrast, members_ids, clustering, vocabulary, memo)
        rows.append(
            {
                "date": day,
                "incident_id": f"category:{category}",
                "kind": "category",
                "category": category,
                "label": labels.get(category, category),
                "terms": terms,
                "variants": [{"term": t, "heard": heard[t]} for t in terms if heard.get(t)],
                "categories": [category],
                **_summary(members, len(info)),
                **_spike_fields(score, len(series)),
                "call_ids": [r["call_id"] for r in members],
                "examples": examples,
                "incidents_version": ver,
            }
        )
    return rows


CATEGORY_SAMPLE = 5000  # statements a category's names are read from, and of the day's others


def _category_terms(
    said: list[tuple[str, str]],
    contrast: list[tuple[str, str]],
    members: set[str],
    clustering: ClusterSettings,
    vocabulary: Vocabulary,
    memo: dict,
):
    """What a category's calls talk about (the phone's name on launch day), as topic names
    are made: the terms distinctive of (an even sample of) its calls' statements against the
    day's sample of statements (`contrast`) of other calls."""
    inside = _every_nth([text for cid, text in said if cid in members], CATEGORY_SAMPLE)
    outside = [text for cid, text in contrast if cid not in members]
    labels = np.array([0] * len(inside) + [-1] * len(outside))
    if not inside:
        return [], {}
    named = distinctive_terms(inside + outside, labels, clustering, vocabulary, memo)
    return named.get(0, ([], {}))


def _every_nth(items: list, most: int) -> list:
    """An even sample of at most `most` items, in order."""
    return items[:: max(1, -(-len(items) // most))]


def _call_order(row: dict) -> tuple:
    started = row["started_at"]
    return (started is None, started.timestamp() if started else 0.0, row["call_id"])


def _issue_rows(day, said, labels, topics: TodayTopics, ver) -> list[dict]:
    rows = []
    for i, (call_id, statement) in enumerate(said):
        k = int(topics.assigned[i])
        rows.append(
            {
                "call_id": call_id,
                "date": day,
                "statement": statement.text,
                "statement_source": statement.source,
                "start_s": statement.start_s,
                "end_s": statement.end_s,
                "segments": statement.segments,
                "cluster": int(labels[i]),
                "topic_id": topics.ids[k] if k >= 0 else None,
                "similarity": float(topics.similarity[i]) if len(topics.similarity) else None,
                "incidents_version": ver,
            }
        )
    return rows
