"""Personal data left in real recogniser output: demo days against what was said.

    python bench/pii_transcripts.py demo/seeds/s7 demo/seeds/s11 [--stored] [--show-errors]

Each folder is a generated demo (`callscope demo` with a seed): `recordings/<day>/truth.json`
holds what each call's speakers said, with the personal data they gave (`pii_items`: kind,
spoken text, value), and `warehouse/` the night's tables, whose `segments` hold what the
speech recogniser wrote for it (`text`). By default each call's segments are redacted again
with today's rules as the night does (`redact_segments`: one speaker's consecutive segments
read together, a value found once redacted wherever the call repeats it), so a rule change is
measured without running the nights again; `--stored` reads the night's own `text_redacted`.

An item counts as leaked when what it gave can still be read from the call's redacted text:
- a number (phone, ID, card, QQ): 7 or more of its digits (all of them when it has fewer) in
  order in one run of digits and characters that sound like digits (腰 / 要 for 1, 搬 / 吧 for 8,
  爱 for 2, 久 / 酒 for 9...; at most two other characters between two of them), over all of the
  call's segments in time order. Fewer of its digits right next to a redacted number are
  "partly left" (腰[phone] for 176..., where the span with 腰 reads more of the number than the
  span alone; 号码是[phone] is not): not leaked, shown because nothing of a number should be
  left;
- an address: its street with the house number (中山路83号, 中山路八十三号) or 5 or more of its
  house, building, unit and room digits in order in one run;
- anything else: its spoken text or its value appears in the redacted text.
The digit-sound table here is the measure's own, wider than the redactor's, so the measure is
not the rules' mirror; against other calls' values (`chance` line) it finds next to nothing.

Precision: the spans found on calls whose truth has no personal data are all false, and so are
those of a kind a call's truth does not have; they are counted by kind and listed with
`--show-errors` to be read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callscope.privacy.redact import REDACTION_VERSION, redact_segments  # noqa: E402
from callscope.storage.warehouse import Warehouse  # noqa: E402

# characters the recogniser writes for a spoken digit (homophones, numerals, financial forms)
_SOUNDS = {
    "0": "0０零〇洞灵铃玲龄领令凌",
    "1": "1１一幺腰要妖邀药摇遥衣医依伊壹",
    "2": "2２二两爱饿而儿尔耳贰",
    "3": "3３三散伞山仨叁",
    "4": "4４四是似死寺事丝斯司思次刺字肆",
    "5": "5５五舞无午武吾伍屋物",
    "6": "6６六留溜流刘陆柳",
    "7": "7７七期漆奇齐妻拐其起季柒",
    "8": "8８八吧巴搬扒把爸疤拔捌",
    "9": "9９九久酒就旧救玖",
}
_DIGIT_OF = {ch: digit for digit, chars in _SOUNDS.items() for ch in chars}
_EN = "zero oh one two three four five six seven eight nine".split()
_EN_DIGIT = {word: str(max(0, i - 1)) for i, word in enumerate(_EN)}
_EN_TOKEN = re.compile(rf"\b(?:{'|'.join(_EN)})\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\[(?:phone|id_number|bank_card|email|address|name|im_id)\]")
RUN_MAX_GAP = 2
LEAK_DIGITS = 7
ADDRESS_LEAK_DIGITS = 5
NUMBER_KINDS = ("phone", "id_number", "bank_card", "im_id")
DAYS = [dt.date(2026, 11, 16) + dt.timedelta(days=i) for i in range(5)]


@dataclass
class Run:
    digits: str
    start: int
    end: int


def digit_runs(text: str) -> list[Run]:
    """Runs of digit-like characters (and English digit words) with at most RUN_MAX_GAP other
    characters between two of them; a placeholder ends a run."""
    marks: list[tuple[int, int, str]] = []
    for m in _EN_TOKEN.finditer(text):
        marks.append((m.start(), m.end(), _EN_DIGIT[m.group().lower()]))
    marks += [(i, i + 1, _DIGIT_OF[ch]) for i, ch in enumerate(text) if ch in _DIGIT_OF]
    marks.sort()
    runs: list[Run] = []
    for start, end, digit in marks:
        last = runs[-1] if runs else None
        gap = text[last.end : start] if last else ""
        if last and len(gap) <= RUN_MAX_GAP and not _PLACEHOLDER.search(text[last.end : end]):
            last.digits += digit
            last.end = end
        else:
            runs.append(Run(digit, start, end))
    return runs


def common_in_order(a: str, b: str) -> int:
    """Length of the longest common subsequence of two digit strings."""
    row = [0] * (len(b) + 1)
    for ch in a:
        previous = 0
        for j, other in enumerate(b, 1):
            kept = row[j]
            row[j] = previous + 1 if ch == other else max(row[j], row[j - 1])
            previous = kept
    return row[-1]


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def reading(text: str) -> str:
    """The digits a stretch of text sounds like, in order."""
    return "".join(run.digits for run in digit_runs(text))


def number_left(value: str, text: str) -> int:
    """The most of `value`'s digits in order in one run of `text`."""
    digits = _digits(value)
    return max((common_in_order(digits, run.digits) for run in digit_runs(text)), default=0)


