"""How often a catalogue name is written right: for each name of a catalogue, the generated
calls whose script says it, and how many of their transcripts write it (the canonical name or
an alias), for one or more warehouses of the same day (e.g. a night with the catalogue and one
without).

    python bench/catalogue_names.py DAY_FOLDER WAREHOUSE [WAREHOUSE ...] \
        [--catalogue configs/demo-catalogue.yaml]

DAY_FOLDER is a generated day (`callscope demo generate`: recordings and truth.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callscope.core.catalogue import load_catalogue  # noqa: E402
from callscope.storage.warehouse import Warehouse  # noqa: E402


def spoken(truth: dict, spellings: list[str]) -> set[str]:
    """Calls whose script says one of the spellings."""
    return {
        call["call_id"]
        for call in truth["calls"]
        if any(s in turn["text"] for turn in call.get("turns", []) for s in spellings)
    }


def written(store: Warehouse, day: dt.date, spellings: list[str]) -> set[str]:
    rows = store.read("segments", day).select(["call_id", "text"]).to_pylist()
    return {r["call_id"] for r in rows if any(s in (r["text"] or "") for s in spellings)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("day_folder", type=Path)
    parser.add_argument("warehouses", type=Path, nargs="+")
    parser.add_argument("--catalogue", type=Path, default=ROOT / "configs" / "demo-catalogue.yaml")
    args = parser.parse_args()
    if not (args.day_folder / "truth.json").is_file():
        parser.error(
            f"{args.day_folder} has no truth.json: give a day that `callscope demo generate` wrote"
        )
    for folder in args.warehouses:
        if not folder.is_dir():
            parser.error(f"{folder} is not a warehouse folder (run the day's night into it first)")
    truth = json.loads((args.day_folder / "truth.json").read_text(encoding="utf-8"))
    day = dt.date.fromisoformat(truth["date"])
    catalogue = load_catalogue(args.catalogue)
    print(f"{day}: calls whose script says the name, and how many transcripts write it")
    for entry in catalogue.active(day):
        spellings = entry.spellings
        said = spoken(truth, spellings)
        if not said:
            continue
        shares = []
        for folder in args.warehouses:
            right = said & written(Warehouse(folder), day, spellings)
            shares.append(f"{folder.name} {len(right)}/{len(said)} = {len(right) / len(said):.2f}")
        print(f"  {entry.name}: " + "; ".join(shares))
    return 0


if __name__ == "__main__":
    sys.exit(main())
