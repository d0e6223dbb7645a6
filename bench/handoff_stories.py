"""How the marketing hand-off tells a generated launch day's planted stories.

    python bench/handoff_stories.py demo/seeds/s11 demo/seeds/s23 [--date 2026-11-20]
        [--before 61716bf] [--json]

Each argument is a folder laid out as `make demo` lays out `demo/`: `recordings/<day>/truth.json`
(written by `callscope demo generate`) and `warehouse/` with the nights run and the hand-off
written (`warehouse/handoff/<day>/`). For each planted story of the day (truth.json `planted`):

- sections: how many sections of summary.md are about it (a section is about a story when at
  least half of the calls of the incident that heads it are calls of that story's topic);
  target: one for each story that rose, none about no planted story;
- recall: the share of the story's planted calls that its best section holds;
- how it is told: story (a spike) or emerging, and the strongest incident about it (calls
  against expected, p): a story that did not rise in the data is not expected to be told.

Also the title words of the sections and their facets that are neither dictionary words nor
rule / catalogue spellings nor compound names of the day, and the spellings in summary.md of a
catalogue name that sound like it but are written otherwise (星和九号 for 星河九号).

`--before COMMIT` reads the same hand-off as the summary of that commit told it (its
incidents/report.py, from git, over the same incident rows): one section per spike.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callscope.core.catalogue import load_catalogue  # noqa: E402
from callscope.core.config import load_config  # noqa: E402
from callscope.core.sounds import ALL_CONFUSIONS, name_key  # noqa: E402
from callscope.incidents.cluster import day_vocabulary, is_word  # noqa: E402
from callscope.incidents.report import public_rows  # noqa: E402
from callscope.keywords.rules import load_rules  # noqa: E402
from callscope.storage.warehouse import read_parquet  # noqa: E402

LAUNCH = dt.date(2026, 11, 20)
ABOUT = 0.5  # share of a section's calls that are of a story's topic


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("days", nargs="+", type=Path, help="folders with recordings/, warehouse/")
    parser.add_argument("--date", type=dt.date.fromisoformat, default=LAUNCH)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--catalogue", type=Path, default=ROOT / "configs" / "demo-catalogue.yaml")
    parser.add_argument("--before", help="a commit whose summary to compare with")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = load_config(args.config)
    catalogue = load_catalogue(args.catalogue)
    names = load_rules(settings.keywords.rules).spellings | catalogue.spellings
    old_report = _old_report(args.before) if args.before else None
    results = []
    for folder in args.days:
        truth_file = folder / "recordings" / args.date.isoformat() / "truth.json"
        bundle = folder / "warehouse" / "handoff" / args.date.isoformat()
        if not truth_file.is_file() or not (bundle / "manifest.json").is_file():
            print(f"{folder}: needs {truth_file} and a hand-off in {bundle}", file=sys.stderr)
            return 2
        truth = json.loads(truth_file.read_text(encoding="utf-8"))
        rows = read_parquet(bundle / "incidents.parquet").to_pylist()
        summary = (bundle / "summary.md").read_text(encoding="utf-8")
        result = {"folder": str(folder), "seed": truth["seed"]}
        result["after"] = _read(truth, rows, summary, _told(rows), catalogue, names)
        if old_report is not None:
            before = _old_summary(old_report, rows, args.date)
            spikes = [r for r in rows if r["is_spike"]]
            result["before"] = _read(truth, rows, before, spikes, catalogue, names, facets=False)
        results.append(result)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for result in results:
            _print(result)
    return 0


def _told(rows: list[dict]) -> list[dict]:
    return sorted(
        (r for r in rows if r["section"] in ("story", "emerging")), key=lambda r: r["story_rank"]
    )


def _read(truth, rows, summary, heads, catalogue, names, facets=True) -> dict:
    topic_of = {c["call_id"]: c["topic"] for c in truth["calls"]}
    planted = {
        story: {c["call_id"] for c in truth["calls"] if c["is_planted"] and c["topic"] == story}
        for story in truth["planted"]
    }
    about = {r["incident_id"]: _about(r, topic_of) for r in heads}
    stories = {}
    for story, calls in planted.items():
        mine = [r for r in heads if about[r["incident_id"]] == story]
        best = max(mine, key=lambda r: len(calls & set(r["call_ids"])), default=None)
        every = [r for r in rows if _about(r, topic_of) == story]
        strongest = max(every, key=lambda r: r["score"] or 0.0, default=None)
        stories[story] = {
            "strongest": None
            if strongest is None
            else f"{strongest['kind']} {strongest['calls']} against {strongest['expected']:.1f} "
            f"(p {strongest['p_value']:.2g})",
            "planted": len(calls),
            "sections": len(mine),
            "told_as": (best.get("section") or "story") if best else None,
            "recall": round(len(calls & set(best["call_ids"])) / len(calls), 3) if best else 0.0,
        }
    titled = heads + ([r for r in rows if r["section"] == "facet"] if facets else [])
    return {
        "stories": stories,
        "sections": len(heads),
        "unplanted_sections": sum(about[r["incident_id"]] not in planted for r in heads),
        "unplanted_labels": [r["label"] for r in heads if about[r["incident_id"]] not in planted],
        "title_non_words": _non_words(titled, rows, names),
        "misspelt_names": _misspelt(summary, catalogue),
    }


def _about(row: dict, topic_of: dict) -> str | None:
    """The planted topic that at least half of the row's calls are of, or None."""
    counts = Counter(topic_of.get(c) for c in row["call_ids"] or [])
    topic, n = max(counts.items(), key=lambda item: item[1], default=(None, 0))
    return topic if topic is not None and n >= ABOUT * len(row["call_ids"]) else None


