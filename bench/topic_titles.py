"""What do a day's titles say? For a warehouse and date: each topic's and category's title terms,
and those of them that are not a dictionary word (jieba, content words only), a rule or catalogue
spelling, or a compound name of the day (two whole words said as one: 星河九号).

    python bench/topic_titles.py WAREHOUSE --date 2026-11-20 [--config FILE]

Run it on the demo's launch days (`make demo` builds five days with text-to-speech) or on any
night's warehouse. Exit status 1 when a title term is none of those.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callscope.core.config import load_config  # noqa: E402
from callscope.incidents.cluster import day_vocabulary, is_word  # noqa: E402
from callscope.keywords.rules import load_rules  # noqa: E402
from callscope.storage.warehouse import Warehouse  # noqa: E402


def known_names(settings) -> frozenset[str]:
    """The rules' spellings and, where this checkout has a catalogue, its names."""
    names = load_rules(settings.keywords.rules, settings.keywords.sounds_like).spellings
    try:
        from callscope.core.catalogue import load_catalogue

        names |= load_catalogue(settings.keywords.catalogue).spellings
    except (ImportError, AttributeError):
        pass
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    settings = load_config(args.config)
    store = Warehouse(args.warehouse)
    names = known_names(settings)
    statements = [r["statement"] for r in store.read("call_issues", args.date).to_pylist()]
    compounds = day_vocabulary([s for s in statements if s]).compounds
    rows = store.read("incidents", args.date).to_pylist()
    terms = bad = 0
    for row in sorted(rows, key=lambda r: (r["kind"], -r["calls"], r["incident_id"])):
        title = row["terms"] or []
        odd = [t for t in title if not (is_word(t) or t in names or t in compounds)]
        terms, bad = terms + len(title), bad + len(odd)
        print(f"{row['kind']:8} {row['calls']:5}  {row['label']}")
        print(f"{'':15}terms: {' · '.join(title) or '-'}")
        if odd:
            print(f"{'':15}not a word or name: {' · '.join(odd)}")
    print(f"{terms} title terms, {bad} not a dictionary word or known name")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