NUMBER_SPAN_KINDS = ("phone", "id_number", "bank_card", "im_id")
_EDGE = re.compile(r"[^\s，,、。.\-]*[\s，,、\-]?")


def left_beside(rows: list[dict]) -> list[tuple[str, str, str, str]]:
    """For each number span of the call: (its kind, the digits the characters right before
    it sound like, the span's own, those right after), the characters before and after taken
    up to a pause and only where they sound like digits."""
    found = []
    for row in rows:
        text = row["text"] or ""
        spans = sorted(row["pii"] or [], key=lambda p: p["start"])
        for i, span in enumerate(spans):
            if span["kind"] not in NUMBER_SPAN_KINDS:
                continue
            lo = spans[i - 1]["end"] if i else 0
            hi = spans[i + 1]["start"] if i + 1 < len(spans) else len(text)
            before = re.search(r"[^\s，,、。]{0,4}[\s，,、\-]?$", text[lo : span["start"]]).group()
            after = _EDGE.match(text, span["end"], hi).group()
            own = reading(text[span["start"] : span["end"]])
            found.append((span["kind"], _tail(before), own, _head(after)))
    return found


def _tail(text: str) -> str:
    """The digits the end of `text` sounds like (the characters that sound like digits)."""
    out = ""
    for ch in reversed(text.rstrip(" ，,、-")):
        if ch not in _DIGIT_OF:
            break
        out = _DIGIT_OF[ch] + out
    return out


def _head(text: str) -> str:
    out = ""
    for ch in text.lstrip(" ，,、-"):
        if ch not in _DIGIT_OF:
            break
        out += _DIGIT_OF[ch]
    return out


def partly_left(kind: str, value: str, beside: list[tuple[str, str, str, str]]) -> bool:
    """Digits of `value` left right next to a redacted number of its kind: the span with them
    reads more of `value` than the span alone (号码是要[phone] for 133..., not 号码是[phone])."""
    digits = _digits(value)
    return any(
        common_in_order(digits, before + own + after) > common_in_order(digits, own)
        for span_kind, before, own, after in beside
        if span_kind == kind
    )


_FINE = re.compile(r"^.*?(?:省|自治区|市|区|县|旗)")
_STREET = re.compile(r"(?P<street>[\u4e00-\u9fff]{1,6}?(?:大街|大道|路|街|巷|胡同))(?P<no>\d+)号")
_ZH_NUMBER = "零一二三四五六七八九十"


def _zh_number(n: int) -> str:
    if n < 10:
        return _ZH_NUMBER[n]
    tens, units = divmod(n, 10)
    if n < 100:
        return ("" if tens == 1 else _ZH_NUMBER[tens]) + "十" + (_ZH_NUMBER[units] if units else "")
    return "".join(_ZH_NUMBER[int(d)] for d in str(n))


