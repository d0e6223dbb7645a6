"""How well the night hears generated demo calls: CER per call and role, and whether the planted
launch-day calls were tagged as pre-order failures.

    python bench/demo_calls.py --recordings demo/launch/recordings --warehouse demo/launch/warehouse

Reads each day's truth.json (written by `callscope demo generate`) and the warehouse that
`callscope nightly` wrote for those days. Prints corpus CER (Chinese calls) and WER (English
calls) per role, the calls with the highest error and their worst turns, repeated-phrase
hallucinations, and the launch-day category recall. Needs no model: it only reads.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callscope.asr.scoring import edit_distance, en_words, zh_chars  # noqa: E402
from callscope.privacy.redact import redact  # noqa: E402
from callscope.storage.warehouse import Warehouse  # noqa: E402

REPEAT = re.compile(r"(.{2,8}?)\1{2,}")
DIGIT = re.compile(r"[0-9零一二三四五六七八九幺两]")
LEFT_DIGIT = re.compile(r"[0-9]|(?<!一)[零二三四五六七八九幺]")  # 一 alone is mostly a word
READ_OUT = 6  # digits in a turn that make it a number read out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recordings", type=Path, required=True)
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--worst", type=int, default=5, help="calls to show in detail")
    args = parser.parse_args()
    by_day = truths(args.recordings)
    if not by_day:
        sys.exit(f"no <day>/truth.json under {args.recordings}: run `callscope demo generate`")
    warehouse = Warehouse(args.warehouse)
    rows = []
    for day, truth in by_day.items():
        segments = _segments(warehouse, day)
        categories = _categories(warehouse, day)
        for call in truth["calls"]:
            if not call.get("file"):
                continue
            hyp = segments.get(call["call_id"])
            if hyp is None:
                print(f"{call['call_id']}: not in the warehouse", file=sys.stderr)
                continue
            rows.append(_score(call, hyp, categories.get(call["call_id"], []), day))
    _report(rows, args.worst)


def truths(root: Path) -> dict[dt.date, dict]:
    out = {}
    for path in sorted(root.glob("*/truth.json")):
        try:
            truth = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            sys.exit(f"{path} cannot be read ({exc}): generate the day again")
        out[dt.date.fromisoformat(truth["date"])] = truth
    return out


def _segments(warehouse: Warehouse, day: dt.date) -> dict[str, list[dict]]:
    table = warehouse.read("segments", day).to_pylist()
    out: dict[str, list[dict]] = defaultdict(list)
    for row in sorted(table, key=lambda r: (r["call_id"], r["start_s"] or 0.0)):
        out[row["call_id"]].append(row)
    return out


def _categories(warehouse: Warehouse, day: dt.date) -> dict[str, list[str]]:
    return {r["call_id"]: r["categories"] or [] for r in warehouse.read("calls", day).to_pylist()}


def _tokens(text: str, language: str) -> list[str]:
    return en_words(text) if language == "en" else zh_chars(text)


def _score(call: dict, hyp: list[dict], categories: list[str], day: dt.date) -> dict:
    lang = call["language"]
    by_role: dict[str, tuple[int, int]] = {}
    for role in ("agent", "customer", "ivr"):
        ref = _tokens(" ".join(t["text"] for t in call["turns"] if t["role"] == role), lang)
        said = _tokens(" ".join(s["text"] or "" for s in hyp if s["speaker"] == role), lang)
        if ref or said:
            by_role[role] = (edit_distance(ref, said), len(ref))
    ref_all = _tokens(" ".join(t["text"] for t in call["turns"]), lang)
    hyp_all = _tokens(" ".join(s["text"] or "" for s in hyp), lang)
    repeats = [m.group(0) for s in hyp for m in REPEAT.finditer(s["text"] or "")]
    return {
        "call_id": call["call_id"],
        "day": day,
        "language": lang,
        "topic": call["topic"],
        "planted": call.get("is_planted", False),
        "layout": call["channel_layout"],
        "edits": edit_distance(ref_all, hyp_all),
        "ref": len(ref_all),
        "by_role": by_role,
        "repeats": repeats,
        "numbers": [
            (_exposed(s["text_redacted"] or ""), _exposed(redact(s["text"] or "")[0]))
            for s in hyp
            if len(DIGIT.findall(s["text"] or "")) >= READ_OUT
        ],
        "hit": call["category"] in categories if call.get("category") else None,
        "ref_text": [f"{t['role']}: {t['text']}" for t in call["turns"]],
        "hyp_text": [f"{s['speaker']}: {s['text']}" for s in hyp],
    }


def _exposed(text: str) -> bool:
    return len(LEFT_DIGIT.findall(text)) >= READ_OUT


def _report(rows: list[dict], worst: int) -> None:
    print(f"{len(rows)} calls scored")
    for lang, name in (("zh", "CER"), ("en", "WER")):
        subset = [r for r in rows if r["language"] == lang]
        if not subset:
            continue
        total = sum(r["edits"] for r in subset) / max(1, sum(r["ref"] for r in subset))
        print(f"{lang}: {len(subset)} calls, {name} {total:.3f} (role-blind)")
        for role in ("agent", "customer", "ivr"):
            pairs = [r["by_role"][role] for r in subset if role in r["by_role"]]
            if pairs:
                rate = sum(e for e, _ in pairs) / max(1, sum(n for _, n in pairs))
                print(f"  {role:<8} {name} {rate:.3f} over {sum(n for _, n in pairs)} tokens")
        by_layout = defaultdict(lambda: [0, 0])
        for r in subset:
            by_layout[r["layout"]][0] += r["edits"]
            by_layout[r["layout"]][1] += r["ref"]
        for layout, (e, n) in sorted(by_layout.items()):
            print(f"  {layout:<10} {name} {e / max(1, n):.3f}")
    repeats = [(r["call_id"], x) for r in rows for x in r["repeats"]]
    print(f"repeated-phrase runs in transcripts: {len(repeats)} {repeats[:8]}")
    numbers = [n for r in rows for n in r["numbers"]]
    print(
        f"turns with {READ_OUT}+ digits: {len(numbers)}; redacted by the night's stored text "
        f"{sum(not stored for stored, _ in numbers)}, by today's rules "
        f"{sum(not now for _, now in numbers)}"
    )
    tagged = [r for r in rows if r["hit"] is not None]
    for planted in (True, False):
        subset = [r for r in tagged if r["planted"] == planted and r["topic"] == "preorder_failure"]
        if subset:
            found = sum(r["hit"] for r in subset)
            kind = "planted launch" if planted else "normal"
            print(f"pre-order calls ({kind}): {found}/{len(subset)} tagged preorder_failure")
    right = sum(r["hit"] for r in tagged)
    print(f"calls tagged with their topic's category: {right}/{len(tagged)}")
    for r in sorted(rows, key=lambda r: -r["edits"] / max(1, r["ref"]))[:worst]:
        print(
            f"\n{r['call_id']} {r['topic']} {r['layout']} error {r['edits'] / max(1, r['ref']):.3f}"
        )
        print("  truth: " + " | ".join(r["ref_text"]))
        print("  heard: " + " | ".join(r["hyp_text"]))


if __name__ == "__main__":
    main()