def _non_words(titled: list[dict], rows: list[dict], names: frozenset[str]) -> list[str]:
    statements = [e["text"] for r in rows for e in r["examples"] or []]
    compounds = day_vocabulary(statements).compounds
    odd = []
    for row in titled:
        if row["kind"] == "topic":
            odd += [
                t for t in row["terms"] or [] if not (is_word(t) or t in names or t in compounds)
            ]
    return sorted(set(odd))


_HAN_RUN = re.compile(r"[\u3400-\u9fff]+")


def _misspelt(summary: str, catalogue) -> dict[str, list[str]]:
    """{catalogue name: the spellings in the text that sound like it but are written otherwise}"""
    found: dict[str, list[str]] = {}
    for entry in catalogue.names:
        name = entry.name
        if not _HAN_RUN.fullmatch(name):
            continue
        key = name_key(name, ALL_CONFUSIONS)
        accepted = {name, *entry.aliases}
        odd = set()
        for run in _HAN_RUN.findall(summary):
            for i in range(len(run) - len(name) + 1):
                part = run[i : i + len(name)]
                if part not in accepted and name_key(part, ALL_CONFUSIONS) == key:
                    odd.add(part)
        if odd:
            found[name] = sorted(odd)
    return found


def _old_report(commit: str):
    """incidents/report.py as it was at `commit`, loaded as a module of its own."""
    text = subprocess.run(
        ["git", "show", f"{commit}:incidents/report.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "report_before.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("report_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _old_summary(module, rows: list[dict], day: dt.date) -> str:
    import pyarrow as pa

    table = pa.Table.from_pylist(rows)
    calls = len({c for r in rows for c in r["call_ids"] or []})
    return module.markdown(day, public_rows(table), calls, None)


def _print(result: dict) -> None:
    print(f"== {result['folder']} (seed {result['seed']})")
    for when in ("before", "after"):
        if when not in result:
            continue
        got = result[when]
        print(
            f"  {when:6}: {got['sections']} sections, {got['unplanted_sections']} about no "
            f"planted story {got['unplanted_labels'] or ''}"
        )
        for story, s in got["stories"].items():
            print(
                f"    {story:22} planted {s['planted']:3}  sections {s['sections']}  "
                f"told as {s['told_as'] or '-':8}  recall {s['recall']:.2f}  "
                f"(strongest incident: {s['strongest'] or 'none'})"
            )
        print(f"    title terms not words or names: {got['title_non_words'] or 'none'}")
        print(f"    catalogue names misspelt in summary.md: {got['misspelt_names'] or 'none'}")


if __name__ == "__main__":
    sys.exit(main())