def address_left(value: str, text: str) -> bool:
    fine = _FINE.sub("", value)
    if (m := _STREET.search(value)) is not None:
        street, number = m.group("street"), int(m.group("no"))
        for said in (f"{street}{number}号", f"{street}{_zh_number(number)}号"):
            if said in text:
                return True
    digits = _digits(fine)
    need = min(ADDRESS_LEAK_DIGITS, len(digits))
    return bool(digits) and any(
        common_in_order(digits, run.digits) >= need for run in digit_runs(text)
    )


def item_left(item: dict, text: str, beside: list[tuple[str, str, str, str]] = ()) -> str:
    """Whether one personal-data item is "leaked", "partly left" or not ("") in a call's
    redacted text (`beside`: `left_beside` of the call)."""
    kind, value = item["kind"], str(item.get("value") or item.get("text") or "")
    if kind in NUMBER_KINDS and _digits(value):
        if number_left(value, text) >= min(LEAK_DIGITS, len(_digits(value))):
            return "leaked"
        return "partly left" if partly_left(kind, value, beside) else ""
    if kind == "address":
        return "leaked" if address_left(value, text) else ""
    said = [s for s in (item.get("text"), item.get("value")) if s]
    return "leaked" if any(s in text for s in said) else ""


# --- reading the folders --------------------------------------------------------------------


@dataclass
class Call:
    call_id: str
    items: list[dict]
    rows: list[dict]  # segments in time order: text, text_redacted, pii

    def redacted(self) -> str:
        return " ".join(row["text_redacted"] or "" for row in self.rows)


def read_calls(folder: Path, day: dt.date, stored: bool) -> list[Call]:
    truth_path = folder / "recordings" / day.isoformat() / "truth.json"
    if not truth_path.exists():
        return []
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    columns = ["call_id", "idx", "speaker", "start_s", "text", "text_redacted", "pii"]
    rows = Warehouse(folder / "warehouse").read("segments", day, columns).to_pylist()
    rows.sort(key=lambda r: (r["call_id"], r["start_s"] or 0.0, r["idx"]))
    if not stored:
        rows = [{k: r[k] for k in ("call_id", "idx", "speaker", "start_s", "text")} for r in rows]
        redact_segments(rows)
    by_call: dict[str, list[dict]] = {}
    for row in rows:
        by_call.setdefault(row["call_id"], []).append(row)
    return [
        Call(c["call_id"], list(c.get("pii_items") or []), by_call.get(c["call_id"], []))
        for c in truth["calls"]
        if c["call_id"] in by_call
    ]


@dataclass
class Tally:
    items: Counter[str] = field(default_factory=Counter)
    leaked: Counter[str] = field(default_factory=Counter)
    partly: Counter[str] = field(default_factory=Counter)
    clean_calls: int = 0
    false_spans: Counter[str] = field(default_factory=Counter)
    other_spans: Counter[str] = field(default_factory=Counter)
    chance_checks: int = 0
    chance_hits: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name in ("items", "leaked", "partly", "false_spans", "other_spans"):
            getattr(self, name).update(getattr(other, name))
        self.clean_calls += other.clean_calls
        self.chance_checks += other.chance_checks
        self.chance_hits += other.chance_hits


