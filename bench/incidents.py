"""Incident benchmark on generated calls with known topics and planted spikes (text only).

    python bench/incidents.py                      # both parts
    python bench/incidents.py --part spikes --seeds 3
    python bench/incidents.py --part scale --scale-calls 50000

spikes: `--days` days of `--calls-per-day` calls (synth/scripts.py: ten topics, weekday
        patterns, Poisson counts). From day 10 on, a spike is planted every other day on a
        random topic at 1.5x-8x its expected count. Each day is stored in a real warehouse, tagged
        with the rule categories and run through the real incident step (statements, USE
        embeddings, clusters, topic matching, spike scores). Recall: planted spikes of >= 3x and
        >= 20 calls for which a flagged incident (topic or category) holds at least half of the
        planted calls. Precision: flagged incidents whose excess over the expected count is at
        least half planted calls (a category that rises because of a planted topic counts).
scale:  one day of `--scale-calls` calls through the same step in a fresh process: time per
        stage, peak memory (max RSS), and cluster purity / coverage against the topics.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callscope.core.config import load_config  # noqa: E402
from callscope.incidents.embed import get_embedder  # noqa: E402
from callscope.keywords.rules import load_rules  # noqa: E402
from callscope.pipeline.steps import DayRunner  # noqa: E402
from callscope.privacy.redact import redact_segments  # noqa: E402
from callscope.storage.schemas import to_table  # noqa: E402
from callscope.storage.warehouse import Warehouse  # noqa: E402
from callscope.synth.scripts import DAY_VOLUME, TOPICS, plan_days  # noqa: E402

START = dt.date(2026, 10, 1)
FACTORS = (1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


def expected_calls(topic: str, day: dt.date, calls_per_day: int) -> float:
    """The mean count synth.scripts draws for `topic` on `day` (before planted calls)."""
    wd = day.weekday()
    raw = {n: t.weight * t.weekday[wd] for n, t in TOPICS.items()}
    total_weight = sum(t.weight for t in TOPICS.values())
    shares = {n: w / total_weight for n, w in raw.items()}
    volume = calls_per_day * DAY_VOLUME[wd]
    return volume * shares[topic] / sum(shares.values())


def plant(days: int, calls_per_day: int, seed: int) -> dict[dt.date, dict[str, int]]:
    rng = np.random.default_rng(seed)
    spikes: dict[dt.date, dict[str, int]] = {}
    for offset in range(9, days, 2):
        day = START + dt.timedelta(days=offset)
        topic = str(rng.choice(sorted(TOPICS)))
        factor = float(rng.choice(FACTORS))
        extra = max(1, round((factor - 1) * expected_calls(topic, day, calls_per_day)))
        spikes[day] = {topic: extra}
    return spikes


def store_day(store: Warehouse, plan) -> dict[str, tuple[str, bool]]:
    """Write a planned day as the night would leave it; returns call_id -> (topic, planted)."""
    calls, segments, truth = [], [], {}
    for call in plan.calls:
        rows = [
            {**seg, "call_id": call.call_id, "date": plan.date, "language": call.language}
            for seg in call.segments(asr_style=True)
        ]
        redact_segments(rows)
        segments += rows
        calls.append(
            {
                "call_id": call.call_id,
                "date": plan.date,
                "status": "ok",
                "started_at": call.started_at,
                "queue": call.queue,
                "agent_id": call.agent_id,
                "language": call.language,
                "n_segments": len(rows),
            }
        )
        truth[call.call_id] = (call.topic, call.is_planted)
    store.replace_day("segments", plan.date, to_table("segments", segments))
    store.replace_day("calls", plan.date, to_table("calls", calls))
    return truth


def explained(row: dict, truth: dict) -> bool:
    """A flagged incident is right when planted calls make up at least half of its excess."""
    planted = sum(truth[c][1] for c in row["call_ids"])
    return planted >= 0.5 * max(row["calls"] - row["expected"], 1.0)


def holds_planted(row: dict, topic: str, truth: dict, planted: int) -> bool:
    inside = sum(truth[c] == (topic, True) for c in row["call_ids"])
    return inside >= 0.5 * planted


def run_spikes(args, settings, rules) -> dict:
    totals = Counter()
    started = time.perf_counter()
    for seed in range(args.seed, args.seed + args.seeds):
        spikes = plant(args.days, args.calls_per_day, seed)
        plans = plan_days(START, args.days, seed, args.calls_per_day, 0, spikes=spikes)
        with tempfile.TemporaryDirectory() as tmp:
            store = Warehouse(Path(tmp))
            for plan in plans:
                truth = store_day(store, plan)
                DayRunner(store, plan.date, settings).run(only=("categories", "incidents"))
                rows = store.read("incidents", plan.date).to_pylist()
                _score_day(plan, rows, truth, args.calls_per_day, totals)
    recall = totals["found"] / max(totals["qualifying"], 1)
    precision = totals["tp"] / max(totals["tp"] + totals["fp"], 1)
    topic_recall = totals["found_topic"] / max(totals["qualifying"], 1)
    return {
        "seeds": args.seeds,
        "days": args.days,
        "calls_per_day": args.calls_per_day,
        "planted": totals["planted"],
        "qualifying": totals["qualifying"],
        "found": totals["found"],
        "recall": round(recall, 3),
        "recall_topics_only": round(topic_recall, 3),
        "flagged_true": totals["tp"],
        "flagged_false": totals["fp"],
        "precision": round(precision, 3),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _score_day(plan, rows, truth, calls_per_day, totals: Counter) -> None:
    flagged = [r for r in rows if r["is_spike"]]
    for topic, extra in plan.planted.items():
        base = expected_calls(topic, plan.date, calls_per_day)
        totals["planted"] += 1
        if base + extra >= 20 and base + extra >= 3 * base:
            totals["qualifying"] += 1
            totals["found"] += any(holds_planted(r, topic, truth, extra) for r in flagged)
            totals["found_topic"] += any(
                holds_planted(r, topic, truth, extra) for r in flagged if r["kind"] == "topic"
            )
    for row in flagged:
        right = explained(row, truth)
        totals["tp" if right else "fp"] += 1
        if not right:
            logging.getLogger("bench").info(
                "%s: false spike %s %s: %d calls, %.1f expected (%s, %d baseline days)",
                plan.date,
                row["kind"],
                row["label"],
                row["calls"],
                row["expected"],
                row["method"],
                row["baseline_days"],
            )


def run_scale(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        plan = plan_days(START, 1, args.seed, args.scale_calls, 0)[0]
        generated = time.perf_counter() - started
        truth = store_day(Warehouse(Path(tmp)), plan)
        (Path(tmp) / "truth.json").write_text(json.dumps(truth))  # pairs become lists
        stored = time.perf_counter() - started - generated
        worker = subprocess.run(
            [sys.executable, __file__, "--part", "scale-worker", "--warehouse", tmp],
            capture_output=True,
            text=True,
            check=True,
        )
    result = json.loads(worker.stdout.strip().splitlines()[-1])
    result.update(generate_s=round(generated, 1), store_s=round(stored, 1))
    return result


def scale_worker(warehouse: Path) -> None:
    import resource

    settings = load_config(None)
    store = Warehouse(warehouse)
    truth = json.loads((warehouse / "truth.json").read_text())
    get_embedder(settings.incidents.embedding_model)  # loaded before the peak is measured
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    only = ("incidents",)
    run = DayRunner(store, START, settings).run("incidents", force=True, only=only)["incidents"]
    run = run.result
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    issues = (
        store.read("call_issues", START).select(["call_id", "cluster", "statement"]).to_pylist()
    )
    unique = len({row["statement"] for row in issues})
    members = defaultdict(list)
    for row in issues:
        if row["cluster"] >= 0:
            members[row["cluster"]].append(truth[row["call_id"]][0])
    clustered = sum(len(m) for m in members.values())
    majority = sum(Counter(m).most_common(1)[0][1] for m in members.values())
    from sklearn.metrics import normalized_mutual_info_score

    pairs = [(truth[r["call_id"]][0], r["cluster"]) for r in issues]
    nmi = normalized_mutual_info_score([a for a, _ in pairs], [b for _, b in pairs])
    print(
        json.dumps(
            {
                "calls": run.calls,
                "statements": run.statements,
                "unique_statements": unique,
                "embed_ms_per_unique": round(1000 * run.stage_seconds["embed"] / max(unique, 1), 2),
                "clusters": len(members),
                "topics_planted": len({t for t, _ in truth.values()}),
                "purity": round(majority / max(clustered, 1), 3),
                "coverage": round(clustered / max(len(issues), 1), 3),
                "nmi": round(float(nmi), 3),
                "step_s": round(run.seconds, 1),
                **{f"{k}_s": round(v, 1) for k, v in run.stage_seconds.items()},
                "peak_rss_gb": round(peak / 2**20, 2),
                "rss_before_step_gb": round(before / 2**20, 2),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["all", "spikes", "scale", "scale-worker"], default="all")
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--calls-per-day", type=int, default=400)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale-calls", type=int, default=50_000)
    parser.add_argument("--warehouse", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("bench").setLevel(logging.INFO)
    if args.part == "scale-worker":
        scale_worker(args.warehouse)
        return
    if args.part in ("all", "spikes"):
        settings = load_config(None)
        result = run_spikes(
            args, settings, load_rules(settings.keywords.rules, settings.keywords.sounds_like)
        )
        print("spikes:", json.dumps(result))
        print(
            f"  recall {result['recall']} (target >= 0.9) on {result['qualifying']} planted spikes "
            f">= 3x and >= 20 calls; precision {result['precision']} (target >= 0.8); "
            f"topics alone recall {result['recall_topics_only']}"
        )
    if args.part in ("all", "scale"):
        result = run_scale(args)
        print("scale:", json.dumps(result))
        print(
            f"  {result['calls']} calls: incident step {result['step_s']} s (target <= 120 s), "
            f"peak memory {result['peak_rss_gb']} GB (target <= 4 GB), purity {result['purity']}, "
            f"coverage {result['coverage']}, {result['clusters']} clusters for "
            f"{result['topics_planted']} topics"
        )


if __name__ == "__main__":
    main()
