"""Do two warehouses hold the same day? Compares the tables a night writes (calls, segments,
keyword hits, categories, incidents, call issues) row by row, leaving out what says when or
how a row was made (timings, the settings key, the processing time).

    python bench/compare_tables.py WAREHOUSE_A WAREHOUSE_B --date 2026-11-20

Used to check that a change leaves a night's results alone: run the night of the same
recordings with the code before and after it into two warehouses, then compare them.
Exit status 1 when a table differs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callscope.core.errors import CallscopeError  # noqa: E402
from callscope.storage.warehouse import Warehouse  # noqa: E402

TABLES = ("calls", "segments", "keyword_hits", "call_issues", "incidents", "emotion_daily")
HOW_MADE = {"processing_s", "processed_at", "settings_hash", "created_at", "computed_at", "at"}
KEYS = {"calls": ("call_id",), "segments": ("call_id", "idx"), "incidents": ("incident_id",)}


def rows(store: Warehouse, table: str, day: dt.date) -> list[dict] | None:
    try:
        found = store.read(table, day).to_pylist()
    except (CallscopeError, OSError, KeyError, ValueError):
        return None
    return [{k: _plain(v) for k, v in row.items() if k not in HOW_MADE} for row in found]


def _plain(value):
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in HOW_MADE}
    return value


def _key(table: str, row: dict) -> tuple:
    names = KEYS.get(table)
    return tuple(row.get(n) for n in names) if names else (repr(sorted(row.items())),)


def compare(a: Warehouse, b: Warehouse, day: dt.date) -> dict[str, str]:
    verdicts = {}
    for table in TABLES:
        left, right = rows(a, table, day), rows(b, table, day)
        if left is None or right is None:
            verdicts[table] = "absent in both" if left == right else "absent in one"
            continue
        by_key = [{_key(table, r): r for r in side} for side in (left, right)]
        keys = set(by_key[0]) | set(by_key[1])
        differing = [k for k in keys if by_key[0].get(k) != by_key[1].get(k)]
        columns = sorted(
            {
                column
                for k in differing
                for column in (by_key[0].get(k) or {}).keys() | (by_key[1].get(k) or {}).keys()
                if (by_key[0].get(k) or {}).get(column) != (by_key[1].get(k) or {}).get(column)
            }
        )
        verdicts[table] = (
            f"same ({len(left)} rows)"
            if not differing
            else f"{len(differing)} of {len(keys)} rows differ, in {', '.join(columns)}"
        )
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--date", type=dt.date.fromisoformat, required=True)
    args = parser.parse_args()
    for folder in (args.a, args.b):
        if not folder.is_dir():
            parser.error(f"{folder} is not a warehouse folder (run a night into it first)")
    verdicts = compare(Warehouse(args.a), Warehouse(args.b), args.date)
    for table, verdict in verdicts.items():
        print(f"{table}: {verdict}")
    return 0 if all(v.startswith(("same", "absent in both")) for v in verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