def tally_calls(calls: list[Call], day: dt.date, rng: random.Random) -> Tally:
    tally = Tally()
    values = [i["value"] for c in calls for i in c.items if i["kind"] in NUMBER_KINDS]
    for call in calls:
        text = call.redacted()
        if not call.items:
            tally.clean_calls += 1
            for row in call.rows:
                for span in row["pii"] or []:
                    tally.false_spans[span["kind"]] += 1
                    said = row["text"][span["start"] : span["end"]]
                    tally.errors.append(
                        f"  false {span['kind']:<9} {day} {call.call_id}: {said!r} in {row['text']!r}"
                    )
            continue
        own = {i["value"] for i in call.items}
        kinds = {i["kind"] for i in call.items}
        for row in call.rows:
            for span in row["pii"] or []:
                if span["kind"] not in kinds:
                    tally.other_spans[span["kind"]] += 1
                    said = row["text"][span["start"] : span["end"]]
                    tally.errors.append(
                        f"  other {span['kind']:<9} {day} {call.call_id}: {said!r} in {row['text']!r}"
                    )
        beside = left_beside(call.rows)
        for item in call.items:
            kind = item["kind"]
            tally.items[kind] += 1
            verdict = item_left(item, text, beside)
            if verdict == "leaked":
                tally.leaked[kind] += 1
            elif verdict == "partly left":
                tally.partly[kind] += 1
            if verdict:
                where = " / ".join(_where(call.rows, item))
                tally.errors.append(
                    f"  {verdict:<11} {kind:<9} {day} {call.call_id} {item['value']}: {where}"
                )
        others = [v for v in values if v not in own]
        for value in rng.sample(others, min(3, len(others))):  # someone else's number
            tally.chance_checks += 1
            tally.chance_hits += item_left({"kind": "phone", "value": value}, text) == "leaked"
    return tally


def _where(rows: list[dict], item: dict) -> list[str]:
    """The redacted segments that hold a placeholder or a bit of the item."""
    digits = _digits(str(item.get("value") or ""))
    shown = []
    for row in rows:
        redacted = row["text_redacted"] or ""
        some = digits and number_left(digits, redacted) >= 3
        if _PLACEHOLDER.search(redacted) or some or (item.get("text") or "\0") in redacted:
            shown.append(redacted)
    return shown


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.3f}" if den else "-"


def report(title: str, tally: Tally) -> None:
    print(f"\n{title}")
    print(f"  {'kind':<10} {'items':>5} {'leaked':>6} {'recall':>6} {'partly left':>11}")
    for kind in sorted(tally.items, key=lambda k: -tally.items[k]):
        n, leaked = tally.items[kind], tally.leaked[kind]
        print(
            f"  {kind:<10} {n:>5} {leaked:>6} {_ratio(n - leaked, n):>6} {tally.partly[kind]:>11}"
        )
    n, leaked = sum(tally.items.values()), sum(tally.leaked.values())
    partly = sum(tally.partly.values())
    print(f"  {'all':<10} {n:>5} {leaked:>6} {_ratio(n - leaked, n):>6} {partly:>11}")
    spans = sum(tally.false_spans.values())
    kinds = ", ".join(f"{k} {v}" for k, v in tally.false_spans.most_common()) or "none"
    print(
        f"  calls without personal data: {tally.clean_calls}, spans found on them: {spans} ({kinds})"
    )
    spans = sum(tally.other_spans.values())
    kinds = ", ".join(f"{k} {v}" for k, v in tally.other_spans.most_common()) or "none"
    print(f"  on calls with personal data, spans of a kind they do not have: {spans} ({kinds})")
    print(
        f"  chance: other calls' numbers 'leaked' in {tally.chance_hits} of "
        f"{tally.chance_checks} checks"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folders", nargs="+", type=Path, help="generated demo folders")
    parser.add_argument("--stored", action="store_true", help="the night's stored text_redacted")
    parser.add_argument("--days", nargs="*", type=dt.date.fromisoformat, default=DAYS)
    parser.add_argument("--show-errors", action="store_true", help="list leaks and false spans")
    args = parser.parse_args()
    rules = "as stored by the nights" if args.stored else f"today's rules ({REDACTION_VERSION})"
    total = Tally()
    for folder in args.folders:
        tally = Tally()
        rng = random.Random(7)
        for day in args.days:
            part = tally_calls(read_calls(folder, day, args.stored), day, rng)
            tally.add(part)
            tally.errors += part.errors
        report(f"{folder.name} ({len(args.days)} days, {rules})", tally)
        if args.show_errors and tally.errors:
            print("\n".join(tally.errors))
        total.add(tally)
    if len(args.folders) > 1:
        report(f"ALL {len(args.folders)} FOLDERS", total)


if __name__ == "__main__":
    main()
