"""Sounds-like matching on generated launch days: rule recall against the planted topics, calls
tagged with a wrong topic, the pre-order spike, what `~首发` finds, and the topic names, each
beside the exact-only rules (the same rules with every phrase matched as written).

    python bench/sounds_like.py DEMO [DEMO ...]

DEMO is a folder holding recordings/ (written by `callscope demo generate`, one truth.json per
day) and warehouse/ (written by `callscope nightly` on those recordings). The stored transcripts
are re-tagged in memory (nothing in the warehouse changes) and searched in a throwaway index.
Topic names are read from the warehouse's incidents, so they are those of the code that ran the
night.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callscope.core.config import load_config  # noqa: E402
from callscope.keywords.categorize import categorize_call  # noqa: E402
from callscope.keywords.daily import update_index  # noqa: E402
from callscope.keywords.index import SearchIndex  # noqa: E402
from callscope.keywords.rules import RuleSet, load_rules  # noqa: E402
from callscope.storage.warehouse import Warehouse  # noqa: E402

from bench.demo_calls import truths  # noqa: E402

LAUNCH_TOPIC = "preorder_failure"
SEARCH_TERM = "首发"
PHONE = "星河"


@dataclass
class Tally:
    topic_calls: int = 0
    recalled: Counter = field(default_factory=Counter)  # rules -> calls tagged with their topic
    wrong: Counter = field(default_factory=Counter)  # rules -> calls tagged with another topic
    planted: int = 0
    planted_found: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)
    calls: int = 0
    missed: list = field(default_factory=list)


def generated_topics(demos: list[Path]) -> set[str]:
    """The rule categories the generator plants as topics (a call tagged with another of these
    than its own is on a wrong topic; other categories, e.g. repeat contact, may come with any)."""
    found = set()
    for root in demos:
        day_truths = truths(root / "recordings")
        if not day_truths:
            sys.exit(f"{root}/recordings has no <day>/truth.json: run `callscope demo generate`")
        found |= {c["category"] for t in day_truths.values() for c in t["calls"] if c["category"]}
    return found


def call_segments(store: Warehouse, day: dt.date) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    rows = store.read("segments", day).to_pylist()
    for row in sorted(rows, key=lambda r: (r["call_id"], r["idx"])):
        out[row["call_id"]].append(row)
    return out


REPEAT = 5  # each call is tagged this many times per rule set (the first warms the caches)


def tag(tally: Tally, variants: dict[str, RuleSet], topics: set[str], day_truth, segments):
    for call in day_truth["calls"]:
        if not call.get("file") or call["call_id"] not in segments:
            continue
        own = call.get("category")
        tally.calls += 1
        tally.topic_calls += own in topics
        planted = call.get("is_planted") and own == LAUNCH_TOPIC
        tally.planted += bool(planted)
        for name, rules in variants.items():
            got = categorize_call(segments[call["call_id"]], rules).categories
            started = time.perf_counter()
            for _ in range(REPEAT):
                categorize_call(segments[call["call_id"]], rules)
            tally.seconds[name] += (time.perf_counter() - started) / REPEAT
            hit = own in got
            tally.recalled[name] += own in topics and hit
            tally.wrong[name] += any(c in topics and c != own for c in got)
            tally.planted_found[name] += bool(planted and hit)
            if name == "sounds-like" and own in topics and not hit:
                tally.missed.append((call["call_id"], own, got))


def search(store: Warehouse, days: list[dt.date], day_truths: dict, settings) -> dict:
    """Planted pre-order calls whose script says 首发: found by 首发 and by ~首发."""
    said = {
        call["call_id"]
        for truth in day_truths.values()
        for call in truth["calls"]
        if call.get("file")
        and call.get("category") == LAUNCH_TOPIC
        and any(SEARCH_TERM in turn["text"] for turn in call["turns"])
    }
    with tempfile.TemporaryDirectory(prefix="callscope-sounds-bench-") as tmp:
        index = SearchIndex(
            Path(tmp) / "search", confusions=settings.keywords.sounds_like.confusion_set
        )
        for day in days:
            update_index(store, index, day)
        out = {"said": len(said)}
        for query in (SEARCH_TERM, f"~{SEARCH_TERM}"):
            result = index.search(query, limit=10_000)
            calls = {hit.call_id for hit in result.hits}
            out[query] = (len(calls & said), len(calls - said), result.took_ms)
        index.close()
    return out


def topic_names(store: Warehouse, days: list[dt.date]) -> list[tuple[dt.date, str, int, list]]:
    out = []
    for day in days:
        for row in store.read("incidents", day).to_pylist():
            if row["kind"] == "topic" and PHONE in " ".join(row["terms"] or []) + str(
                row.get("variants") or ""
            ):
                out.append((day, row["label"], row["calls"], row.get("variants") or []))
    return out


def report_demo(root: Path, settings, variants, topics: set[str], total: Tally) -> None:
    store = Warehouse(root / "warehouse")
    day_truths = truths(root / "recordings")
    tally = Tally()
    for day, truth in day_truths.items():
        tag(tally, variants, topics, truth, call_segments(store, day))
    print(f"\n{root}: {tally.calls} recorded calls over {len(day_truths)} days")
    _print_tally(tally)
    found = search(store, sorted(day_truths), day_truths, settings)
    for query in (SEARCH_TERM, f"~{SEARCH_TERM}"):
        right, other, took = found[query]
        print(
            f"  search {query!r:8}: {right} of {found['said']} planted calls that say "
            f"{SEARCH_TERM} ({other} other calls, {took:.1f} ms)"
        )
    for day, label, calls, heard in topic_names(store, sorted(day_truths)):
        spelled = "; ".join(f"{v['term']} <- {', '.join(v['heard'])}" for v in heard) or "-"
        print(f"  topic {day}: {label} ({calls} calls); spellings merged: {spelled}")
    for name in variants:
        total.recalled[name] += tally.recalled[name]
        total.wrong[name] += tally.wrong[name]
        total.planted_found[name] += tally.planted_found[name]
        total.seconds[name] += tally.seconds[name]
    total.topic_calls += tally.topic_calls
    total.planted += tally.planted
    total.calls += tally.calls
    total.missed += tally.missed


def _print_tally(tally: Tally) -> None:
    print(f"  {'rules':12} {'recall':>14} {'wrong topic':>12} {'planted pre-orders':>19}")
    for name in [n for n in ("before", "exact", "sounds-like") if n in tally.seconds]:
        recall = tally.recalled[name] / max(1, tally.topic_calls)
        print(
            f"  {name:12} {recall:>6.3f} ({tally.recalled[name]:>3}/{tally.topic_calls:<3}) "
            f"{tally.wrong[name]:>12} {tally.planted_found[name]:>12}/{tally.planted}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("demos", type=Path, nargs="+", help="folders with recordings/, warehouse/")
    parser.add_argument("--config", type=Path, help="YAML config (default: the embedded one)")
    parser.add_argument("--misses", action="store_true", help="list the calls still missed")
    parser.add_argument(
        "--before", type=Path, help="another rule file to compare (e.g. the rules of a release)"
    )
    args = parser.parse_args()
    settings = load_config(args.config)
    rules = load_rules(settings.keywords.rules, settings.keywords.sounds_like)
    variants = {"exact": rules.exact_only(), "sounds-like": rules}
    if args.before:
        variants = {"before": load_rules(args.before, settings.keywords.sounds_like)} | variants
    print(f"rules {rules.version_hash} (exact-only {variants['exact'].version_hash})")
    topics = generated_topics(args.demos) & {c.name for c in rules.categories}
    print(f"topics with a rule: {', '.join(sorted(topics))}")
    total = Tally()
    for root in args.demos:
        report_demo(root, settings, variants, topics, total)
    if len(args.demos) > 1:
        print(f"\nall demos: {total.calls} recorded calls")
        _print_tally(total)
    per_call = {name: total.seconds[name] / max(1, total.calls) * 1000 for name in variants}
    print(
        f"\ntagging: {per_call['exact']:.2f} ms per call exact-only, "
        f"{per_call['sounds-like']:.2f} ms with sounds-like "
        f"({per_call['sounds-like'] / max(per_call['exact'], 1e-9):.1f}x)"
    )
    recall = total.recalled["sounds-like"] / max(1, total.topic_calls)
    print(
        f"target recall >= 0.90: {recall:.3f} -> {'met' if recall >= 0.9 else 'NOT met'}; "
        f"wrong-topic calls {total.wrong['sounds-like']} (exact-only {total.wrong['exact']})"
    )
    if args.misses:
        for call_id, own, got in total.missed:
            print(f"  missed {call_id}: {own} (tagged {', '.join(got) or 'nothing'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
