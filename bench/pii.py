"""Recall and precision of PII redaction (privacy/redact.py).

    python bench/pii.py [--eval DIR] [--synthetic 600] [--seed 7] [--show-errors]
    python bench/pii.py --part handoff    # what of the names and addresses reaches marketing
    python bench/pii.py --part stored --warehouse demo/warehouse   # stored days, today's rules

1. Real dialogues: 400 Chinese helpdesk dialogues of ../shared/eval/text/stc3_train_cn.json
   (Weibo customer service): every dialogue containing a run of >= 7 digits / Chinese numerals,
   an e-mail-like "@" or a house-number address word (360), plus 40 others drawn at random
   (seed 20260601). PII spans were labelled by hand (bench/data/pii_labels.jsonl: ids, turn /
   utterance index, character offsets and kind only; guide: bench/data/pii_labelling_guide.md).
   Caveat: the detector was written after looking at these dialogues, so this is not a held-out
   figure; Weibo text has no ID numbers, one bank card and no digits spoken as words.
2. Synthetic utterances (clearly separate): call-centre sentences from templates with random
   numbers in the forms Whisper writes (digits with spaces / dashes, Chinese numerals 幺 / 洞,
   mixed, English words with "double" / "oh"), plus negatives (amounts, dates, counts, service
   numbers, Luhn-invalid order numbers). Gold spans come from the generator.

A gold span counts as found when a predicted span of the same kind overlaps it ("redacted" also
counts an overlap by any kind: what matters for privacy); a predicted span is correct when it
overlaps a gold span of the same kind. The real-data part skips cleanly when the evaluation
folder is absent; the synthetic part always runs.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callscope.privacy.redact import (  # noqa: E402
    KINDS,
    PiiSpan,
    find_pii,
    id_checksum_ok,
    luhn_ok,
    redact_segments,
)

from bench.pii_calls import en_digit_words, random_digits  # noqa: E402

DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
LABELS = Path(__file__).resolve().parent / "data" / "pii_labels.jsonl"
Gold = tuple[str, int, int]  # kind, start, end
LABELLED_KINDS = ("phone", "id_number", "bank_card", "email", "address")  # of the Weibo labels


# --- scoring ----------------------------------------------------------------------------


class Score:
    def __init__(self) -> None:
        self.gold: Counter[str] = Counter()
        self.found: Counter[str] = Counter()
        self.redacted: Counter[str] = Counter()
        self.pred: Counter[str] = Counter()
        self.correct: Counter[str] = Counter()
        self.misses: list[tuple[str, str]] = []
        self.false: list[tuple[str, str]] = []

    def add(self, text: str, gold: list[Gold], pred: list[PiiSpan]) -> None:
        for kind, start, end in gold:
            overlaps = [p for p in pred if p.start < end and p.end > start]
            self.gold[kind] += 1
            self.redacted[kind] += bool(overlaps)
            if any(p.kind == kind for p in overlaps):
                self.found[kind] += 1
            else:
                self.misses.append((kind, _context(text, start, end)))
        for p in pred:
            self.pred[p.kind] += 1
            if any(k == p.kind and s < p.end and e > p.start for k, s, e in gold):
                self.correct[p.kind] += 1
            else:
                self.false.append((p.kind, _context(text, p.start, p.end)))

    def report(self, title: str, show_errors: bool) -> None:
        print(f"\n{title}")
        print(
            f"  {'kind':<10} {'gold':>5} {'recall':>7} {'redacted':>9} {'pred':>5} {'precision':>9}"
        )
        for kind in [*KINDS, "all"]:
            pick = (lambda c: sum(c.values())) if kind == "all" else (lambda c, k=kind: c[k])
            gold, pred = pick(self.gold), pick(self.pred)
            recall = _ratio(pick(self.found), gold)
            redacted = _ratio(pick(self.redacted), gold)
            precision = _ratio(pick(self.correct), pred)
            print(f"  {kind:<10} {gold:>5} {recall:>7} {redacted:>9} {pred:>5} {precision:>9}")
        if show_errors:
            for label, rows in (("missed", self.misses), ("false", self.false)):
                for kind, ctx in rows:
                    print(f"    {label} {kind}: {ctx}")


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.3f}" if den else "-"


def _context(text: str, start: int, end: int) -> str:
    return (
        text[max(0, start - 12) : start] + "⟦" + text[start:end] + "⟧" + text[end : end + 8]
    ).replace("\n", " ")


# --- real dialogues ---------------------------------------------------------------------


def real_part(eval_dir: Path, show_errors: bool) -> None:
    source = eval_dir / "text" / "stc3_train_cn.json"
    if not source.exists() or not LABELS.exists():
        print(f"real dialogues: skipped ({source} or {LABELS} not found)")
        return
    dialogues = {d["id"]: d for d in json.loads(source.read_text(encoding="utf-8"))}
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line]
    score, utterances, unlabelled = Score(), 0, Counter()
    by_sample: dict[str, Score] = {}
    for row in rows:
        gold = _gold_by_utterance(row)
        sample_score = by_sample.setdefault(row["sample"], Score())
        for ti, turn in enumerate(dialogues[row["id"]]["turns"]):
            for ui, text in enumerate(turn["utterances"]):
                found = find_pii(text)
                pred = [p for p in found if p.kind in LABELLED_KINDS]
                for p in found:
                    if p.kind not in LABELLED_KINDS:
                        unlabelled[p.kind] += 1
                        if show_errors:  # to be read by hand: these kinds have no labels here
                            print(f"    unlabelled {p.kind}: {_context(text, p.start, p.end)}")
                score.add(text, gold.get((ti, ui), []), pred)
                sample_score.add(text, gold.get((ti, ui), []), pred)
                utterances += 1
    print(f"real dialogues: {len(rows)} dialogues, {utterances} utterances ({source.name})")
    score.report("REAL (hand-labelled Weibo helpdesk dialogues)", show_errors)
    extra = ", ".join(f"{n} {kind}" for kind, n in sorted(unlabelled.items()))
    print(f"  not labelled in this set, so not scored: {extra or 'none'} spans found")
    for name, sub in sorted(by_sample.items()):
        sub.report(f"  subset: {name}", False)


def _gold_by_utterance(row: dict) -> dict[tuple[int, int], list[Gold]]:
    gold: dict[tuple[int, int], list[Gold]] = {}
    for s in row["spans"]:
        gold.setdefault((s["turn"], s["utt"]), []).append((s["kind"], s["start"], s["end"]))
    return gold


# --- synthetic utterances ---------------------------------------------------------------

ZH = "零一二三四五六七八九"
MOBILE_PREFIX = [
    "130",
    "133",
    "135",
    "136",
    "138",
    "139",
    "150",
    "152",
    "158",
    "177",
    "180",
    "186",
    "189",
    "199",
]
AREA = ["010", "020", "021", "0755", "0571", "028", "0591", "0532"]


def _zh(rng: random.Random, digits: str) -> str:
    out = []
    for d in digits:
        if d == "1":
            out.append(rng.choice("幺幺一"))
        elif d == "2":
            out.append(rng.choice("二二两"))
        elif d == "0":
            out.append(rng.choice("零零洞〇"))
        else:
            out.append(ZH[int(d)])
    return "".join(out)


def _en(rng: random.Random, digits: str) -> str:
    words = en_digit_words(rng, digits)
    return rng.choice([" ", " ", "-"]).join(words)


def _groups(digits: str, sizes: list[int]) -> list[str]:
    out, i = [], 0
    for size in sizes:
        out.append(digits[i : i + size])
        i += size
    return [g for g in out if g]


def _render(rng: random.Random, digits: str, sizes: list[int], english: bool = False) -> str:
    """One written / spoken rendering of a digit string, the way ASR may write it."""
    groups = _groups(digits, sizes)
    if english:
        return ", ".join(_en(rng, g) for g in groups) if rng.random() < 0.6 else _en(rng, digits)
    style = rng.choice(["plain", "space", "dash", "zh", "zh_space", "zh_comma", "mixed"])
    if style == "plain":
        return digits
    if style == "space":
        return " ".join(groups)
    if style == "dash":
        return "-".join(groups)
    if style == "zh":
        return _zh(rng, digits)
    if style == "zh_space":
        return " ".join(_zh(rng, g) for g in groups)
    if style == "zh_comma":
        return "，".join(_zh(rng, g) for g in groups)
    return "".join(g if rng.random() < 0.5 else _zh(rng, g) for g in groups)


def _phone(rng: random.Random, english: bool) -> str:
    kind = rng.choice(["mobile", "mobile", "mobile", "landline", "400", "86"])
    if kind == "mobile" or (english and kind == "86"):
        return _render(rng, rng.choice(MOBILE_PREFIX) + random_digits(rng, 8), [3, 4, 4], english)
    if kind == "86":
        return "+86 " + " ".join(
            _groups(rng.choice(MOBILE_PREFIX) + random_digits(rng, 8), [3, 4, 4])
        )
    if kind == "400":
        return _render(rng, rng.choice(["400", "800"]) + random_digits(rng, 7), [3, 3, 4], english)
    area = rng.choice(AREA)
    local = rng.choice("2345678") + random_digits(rng, 7 if len(area) == 3 else rng.choice([6, 7]))
    return _render(rng, area + local, [len(area), 4, 4], english)


def _id_number(rng: random.Random, spoken: bool) -> str:
    while True:
        body = rng.choice(["110105", "310104", "440305", "510107", "330106"])
        body += f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{random_digits(rng, 3)}"
        for check in "0123456789X":
            if id_checksum_ok(body + check):
                number = body + check
                if not spoken:
                    return number
                return _zh(rng, number[:17]) + ("叉" if check == "X" else _zh(rng, check))


def _card(rng: random.Random, spoken: bool) -> str:
    length = rng.choice([16, 16, 19])
    body = rng.choice(["622202", "621700", "622848", "436742", "518710"]) + random_digits(
        rng, length - 7
    )
    number = next(body + c for c in "0123456789" if luhn_ok(body + c))
    if spoken:
        return _zh(rng, number)
    return rng.choice([number, " ".join(_groups(number, [4] * 5))])


def _email(rng: random.Random, spoken: bool) -> str:
    name = rng.choice(["zhangwei", "li.na", "wang_lei88", "chenjie", "amy.liu", "tom2024"])
    domain = rng.choice(["qq.com", "163.com", "126.com", "gmail.com", "sina.cn"])
    if not spoken:
        return f"{name}@{domain}"
    if rng.random() < 0.5:
        return f"{_zh(rng, random_digits(rng, 9))}艾特{domain.replace('.', '点')}"
    return f"{name.replace('.', ' dot ')} at {domain.replace('.', ' dot ')}"


PROVINCES = [
    ("广东省", "深圳市", "南山区"),
    ("浙江省", "杭州市", "西湖区"),
    ("湖南省", "长沙市", "雨花区"),
    ("", "上海市", "浦东新区"),
    ("", "北京市", "朝阳区"),
    ("四川省", "成都市", "武侯区"),
]
ROADS = ["科技园南路", "文三路", "韶山中路", "张杨路", "建国路", "人民南路", "解放大道", "中山街"]
ESTATES = ["阳光花园", "翠苑小区", "金色家园", "万科城市花园", "碧桂园"]


def _address(rng: random.Random, english: bool) -> str:
    if english:
        street = rng.choice(
            ["Main Street", "Oak Avenue", "Queen's Road", "Nathan Road", "Park Lane"]
        )
        return f"{rng.randint(1, 999)} {street}" + rng.choice(["", f", Apt {rng.randint(1, 30)}B"])
    prov, city, district = rng.choice(PROVINCES)
    admin = rng.choice([prov + city + district, city + district, district])
    if rng.random() < 0.5:
        return f"{admin}{rng.choice(ROADS)}{rng.randint(1, 999)}号" + rng.choice(
            ["", f"{rng.randint(1, 30)}楼"]
        )
    room = f"{rng.randint(1, 30)}{rng.randint(1, 4):02d}"
    return (
        f"{admin}{rng.choice(ESTATES)}{rng.randint(1, 40)}栋{rng.randint(1, 6)}单元{room}"
        + rng.choice(["", "室"])
    )


ZH_CARRIERS = {
    "phone": [
        "我的手机号是{}，麻烦回个电话",
        "您好，请问是{}吗",
        "好的，{}",
        "联系电话{}谢谢",
        "你打{}联系我吧",
        "号码是{}，机主是我",
        "嗯{}嗯对",
        "刚才{}给我打过来",
    ],
    "id_number": ["身份证号{}", "我的身份证是{}，您核对一下", "证件号码{}"],
    "bank_card": ["退到我的银行卡{}", "卡号是{}，工商银行", "银行卡号{}"],
    "email": ["发到我邮箱{}就行", "邮箱是{}", "{}，谢谢"],
    "address": ["我家在{}，信号一直不好", "安装地址{}", "地址是{}，麻烦上门看看"],
}
EN_CARRIERS = {
    "phone": ["my number is {}, please call back", "you can reach me on {}", "is it {}?"],
    "email": ["send it to {} please", "my email is {}"],
    "address": ["I live at {} and the signal is bad", "the address is {}"],
}
NEGATIVES = [
    "这个月多扣了50块钱，2026年11月20日之前给我退回来",
    "三个工作日内处理，这已经是第三次了，一两个月都没解决",
    "我打了10086和10000，又打了12315，还要去工信部投诉，315晚会见",
    "订单号1234567812345670，麻烦查一下物流",
    "套餐是128元的，每月送30G流量，合约期24个月",
    "客服工号5561说会在48小时内回复",
    "我在网上商城买的，北京市的仓库发货",
    "请拨打1001013查询流量，或发短信到10655158",
    "I called 10086 three times and waited 45 minutes",
    "the bill was 128 yuan, due on 2026-11-20",
    "二零二六年十一月二十日扣了一千二百块",
    "我一二三四月都交了，五六七八月也交了",
    "每个月三十G，用了两年零三个月",
    "you charged me twenty five ninety nine on the third of May",
    "退款单号20130427-125773，快递单号5041528420802",
    "我是2016-01-03 15:39打的电话",
    "QQ客服800010000，微信客服gdkf10000",
    "the order number is 1312121338444 and I paid 1490 yuan",
]


def _generators() -> dict[str, Callable[[random.Random, bool], str]]:
    return {
        "phone": _phone,
        "id_number": _id_number,
        "bank_card": _card,
        "email": _email,
        "address": _address,
    }


def synthetic_cases(n: int, seed: int) -> list[tuple[str, list[Gold]]]:
    rng = random.Random(seed)
    cases: list[tuple[str, list[Gold]]] = []
    kinds = list(_generators())
    for i in range(n):
        kind = kinds[i % len(kinds)]
        english = kind in EN_CARRIERS and rng.random() < 0.3
        carriers = (EN_CARRIERS if english else ZH_CARRIERS)[kind]
        value = _generators()[kind](
            rng, english if kind in ("phone", "address") else rng.random() < 0.4 or english
        )
        template = rng.choice(carriers)
        start = template.index("{}")
        cases.append((template.format(value), [(kind, start, start + len(value))]))
    cases += [(text, []) for text in NEGATIVES]
    return cases


def synthetic_part(n: int, seed: int, show_errors: bool) -> None:
    cases = synthetic_cases(n, seed)
    score = Score()
    for text, gold in cases:
        score.add(text, gold, find_pii(text))
    negatives = sum(1 for _, gold in cases if not gold)
    score.report(
        f"SYNTHETIC (template sentences, seed {seed}: {len(cases) - negatives} with PII, {negatives} negatives)",
        show_errors,
    )


# --- labelled calls (bench/pii_calls.py): segments redacted as the night does -----------

TARGETS = {"phone": 0.99, "id_number": 0.99, "bank_card": 0.99, "address": 0.95, "name": 0.95}
PRECISION_TARGET = 0.95


def score_calls(calls: list[list], show_errors: bool, title: str) -> Score:
    """Each call's segments through `redact_segments` (one speaker's consecutive segments
    read together), scored segment by segment."""
    score = Score()
    for n, call in enumerate(calls):
        rows = [
            {"call_id": f"c{n}", "idx": i, "speaker": speaker, "start_s": float(i), "text": text}
            for i, (speaker, text, _) in enumerate(call)
        ]
        redact_segments(rows)
        for row, (_, text, gold) in zip(rows, call, strict=True):
            pred = [PiiSpan(p["kind"], p["start"], p["end"]) for p in row["pii"] or []]
            score.add(text, gold, pred)
    score.report(title, show_errors)
    _check_targets(score)
    return score


def _check_targets(score: Score) -> None:
    met = []
    for kind, target in TARGETS.items():
        if score.gold[kind]:
            recall = score.found[kind] / score.gold[kind]
            met.append(f"{kind} recall {recall:.3f} {'>=' if recall >= target else '<'} {target}")
    pred = sum(score.pred.values())
    precision = sum(score.correct.values()) / pred if pred else 1.0
    sign = ">=" if precision >= PRECISION_TARGET else "<"
    met.append(f"precision {precision:.3f} {sign} {PRECISION_TARGET}")
    print("  targets: " + "; ".join(met))


def written_runs() -> list[tuple[Path, str]]:
    """The hand-written call files in the order they were written, with what each informed."""
    from bench.pii_calls import WRITTEN

    notes = (
        "written 1: two name rules added after its first run",
        "written 2: name rules and repeats added after its first run",
        "written 3: name, QQ and estate rules added after its first run",
        "written 4: the 我住 cue added after its first run",
        "written 5: name cues without 是 added after its first run",
        "written 6: rural, piecewise and family-name rules added after its first run",
        "written 7: answers, repeated parts and more forms added after its first run",
        "written 8: titles, relatives, roles and English cues added after its first run",
        "written 9: city answers, doors, gatehouses, English pieces added after its first run",
        "written 10: more questions, rooms alone, roles and 名下 added after its first run",
        "written 11: relatives' names, 我 + name, greetings added after its first run",
        "written 12: floors, rooms, lanes, order numbers added after its first run",
        "written 13: measured once; 中文名是 and a relative's 手机 added after",
    )
    names = ["pii_calls_written.jsonl", "pii_calls_heldout.jsonl"]
    names += [f"pii_calls_heldout{n}.jsonl" for n in range(2, len(notes))]
    return [(WRITTEN.with_name(name), note) for name, note in zip(names, notes, strict=True)]


def calls_part(n: int, show_errors: bool) -> None:
    from bench.pii_calls import generated_calls, written_calls

    for seed, split in ((1, "dev: looked at while writing the rules"), (2, "test: measured only")):
        calls = generated_calls(n, seed)
        score_calls(
            calls, show_errors, f"GENERATED CALLS, seed {seed} ({split}): {len(calls)} calls"
        )
    for path, split in written_runs():
        written = written_calls(path)
        title = f"WRITTEN CALLS ({path.name}, {split}): {len(written)} calls"
        score_calls([segments for _, segments in written], show_errors, title)


def handoff_part(eval_dir: Path, show_errors: bool, dialogues: int = 2000) -> None:
    """What of the written calls' names and addresses reaches marketing: each call redacted as
    the night redacts it, its issue statement taken as the night takes it (the customer's
    reason for calling, verification clauses skipped, redacted again) and as the hand-off
    writes it (`redact_for_marketing`), and every labelled name or address of two characters
    or more looked for in that statement. "night" is the statement as stored, "hand-off" as
    marketing receives it."""
    from callscope.incidents.statements import issue_statement
    from callscope.privacy.redact import redact_for_marketing

    from bench.pii_calls import written_calls

    print("\nHAND-OFF: labelled names and addresses found in the calls' issue statements")
    print(
        f"  {'file':<28} {'calls':>5} {'statements':>10} {'names: night':>13} {'hand-off':>9}"
        f" {'addresses: night':>17} {'hand-off':>9} {'changed':>8}"
    )
    totals = Counter()
    for path, _ in written_runs():
        counts, leaks = Counter(), []
        for call_id, call in written_calls(path):
            rows = [
                {"call_id": call_id, "idx": i, "speaker": who, "start_s": float(i), "text": text}
                for i, (who, text, _) in enumerate(call)
            ]
            redact_segments(rows)
            statement = issue_statement(rows).text
            handed = redact_for_marketing(statement)[0]
            counts["calls"] += 1
            counts["statements"] += bool(statement)
            counts["changed"] += handed != statement
            for _, text, gold in call:
                for kind, start, end in gold:
                    value = text[start:end].strip()
                    if kind in ("name", "address") and len(value) >= 2:
                        counts[kind] += 1
                        counts[f"{kind}_night"] += value in statement
                        if value in handed:
                            counts[f"{kind}_leaked"] += 1
                            leaks.append(f"{kind}: {value} in {handed}")
        totals.update(counts)
        _handoff_row(path.name, counts)
        if show_errors:
            for leak in leaks:
                print(f"    {leak}")
    _handoff_row("all", totals)
    _handoff_cost(eval_dir, show_errors, dialogues)


def _handoff_cost(eval_dir: Path, show_errors: bool, dialogues: int) -> None:
    """What the hand-off's second pass takes from real text: the issue statements of the first
    `dialogues` Weibo dialogues (customer turns as the caller's) that it changes."""
    from callscope.incidents.statements import issue_statement
    from callscope.privacy.redact import redact_for_marketing

    source = eval_dir / "text" / "stc3_train_cn.json"
    if not source.exists():
        print(f"  real statements: skipped ({source} not found)")
        return
    statements = changed = 0
    for n, dialogue in enumerate(json.loads(source.read_text(encoding="utf-8"))[:dialogues]):
        turns = [(t.get("sender"), u) for t in dialogue["turns"] for u in t["utterances"]]
        rows = [
            {
                "call_id": n,
                "idx": i,
                "speaker": "customer" if who == "customer" else "agent",
                "start_s": float(i),
                "text": text,
            }
            for i, (who, text) in enumerate(turns)
        ]
        redact_segments(rows)
        statement = issue_statement(rows).text
        if statement:
            statements += 1
            handed = redact_for_marketing(statement)[0]
            if handed != statement:
                changed += 1
                if show_errors:
                    print(f"    changed: {handed[:100]}")
    print(
        f"  real statements ({dialogues} Weibo dialogues): {changed} of {statements} changed "
        f"by the hand-off ({changed / max(statements, 1):.1%})"
    )


def stored_part(warehouse: Path) -> None:
    """Segments of a stored warehouse whose redaction today's rules would change (read only:
    the stored text redacted again in memory, as `callscope redact apply` would)."""
    from callscope.storage.warehouse import Warehouse

    store = Warehouse(warehouse)
    days = store.days("segments") if warehouse.is_dir() else []
    if not days:
        sys.exit(f"{warehouse}: no stored segments here; pass a warehouse folder the night wrote")
    total = changed = 0
    for day in days:
        rows = store.read("segments", day).to_pylist()
        keys = ("call_id", "idx", "speaker", "start_s", "text", "words")
        fresh = [{k: row.get(k) for k in keys} for row in rows]
        redact_segments(fresh)
        for old, new in zip(rows, fresh, strict=True):
            total += 1
            if (old.get("text_redacted") or old.get("text") or "") != new["text_redacted"]:
                changed += 1
                print(f"  {old['call_id']}: {old.get('text_redacted')} -> {new['text_redacted']}")
    print(f"STORED ({warehouse}): {changed} of {total} segments redacted differently now")


def _handoff_row(name: str, counts: Counter) -> None:
    print(
        f"  {name:<28} {counts['calls']:>5} {counts['statements']:>10} "
        f"{counts['name_night']:>6} of {counts['name']:<4} {counts['name_leaked']:>6}    "
        f"{counts['address_night']:>9} of {counts['address']:<4} {counts['address_leaked']:>6}    "
        f"{counts['changed']:>6}"
    )


def speed_part(eval_dir: Path, dialogues: int = 600) -> None:
    """Milliseconds a segment for the night's redaction (`redact_segments`: each segment, then
    each speaker's run of a call read together) and for `find_pii` on one text, over the first
    `dialogues` Weibo dialogues (a dialogue as a call, its turns as segments)."""
    source = eval_dir / "text" / "stc3_train_cn.json"
    if not source.exists():
        print(f"speed: skipped ({source} not found)")
        return
    rows = []
    for n, dialogue in enumerate(json.loads(source.read_text(encoding="utf-8"))[:dialogues]):
        turns = [(t.get("sender"), u) for t in dialogue["turns"] for u in t["utterances"]]
        rows += [
            {"call_id": str(n), "idx": i, "speaker": who, "start_s": float(i), "text": text}
            for i, (who, text) in enumerate(turns)
        ]
    texts = [row["text"] for row in rows]
    night = _best_of(3, lambda: redact_segments([dict(row) for row in rows]))
    single = _best_of(3, lambda: [find_pii(text) for text in texts])
    print(f"\nSPEED ({len(rows)} segments of {dialogues} dialogues, best of 3)")
    print(f"  redact_segments: {1000 * night / len(rows):.3f} ms a segment")
    print(f"  find_pii on one text: {1000 * single / len(rows):.3f} ms")


def _best_of(times: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def jieba_names_part(eval_dir: Path, dialogues: int = 800) -> None:
    """The person-name tags (nr) of jieba's part-of-speech cut, words of 2-3 characters that
    start with a surname of the redactor: how many, which, and how fast (a candidate for names
    said without a cue, left out of the redactor)."""
    source = eval_dir / "text" / "stc3_train_cn.json"
    if not source.exists():
        print(f"jieba names: skipped ({source} not found)")
        return
    import logging

    import jieba
    import jieba.posseg as pseg
    from callscope.privacy.redact import _SURNAME

    jieba.setLogLevel(logging.WARNING)
    surname = re.compile(rf"^{_SURNAME}")
    data = json.loads(source.read_text(encoding="utf-8"))[:dialogues]
    texts = [u for d in data for turn in d["turns"] for u in turn["utterances"]]
    pseg.lcut(texts[0])  # the dictionary loads once
    started = time.perf_counter()
    names = Counter(
        word
        for text in texts
        for word, flag in pseg.cut(text)
        if flag == "nr" and 2 <= len(word) <= 3 and surname.match(word)
    )
    ms = 1000 * (time.perf_counter() - started) / len(texts)
    print(f"\nJIEBA NAMES ({len(texts)} utterances of {dialogues} dialogues): {ms:.1f} ms each")
    print(f"  {sum(names.values())} words tagged nr; most common: {names.most_common(8)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL, help="evaluation data folder")
    parser.add_argument("--synthetic", type=int, default=600, help="synthetic utterances with PII")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show-errors", action="store_true", help="print misses and false alarms")
    parser.add_argument("--calls", type=int, default=600, help="generated calls with PII per split")
    parser.add_argument("--warehouse", type=Path, help="with --part stored: a stored warehouse")
    parser.add_argument(
        "--part",
        choices=["all", "real", "synthetic", "calls", "handoff", "stored", "speed", "jieba-names"],
        default="all",
        help="what to run (all: real, synthetic and calls)",
    )
    args = parser.parse_args()
    if args.part in ("all", "real"):
        real_part(args.eval, args.show_errors)
    if args.part in ("all", "synthetic"):
        synthetic_part(args.synthetic, args.seed, args.show_errors)
    if args.part in ("all", "calls"):
        calls_part(args.calls, args.show_errors)
    if args.part in ("all", "handoff"):
        handoff_part(args.eval, args.show_errors)
    if args.part == "stored":
        if args.warehouse is None:
            parser.error("--part stored needs --warehouse DIR (a warehouse the night wrote)")
        stored_part(args.warehouse)
    if args.part == "speed":
        speed_part(args.eval)
    if args.part == "jieba-names":
        jieba_names_part(args.eval)


if __name__ == "__main__":
    main()
