"""Find and redact personal data (PII) in Chinese / English call transcripts.

Kinds: phone numbers, PRC resident ID numbers, bank cards, email addresses and street-level
postal addresses. Digits may be written (138 1234 5678), spoken digit by digit in Chinese
(幺三八…, 洞 for 0) or English ("one three eight", "oh", "double five"), or mixed, and speech
recognition writes some spoken digits as characters that sound like them (腰搬腰 5660 爱960).

Policy decisions:
- Short public service numbers (10086, 10000, 12315, 315, 95xxx, 1001011, SMS codes such as
  10655xxx) are not personal data and are kept: local numbers never start with 0 or 1 and a
  Chinese mobile is exactly 11 digits starting 13-19. 400 / 800 hotlines are redacted like any
  full-length phone number (the redactor cannot tell a company line from a personal one).
- A bare 7-8 digit local number is a phone only next to a phone word (电话, 号码, call, ...);
  the same run spoken digit by digit counts unless an order / ticket word precedes it.
- A character that sounds like a digit (腰 / 要 for 幺, 搬 / 巴 for 八, 爱 for 二, 次 for 四...)
  counts only inside a number: in a run of 5+ digits or numerals that then reads exactly as a
  mobile or ID number, in a turn that is nothing but a number, or next to a number found short
  of its length (touching it, as far as that length; after a pause, where that makes the whole
  number). 是 never starts a number (号码是…); misheard cue words (首机号, 套码, 身份正) count.
- Bank cards need the Luhn check; an order-number context without a card word vetoes them.
- Written 18-digit ID numbers need the ISO 7064 MOD 11-2 checksum; spoken ones only the
  structure (region digit, birth year 19xx / 20xx, month, day).
- Addresses need a house-number part (路/街…号, …栋/号楼, …单元, …室), a cue before a place
  finer than a district (地址是, 住在, 寄到), or two rural levels (a county and its town, a town
  and its village); a city, district or town on its own is kept.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace

from callscope.core.logs import get_logger
from callscope.storage.rows import SegmentRow, Word

logger = get_logger(__name__)

KINDS = ("phone", "id_number", "bank_card", "email", "address", "name", "im_id")
# bump when a rule change should redact stored days again (the redact step reruns on them)
REDACTION_VERSION = "redact-8"
_PRIORITY = {
    kind: i
    for i, kind in enumerate(
        ("email", "im_id", "id_number", "bank_card", "phone", "address", "name")
    )
}


@dataclass(frozen=True)
class PiiSpan:
    kind: str
    start: int
    end: int
    start_s: float | None = None
    end_s: float | None = None


# --- digit runs ------------------------------------------------------------------------

_ZH_DIGITS = {
    **{c: str(i) for i, c in enumerate("零一二三四五六七八九")},
    "〇": "0",
    "洞": "0",
    "幺": "1",
    "两": "2",
    "拐": "7",
    **{chr(0xFF10 + i): str(i) for i in range(10)},
}
_EN_DIGITS = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_EN_TEENS = {
    word: str(10 + i)
    for i, word in enumerate(
        "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_EN_TENS = {
    word: str(2 + i)
    for i, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())
}
_EN_WORD = "|".join(_EN_DIGITS)
_TOKEN = re.compile(
    rf"(?<![A-Za-z])(?P<tens>{'|'.join(_EN_TENS)})(?:[\s-]+(?P<unit>{_EN_WORD}))?(?![A-Za-z])"
    rf"|(?<![A-Za-z])(?P<teen>{'|'.join(_EN_TEENS)})(?![A-Za-z])"
    rf"|(?<![A-Za-z])(?:(?P<mult>double|triple)[\s-]+)?(?P<en>{_EN_WORD})(?![A-Za-z])"
    rf"|(?P<ar>\d)|(?P<zh>[{''.join(_ZH_DIGITS)}])",
    re.IGNORECASE,
)
# between groups of a number: a space or a few, then a comma, dash, dot, slash or full stop
_SEP = re.compile(r"[ \t\u3000]{0,3}[,，、\-—–－‐./／。·．]?[ \t\u3000]{0,3}")


@dataclass(frozen=True)
class _Tok:
    digits: str
    start: int
    end: int
    form: str  # "ar", "zh" or "en"


def _make_token(m: re.Match[str]) -> _Tok:
    if m.group("tens"):
        unit = m.group("unit")
        tens = _EN_TENS[m.group("tens").lower()]
        digits = tens + (_EN_DIGITS[unit.lower()] if unit else "0")
        return _Tok(digits, m.start(), m.end(), "en")
    if m.group("teen"):
        return _Tok(_EN_TEENS[m.group("teen").lower()], m.start(), m.end(), "en")
    if m.group("en"):
        digit = _EN_DIGITS[m.group("en").lower()]
        times = {"double": 2, "triple": 3}.get((m.group("mult") or "").lower(), 1)
        return _Tok(digit * times, m.start(), m.end(), "en")
    if m.group("ar"):  # any script's decimal digit: ０-９, ٠-٩, ०-९
        return _Tok(str(unicodedata.decimal(m.group("ar"))), m.start(), m.end(), "ar")
    return _Tok(_ZH_DIGITS[m.group("zh")], m.start(), m.end(), "zh")


def _is_dash_yi(text: str, tokens: list[_Tok], nxt: re.Match[str]) -> bool:
    """A 一 written as a dash between an area code and a local number: 0660一8995111."""
    if nxt.group("zh") != "一" or not tokens or tokens[-1].end != nxt.start():
        return False
    after = nxt.end()
    if after >= len(text) or not text[after].isdigit() or not text[after].isascii():
        return False
    head = re.search(r"[0-9]+$", text[: nxt.start()])
    return bool(head) and head.group().startswith("0") and len(head.group()) in (3, 4)


_CODE = re.compile(r"[A-Za-z0-9]*")


def _after_letter(text: str, at: int) -> bool:
    return at > 0 and text[at - 1].isascii() and text[at - 1].isalpha()


def _digit_runs(text: str) -> list[list[list[_Tok]]]:
    """Maximal runs of digit tokens, each split into groups at separators."""
    runs: list[list[list[_Tok]]] = []
    pos = 0
    while m := _TOKEN.search(text, pos):
        if m.group("ar") and _after_letter(text, m.start()):  # part of a code: KD000, QQ123
            pos = _CODE.match(text, m.start()).end()
            continue
        groups, pos = _extend_run(text, m)
        runs.append(groups)
    return runs


def _extend_run(text: str, first: re.Match[str]) -> tuple[list[list[_Tok]], int]:
    groups: list[list[_Tok]] = [[_make_token(first)]]
    end = first.end()
    while True:
        sep = _SEP.match(text, end)
        nxt = _TOKEN.match(text, sep.end())
        if not nxt:
            return groups, end
        if not sep.group() and _is_dash_yi(text, groups[-1], nxt):
            end = nxt.end()
            groups.append([])
            continue
        tok = _make_token(nxt)
        last = groups[-1][-1] if groups[-1] else None
        spoken_space = (
            sep.group().strip() == "" and last is not None and last.form == tok.form == "en"
        )
        if sep.group() and not spoken_space:
            groups.append([])
        groups[-1].append(tok)
        end = nxt.end()


# --- characters that sound like digits ---------------------------------------------------

# what speech recognition writes for a spoken digit it did not take for one (幺 → 腰 / 要,
# 八 → 搬 / 巴, 二 → 爱 / 饿, 九 → 久 / 酒...): a digit only inside or right next to a number
# read out, never on its own
_SOUNDS = {
    **dict.fromkeys("腰要妖邀", "1"),
    **dict.fromkeys("爱饿", "2"),
    **dict.fromkeys("散伞", "3"),
    **dict.fromkeys("是似死次刺字", "4"),
    **dict.fromkeys("舞无", "5"),
    **dict.fromkeys("留溜", "6"),
    **dict.fromkeys("期漆", "7"),
    **dict.fromkeys("搬吧巴扒", "8"),
    **dict.fromkeys("久酒", "9"),
    **dict.fromkeys("灵铃", "0"),
}
_SOUND = re.compile(f"[{''.join(_SOUNDS)}]")
_NOT_FIRST = "是"  # 号码是…: the word, not a 4, where it would start a number
SOUND_MIN_DIGITS = 5  # digits or numerals in a number read out with sound-alikes in it
_MOBILE = re.compile(r"1[3-9]\d{9}")
_FULL_LENGTH = {"phone": 11, "id_number": 18, "bank_card": 19}


_TOKEN_OR_SOUND = re.compile(rf"{_TOKEN.pattern}|(?P<sound>{_SOUND.pattern})", re.IGNORECASE)
# a sound-alike next to a digit or numeral (a pause between at most): where one can count
_SOUND_BESIDE = re.compile(
    rf"{_SOUND.pattern}{_SEP.pattern}[0-9{''.join(_ZH_DIGITS)}]"
    rf"|[0-9{''.join(_ZH_DIGITS)}]{_SEP.pattern}{_SOUND.pattern}"
)


def _tokens(
    text: str, start: int = 0, end: int | None = None, sounds: bool = False
) -> Iterator[_Tok]:
    """Digit tokens of text[start:end]; with `sounds` the characters that sound like a digit
    too (form "sound")."""
    pattern = _TOKEN_OR_SOUND if sounds else _TOKEN
    for m in pattern.finditer(text, start, len(text) if end is None else end):
        if m.lastgroup == "sound":
            yield _Tok(_SOUNDS[m.group()], m.start(), m.end(), "sound")
        else:
            yield _make_token(m)


def _real_digits(toks: list[_Tok]) -> str:
    return "".join(t.digits for t in toks if t.form != "sound")


def _sound_runs(text: str) -> list[list[_Tok]]:
    """Runs of digits, numerals and sound-alikes with a pause at most (a space, comma, dash...)
    between two of them."""
    runs: list[list[_Tok]] = []
    for tok in _tokens(text, sounds=True):
        if runs and _SEP.fullmatch(text, runs[-1][-1].end, tok.start):
            runs[-1].append(tok)
        else:
            runs.append([tok])
    return runs


def _whole_number(number: str) -> str | None:
    """The kind of a number that is whole as it stands: an 11-digit mobile or an ID number."""
    if _MOBILE.fullmatch(number):
        return "phone"
    if len(number) == 18 and _id_structure_ok(number):
        return "id_number"
    return None


def _sound_spans(text: str) -> list[PiiSpan]:
    """A mobile or ID number read out with sound-alikes among its digits and no cue in the
    turn (腰搬腰 5660 爱960, 要三三，要四九七，要七七要): a run with 5+ digits or numerals, no
    more sound-alikes than those, that reads exactly as a mobile number or an ID number's
    structure; sound-alikes at its ends count only where that makes the number."""
    if not _SOUND_BESIDE.search(text):
        return []
    spans = []
    for run in _sound_runs(text):
        sounds = sum(t.form == "sound" for t in run)
        real = len(_real_digits(run))
        if not sounds or real < SOUND_MIN_DIGITS or sounds > real:
            continue
        lead = next(i for i, t in enumerate(run) if t.form != "sound")
        trail = next(i for i, t in enumerate(reversed(run)) if t.form != "sound")
        cuts = sorted(((i, j) for i in range(lead + 1) for j in range(trail + 1)), key=sum)
        for i, j in cuts:
            toks = run[i : len(run) - j]
            if toks[0].form == "sound" and text[toks[0].start] in _NOT_FIRST:
                continue
            kind = _whole_number("".join(t.digits for t in toks))
            if kind and not _ORDER_CTX.search(text[max(0, toks[0].start - 8) : toks[0].start]):
                spans.append(PiiSpan(kind, toks[0].start, toks[-1].end))
                break
    return spans


def _sounds_beside(text: str, at: int, limit: int, before: bool) -> list[tuple[_Tok, bool]]:
    """The sound-alikes right before (or after) `at`, nearest first, each with whether it
    touches the one before it (no pause between); up to `limit`. A numeral touching one of
    them comes with it (六[要四])."""
    toks = list(_tokens(text, *((limit, at) if before else (at, limit)), sounds=True))
    found: list[tuple[_Tok, bool]] = []
    edge = at
    for tok in reversed(toks) if before else toks:
        gap = (tok.end, edge) if before else (edge, tok.start)
        joined = tok.form == "zh" and found and gap[0] == gap[1]
        if not (tok.form == "sound" or joined) or not _SEP.fullmatch(text, *gap):
            break
        found.append((tok, gap[0] == gap[1]))
        edge = tok.start if before else tok.end
    return found


def _grown(text: str, span: PiiSpan, lo: int, hi: int) -> PiiSpan:
    """`span` with the sound-alikes around it that belong to its number: touching it, as long
    as the number stays within its length (首级号腰[七六七七四八四二六七], [186,2998,097]爱);
    after a pause, where that makes the whole number (腰搬腰 [5660 爱960])."""
    own = _number_of(text, span)
    size = _FULL_LENGTH[span.kind]
    if len(own) >= size:
        return span
    before = _sounds_beside(text, span.start, lo, before=True)
    after = [] if own.endswith("X") else _sounds_beside(text, span.end, hi, before=False)
    best, most = span, 0
    for b in range(len(before) + 1):
        for a in range(len(after) + 1):
            taken = [*before[:b], *after[:a]]
            if a + b <= most or (b and text[before[b - 1][0].start] in _NOT_FIRST):
                continue
            head = "".join(t.digits for t, _ in reversed(before[:b]))
            number = head + own + "".join(t.digits for t, _ in after[:a])
            touching = all(touches for _, touches in taken)
            grows = touching and _may_grow(span.kind, number, front=b > 0)
            if _whole_number(number) == span.kind or grows:
                start = before[b - 1][0].start if b else span.start
                end = after[a - 1][0].end if a else span.end
                best, most = replace(span, start=start, end=end), a + b
    return best


def _may_grow(kind: str, number: str, front: bool) -> bool:
    """A number still within its kind's length; a phone (or, grown at the front, an ID
    number) with its kind's first digits."""
    if len(number) > _FULL_LENGTH[kind]:
        return False
    if kind == "phone":
        return bool(re.fullmatch(r"1(?:[3-9]\d*)?", number))
    return kind == "bank_card" or not front or bool(re.fullmatch(r"[1-8]\d*X?", number))


def _number_of(text: str, span: PiiSpan) -> str:
    """The digits a number's span reads as, sound-alikes included (and an ID number's X)."""
    digits = "".join(t.digits for t in _tokens(text, span.start, span.end, sounds=True))
    return digits + "X" if text[span.end - 1] in "Xx叉" else digits


_ID_X = re.compile(r"\s?[Xx叉](?![A-Za-z])")


def _completed(text: str, spans: list[PiiSpan]) -> list[PiiSpan]:
    """Numbers found short of their length, completed: an ID number with the X after it
    (身份证号是幺零幺零五 1983 0415 900X), grown over the sound-alikes next to it."""
    sounds = bool(_SOUND_BESIDE.search(text))
    done = []
    for k, span in enumerate(spans):
        if span.kind in _FULL_LENGTH:
            lo = spans[k - 1].end if k else 0
            hi = spans[k + 1].start if k + 1 < len(spans) else len(text)
            x = _ID_X.match(text, span.end, hi) if span.kind == "id_number" else None
            if x and len(_number_of(text, span)) < _FULL_LENGTH["id_number"]:
                span = replace(span, end=x.end())
            if sounds:
                span = _grown(text, span, lo, hi)
        done.append(span)
    return done


# --- classification of digit candidates ------------------------------------------------

_PHONE_CTX = re.compile(
    r"电话|手机|号码|联系|致电|拨打|打给|回电|来电|固话|座机|热线|分机|电联|[首收守手][机级]号|[套后]码"
    r"|tel|phone|call|number|mobile|cell|reach",
    re.IGNORECASE,
)
_ORDER_CTX = re.compile(
    r"订单|单号|运单|工单|编号|工号|(?<![手首收守])(?<![手首收守]\s)机号|流水|账号|帐号|障碍|报障|QQ|扣扣|微信|order|ticket|reference|case|tracking|account",
    re.IGNORECASE,
)
_CARD_CTX = re.compile(
    r"卡号|银行卡|信用卡|储蓄卡|借记卡|\bcard|卡|退到|退款到|开户", re.IGNORECASE
)
_DATE_LIKE = re.compile(r"(?:19|20)\d{2}[-/.年]\d{1,2}")
_LANDLINE = re.compile(r"(?:010|02\d|0[3-9]\d{2})[2-9]\d{6,7}")
_ID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]


def _context(text: str, start: int, end: int) -> tuple[str, str]:
    return text[max(0, start - 16) : start], text[end : end + 8]


def id_checksum_ok(number: str) -> bool:
    """ISO 7064 MOD 11-2 check of an 18-character PRC resident ID number."""
    if not re.fullmatch(r"\d{17}[\dXx]", number):
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == number[17].upper()


def _id_structure_ok(number: str) -> bool:
    return bool(
        re.fullmatch(
            r"[1-8]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]", number
        )
    )


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _strip_country(number: str) -> str:
    if number.startswith("0086"):
        return number[4:]
    if number.startswith("86") and len(number) == 13:
        return number[2:]
    return number


def _is_phone(number: str, spoken: bool, sizes: list[int], ctx: tuple[str, str]) -> bool:
    """`ctx`: the text before and after; order words count before the number only."""
    number = _strip_country(number)
    order = bool(_ORDER_CTX.search(ctx[0]))
    if re.fullmatch(r"1[3-9]\d{9}", number) or re.fullmatch(r"(?:400|800)\d{7}", number):
        return True
    phone_ctx = bool(_PHONE_CTX.search(ctx[0] + " " + ctx[1])) and not order
    if _LANDLINE.fullmatch(number):  # unless it is an account / ticket number: 报障号0532…
        return phone_ctx or not order
    if 7 <= len(number) <= 8 and number[0] in "23456789" and number[:2] not in ("95", "96"):
        return phone_ctx or (spoken and not order)
    if sizes == [3, 3, 4] and not spoken:  # North-American style 555-123-4567
        return not order
    if 9 <= len(number) <= 12 and number[0] != "1":
        return (spoken and not order) or (phone_ctx and len(sizes) > 1)
    return False


def _classify(text: str, toks: list[_Tok], groups: list[list[_Tok]]) -> str | None:
    number = "".join(t.digits for t in toks)
    spoken = any(t.form != "ar" for t in toks)
    start, end = toks[0].start, toks[-1].end
    ctx = _context(text, start, end)
    if _DATE_LIKE.match(text, start):
        return None
    around = " ".join(ctx)
    order_only = bool(_ORDER_CTX.search(around)) and not _CARD_CTX.search(around)
    if len(number) == 18 and _id_structure_ok(number):
        # a misheard digit breaks the checksum: the structure (region, birth date) is enough
        # unless an order word stands in front and the checksum fails too
        if spoken or id_checksum_ok(number) or not _ORDER_CTX.search(ctx[0]):
            return "id_number"
    grouping_ok = _card_grouping_ok(groups, spoken) or bool(_CARD_CTX.search(around))
    if 13 <= len(number) <= 19 and grouping_ok and not order_only:
        if luhn_ok(number) or _card_shaped(number, groups, around):
            return "bank_card"
    sizes = [len("".join(t.digits for t in g)) for g in groups]
    if _is_phone(number, spoken, sizes, ctx):
        return "phone"
    return None


_CARD_PREFIX = re.compile(r"62|4|5[1-5]|3[47]")


def _card_shaped(number: str, groups: list[list[_Tok]], around: str) -> bool:
    """A card number that fails the Luhn check (a misheard digit): 16-19 digits next to a
    card word, or of a card network's prefix read out in groups of four."""
    if not 16 <= len(number) <= 19:
        return False
    if _CARD_CTX.search(around):
        return True
    fours = len(groups) >= 4 and all(len("".join(t.digits for t in g)) == 4 for g in groups[:4])
    return bool(_CARD_PREFIX.match(number)) and fours


def _card_grouping_ok(groups: list[list[_Tok]], spoken: bool) -> bool:
    if spoken or len(groups) == 1:
        return True
    return all(len("".join(t.digits for t in g)) == 4 for g in groups[:-1])


def _id_with_x(text: str, toks: list[_Tok]) -> _Tok | None:
    """The trailing X / 叉 of an ID number, which is not a digit token."""
    m = re.compile(r"\s?([Xx叉])(?![A-Za-z])").match(text, toks[-1].end)
    if m and len(toks) >= 17 and len("".join(t.digits for t in toks)) == 17:
        return _Tok("X", m.start(1), m.end(1), "ar" if m.group(1) in "Xx" else "zh")
    return None


def _digit_spans(text: str) -> list[PiiSpan]:
    spans: list[PiiSpan] = []
    for run in _digit_runs(text):
        i = 0
        while i < len(run):
            found = _longest_from(text, run, i)
            if found is None:
                i += 1
                continue
            span, j = found
            spans.append(span)
            i = j + 1
    return spans


def _longest_from(text: str, run: list[list[_Tok]], i: int) -> tuple[PiiSpan, int] | None:
    for j in range(len(run) - 1, i - 1, -1):
        groups = [g for g in run[i : j + 1] if g]
        toks = [t for g in groups for t in g]
        if not toks:
            continue
        if j == len(run) - 1 and (x := _id_with_x(text, toks)):
            toks = [*toks, x]
        kind = _classify(text, toks, groups)
        if kind:
            start = toks[0].start
            if kind == "phone" and start > 0 and text[start - 1] == "+":
                start -= 1
            return PiiSpan(kind, start, toks[-1].end), j
    return None


# --- numbers read out after a cue, as speech recognition writes them ---------------------

# misheard too: 身份正 / 身份挣 for 身份证, 首机号 / 首级号 / 手 机号 for 手机号, 套码 for 号码
_READOUT_CUE = re.compile(
    r"(?P<id>身份[证正挣震症政整]|身份号|证件号)|(?P<card>卡号|银行卡)"
    r"|[手首收守]\s?[机级]号|手\s?机|号码|[套后]码|电话|联系方式|\bnumber\b|\bphone\b|\bmobile\b",
    re.IGNORECASE,
)
_READOUT_STOP = re.compile(r"[。！？!?；;]|地址|住在|address", re.IGNORECASE)
_MASKED = re.compile(r"[*＊×]|[xX]{2}")
_SERVICE = re.compile(r"(?:10\d{3,6}|95\d{3,4}|12\d{3})$")
READOUT_MIN_DIGITS = 6
READOUT_MAX_GAP = 6  # misheard characters between digits: 135,975次，5890 / 188, I'm 247
READOUT_START = 6  # the first digit this close to the cue: 号码是要3387…


def _readout_spans(text: str) -> list[PiiSpan]:
    """Digits read out right after a phone / ID / card word, kept together across the
    characters speech recognition garbles between them (135,975次，5890; 身份正一零一零…;
    the sound-alikes next to them are added in `_completed`: 首机号腰搬腰 5660 爱960).
    The precise rules above need a clean number; this one needs the cue and 6+ digits, and
    leaves masked numbers (138****5678) and service numbers (10086, 95588) alone."""
    spans = []
    for cue in _READOUT_CUE.finditer(text):
        if _ORDER_CTX.search(text[max(0, cue.start() - 8) : cue.end()]):
            continue
        stops = [m.start() for m in (_READOUT_STOP.search(text, cue.end()),) if m]
        stops += [m.start() for m in (_READOUT_CUE.search(text, cue.end()),) if m]
        chain = _digit_chain(text, cue.end(), min(stops, default=len(text)))
        if not chain or _ORDER_CTX.search(text[cue.end() : chain[0].start]):
            continue
        digits = "".join(t.digits for t in chain)
        inside = text[chain[0].start : chain[-1].end + 2]
        if len(digits) < READOUT_MIN_DIGITS or _MASKED.search(inside) or _SERVICE.match(digits):
            continue
        kind = "id_number" if cue.group("id") else "bank_card" if cue.group("card") else "phone"
        spans.append(PiiSpan(kind, chain[0].start, chain[-1].end))
    return spans


_WORDISH = re.compile(r"[^\W\d_]", re.UNICODE)
ALONE_MIN_DIGITS = 7
ALONE_MAX_OTHER = 3
ALONE_MAX_GROUP = 5
_CODE_LIKE = re.compile(r"[A-Za-z][0-9]|[0-9][A-Za-z]")


def _group_sizes(chain: list[_Tok]) -> list[int]:
    sizes = [len(chain[0].digits)]
    for previous, tok in zip(chain, chain[1:], strict=False):
        if tok.start > previous.end:
            sizes.append(0)
        sizes[-1] += len(tok.digits)
    return sizes


def _readout_alone(text: str) -> list[PiiSpan]:
    """A turn that is nothing but a number read out in short groups (the cue was in the turn
    before): 1-7-382-0-982-1, 套码189-8520-128, sound-alikes among the digits (腰巴腰，四零四腰，
    大三七六). One unbroken run of digits is left to the precise rules (typed order and ticket
    numbers look like that); dates and service numbers are kept."""
    first = _TOKEN.search(text)
    if first is None or len(_OTHER_HAN.findall(text)) > ALONE_MAX_OTHER:
        return []
    chain = _digit_chain(text, first.start(), len(text), max_gap=2, sounds=True)
    chain = _leading_sounds(text, chain) + chain  # 腰巴腰，四零四腰，大三七六
    digits, real = "".join(t.digits for t in chain), len(_real_digits(chain))
    if len(digits) < ALONE_MIN_DIGITS or _DATE_LIKE.match(text, chain[0].start):
        return []
    if real < len(digits) and (real < SOUND_MIN_DIGITS or 2 * real < len(digits)):
        return []  # sound-alikes: as many digits or numerals at least, and 5 of them
    if _MASKED.search(text) or _SERVICE.match(digits) or _ORDER_CTX.search(text):
        return []
    if _CODE_LIKE.search(text):  # a code or hash (KD2026, 13c7007d), not a number read out
        return []
    groups = _group_sizes(chain)
    if len(groups) < 2 or max(groups) > ALONE_MAX_GROUP:
        return []
    covered = {i for t in chain for i in range(t.start, t.end)}
    other = [c for i, c in enumerate(text) if i not in covered and _WORDISH.match(c)]
    if len(other) > ALONE_MAX_OTHER:
        return []
    return [PiiSpan("phone", chain[0].start, chain[-1].end)]


# Han characters no number can cover (not a numeral or sound-alike): more than a few, and a
# turn is more than a number read out
_OTHER_HAN = re.compile(rf"(?![{''.join(_ZH_DIGITS)}{''.join(_SOUNDS)}])[\u4e00-\u9fff]")


def _leading_sounds(text: str, chain: list[_Tok]) -> list[_Tok]:
    """The sound-alikes right before a chain (a character or two between), not a 是 first."""
    if not chain:
        return []
    lead: list[_Tok] = []
    for tok in reversed(list(_tokens(text, max(0, chain[0].start - 12), chain[0].start, True))):
        edge = lead[0].start if lead else chain[0].start
        if tok.form != "sound" or edge - tok.end > 2 or _WORDISH.match(text[tok.end : edge] or " "):
            break
        lead.insert(0, tok)
    while lead and text[lead[0].start] in _NOT_FIRST:
        lead.pop(0)
    return lead


def _digit_chain(
    text: str, start: int, end: int, max_gap: int = READOUT_MAX_GAP, sounds: bool = False
) -> list[_Tok]:
    """Digit tokens from `start` with at most `max_gap` characters between two; with `sounds`
    the sound-alikes among them too (the chain starts and ends with a digit or numeral)."""
    chain: list[_Tok] = []
    for tok in _tokens(text, start, end, sounds):
        limit = chain[-1].end + max_gap if chain else start + READOUT_START
        if tok.start > limit:
            break
        chain.append(tok)
    real = [t for t in chain if t.form != "sound"]
    while len(real) > 1 and real[-1].form == "zh" and real[-2].end < real[-1].start:
        real.pop()  # a lone 一 / 三 after the number is a word: 一直, 三天
    if not real:
        return []
    return [t for t in chain if real[0].start <= t.start <= real[-1].start]


# --- email ------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z])"
)
_SPOKEN_DIGITS = f"[{''.join(_ZH_DIGITS)}0-9]"
_DOT = r"\s*(?:\.|点|點|\bdot\b)\s*"
_SPOKEN_DOT = r"\s*(?:点|點|\bdot\b)\s*"  # the domain part must be spoken: "qq dot com"
_SPOKEN_EMAIL = re.compile(
    rf"(?<![A-Za-z0-9])(?:[A-Za-z0-9_-]+|{_SPOKEN_DIGITS}(?:[ ]?{_SPOKEN_DIGITS})+)"
    rf"(?:{_DOT}[A-Za-z0-9_-]+)*"
    rf"\s*(?:艾特|爱特|圈a|\bat\b)\s*(?:[A-Za-z0-9-]+|{_SPOKEN_DIGITS}+)"
    rf"(?:{_SPOKEN_DOT}[A-Za-z0-9-]+)*{_SPOKEN_DOT}(?:com|cn|net|org|edu|gov|cc|io|hk|tw)(?![A-Za-z])",
    re.IGNORECASE,
)


def _email_spans(text: str) -> list[PiiSpan]:
    found = [PiiSpan("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    found += [PiiSpan("email", m.start(), m.end()) for m in _SPOKEN_EMAIL.finditer(text)]
    return found


# --- address ----------------------------------------------------------------------------

_STOP = "的在是我你他她它家住到于和与从往去来了吗呢啊吧就都也还又只把被给让对向请帮查址问说找个这那哪每些"
_N = rf"(?:(?![{_STOP}])[\u4e00-\u9fff])"
_NUM_ZH = "一二三四五六七八九十百零幺"
# inside a place name (not first) 都, 家 and 和 are part of it: 成都市, 石家庄市, 太和镇
_NI = rf"(?:{_N}|[都家和])"
_ADMIN = rf"(?:(?:{_N}{_NI}{{1,4}}(?:省|自治区)|{_N}{_NI}{{0,3}}(?:市|自治州|州)|{_N}{_NI}{{0,4}}(?:区|區|县|縣|旗)|{_N}{_NI}{{0,4}}(?:镇|鎮|乡|街道))[ \u00a0\u3000]{{0,2}})"
_ROAD = rf"(?:{_N}{_NI}{{0,6}}?(?:大街|大道|路|街|巷|胡同|村|屯|寨|坊|坡)|{_N}{_NI}{{1,6}}?(?<![知报味频通渠管轨难霸车赤隧街])道)"
_HOUSE_NO = rf"[ \u00a0\u3000]{{0,2}}(?:[A-Za-z]?[0-9０-９*]+|[{_NUM_ZH}幺〇]{{1,6}})(?:[-—－~][0-9]+)?(?:号|號|弄)院?"
# an estate, compound, campus or office park: its name (a Han character first; digits, letters
# and 都 / 家 / 和 may follow: 阳光100小区, 蜀都花园) and the word that ends it
_ESTATE_WORD = (
    "小区|花园|家园|公寓|大厦|苑|园|村|新村|社区|广场|大楼|公馆|山庄|大学|学院|医院|校区|医学部"
    "|中心|城|阁|府|湾|宿舍|家属院|家属楼|大院"
)
_ESTATE_NAME = rf"(?![放寄送们]){_N}(?:{_N}|[0-9A-Za-z都家和]){{1,9}}?"
_ESTATE = rf"{_ESTATE_NAME}(?:{_ESTATE_WORD})(?:[（(]{_N}{{1,8}}[）)])?"
# a part of an estate (东区, 北一区, 四期, B区) and a pause before the building (金色家园，六号楼)
_SUBAREA = rf"(?:[东南西北中][{_NUM_ZH}]?区|[0-9{_NUM_ZH}]{{1,2}}[期区]|[A-Za-z0-9]{{1,2}}区)"
_PAUSE = r"[，,、 \u3000]{0,2}"
_BLDG = rf"(?:[0-9]{{1,4}}|[{_NUM_ZH}]{{1,3}}|(?<![A-Za-z])[A-Za-z][0-9]{{0,2}})(?:号楼|號樓|栋|棟|幢|座|号院|号宿舍楼?)"
# 栋 heard as 动 (6动6单元), taken where a unit and room or an address before make it a building
_BLDG_HEARD = rf"(?:{_BLDG}|(?:[0-9]{{1,4}}|[{_NUM_ZH}]{{1,3}})动)"
_UNIT = rf"(?:[0-9]{{1,3}}|[{_NUM_ZH}]{{1,3}})(?:单元|單元)"
# after a building, a unit may be a door (北京: 3号楼2门401)
_UNIT_B = rf"(?:{_UNIT}|(?:[0-9]{{1,2}}|[{_NUM_ZH}]{{1,2}})门)"
_ROOM_SUF = rf"(?:[0-9]{{1,5}}|[{_NUM_ZH}幺〇]{{1,4}})(?:室|层|楼|樓|房)"
_ROOM = rf"(?:{_ROOM_SUF}|[0-9]{{2,5}}(?:号|號)?(?![0-9]))"
# a room number said digit by digit (五零二, 幺零零三) and the door on a floor (五楼左手, 六楼东户)
_ROOM_SPOKEN = r"[零〇幺一二三四五六七八九]{3,4}(?![十百千万0-9])"
_DOOR = r"(?:左手|右手|左边|右边|[东西南北中]户|[东西]边|对门)"
# the parts after a house number, in any order (华晖阁十一楼C座, 3号楼2单元601)
_DETAIL = rf"(?:{_BLDG}|{_UNIT}|{_ROOM_SUF}{_DOOR}?)"
_ZH_ADDRESS = re.compile(
    "|".join(
        [
            rf"{_ADMIN}{{0,4}}{_ROAD}(?:{_HOUSE_NO}){{1,2}}(?:(?:{_ESTATE})?(?:{_DETAIL}){{1,3}})?",
            rf"{_ADMIN}{{0,4}}{_ESTATE}(?:{_SUBAREA}){{0,2}}{_PAUSE}{_BLDG}(?:{_UNIT_B})?(?:{_ROOM})?",
            rf"{_ADMIN}{{1,4}}{_N}{{2,10}}?(?:[（(]{_N}{{1,8}}[）)])?{_BLDG}(?:{_UNIT_B})?(?:{_ROOM})?",
            rf"{_BLDG_HEARD}{_PAUSE}{_UNIT_B}{_PAUSE}{_ROOM}",
            rf"(?:[0-9]{{1,4}}|[{_NUM_ZH}]{{1,3}})(?:栋|幢|号楼){_ROOM_SUF}(?:[0-9{_NUM_ZH}]{{1,3}}号)?",
            r"(?:[0-9]{1,3}(?:楼|层))?[0-9]{2,5}室",
            rf"(?:[0-9]{{1,3}}|[{_NUM_ZH}]{{1,3}})(?:楼|层)[0-9]{{3,4}}(?![0-9])",  # 15楼1508
            r"(?<![0-9])[0-9]{3,4}房(?![0-9间子东价租])",
            # a part of an estate and its building (A区18栋, 东区3号楼), a unit and its room
            # (三单元五零二, 2单元301), a numbered compound (二十一号院)
            rf"(?:[A-Za-z]区|[东南西北中][{_NUM_ZH}]?区|[0-9{_NUM_ZH}]{{1,2}}[期区]){_BLDG}(?:{_UNIT_B})?(?:{_ROOM})?",
            rf"(?<!第){_UNIT}(?:{_ROOM_SUF}|[0-9]{{3,4}}(?![0-9])|{_ROOM_SPOKEN})",
            rf"(?:[0-9]{{1,4}}|[{_NUM_ZH}]{{1,4}})号院(?![区长])",
            r"(?<![A-Za-z0-9])[A-Za-z](?:座|栋|幢)[0-9]{3,4}(?![0-9])",
            # an estate's short name, its building and room (紫菘十二栋305), a lane's branch
            # and house number (三支弄二十一号)
            rf"{_N}{{2,4}}{_BLDG}[0-9]{{3,4}}(?![0-9])",
            rf"(?:[0-9]{{1,3}}|[{_NUM_ZH}]{{1,3}})支弄{_HOUSE_NO}",
            rf"(?:{_BLDG})?(?:[0-9]{{1,2}}|[{_NUM_ZH}]{{1,2}})门(?:[0-9]{{3,4}}(?![0-9])|{_ROOM_SPOKEN})",
        ]
    )
)
# a named compound or park and its numbered 号楼, without an estate word (企业天地三号楼; not a
# date before 楼下: 周三号楼下), and the building across from or beside an estate's gate
# (富力城东门对面那栋): texts without 号楼 or a gate skip these
_NAMED_BUILDING = re.compile(
    rf"{_ESTATE_NAME}(?:[0-9]{{1,4}}|[{_NUM_ZH}]{{1,3}})(?:号楼|號樓)(?![下上道梯前后])"
    rf"(?:{_UNIT})?(?:{_ROOM})?"
    rf"|(?!(?:{_ESTATE_WORD}|学校|公司|单位|商场|超市|车站)[东南西北]门)"
    rf"{_ESTATE_NAME}(?:{_ESTATE_WORD})?(?:{_SUBAREA})?[东南西北]门"
    r"(?:进去|进来|往[东南西北里]走?|斜?对面|旁边|隔壁|边上|左手边?|右手边?){1,2}"
    rf"(?:的|那)?(?:一|第?(?:[0-9]{{1,2}}|[{_NUM_ZH}]{{1,2}}))?(?:栋|幢|座|排)楼?"
)
_NAMED_BUILDING_MARK = re.compile("号楼|號樓|[东南西北]门")
_EN_ADDRESS = re.compile(
    r"\b\d{1,5}(?:-\d{1,5})?\s+(?:[A-Z][A-Za-z'.-]*\s+){1,4}"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|"
    r"Terrace|Crescent|Close)\b\.?"
    r"(?:,?\s*(?:Apt\.?|Apartment|Suite|Unit|Flat|Room|#)\s*[\w-]+)?"
)

# a flat or unit said first, then the house number and a street of any name (Unit 7, 88 Queensway)
_EN_UNIT_FIRST = re.compile(
    r"\b(?:Flat|Unit|Apt\.?|Apartment|Suite|Room)\s*[\w-]+,?\s+\d{1,5}(?:-\d{1,5})?"
    r"(?:\s+[A-Z][A-Za-z'-]*){1,4}"
)
# a room or flat in a tower, block or named building (Room 2305, Tower B, Jing An Kerry Centre)
_EN_UNIT_IN_BUILDING = re.compile(
    r"\b(?:Flat|Unit|Apt\.?|Apartment|Suite|Room)\s*\d[\w-]*,?\s+"
    r"(?:(?:Tower|Block|Building|Wing)\s+[A-Z0-9]{1,3}\b"
    r"(?:,?\s+(?:[A-Z][A-Za-z'-]*\s+){1,4}(?:Centre|Center|Tower|Building|Plaza|Mansion|Court))?"
    r"|(?:[A-Z][A-Za-z'-]*\s+){1,4}(?:Centre|Center|Tower|Building|Plaza|Mansion))\b"
)
# a house number, maybe a lane, then the road, as Chinese addresses are written in English
# (No. 27, Lane 1288, Jinqiao Road, Pudong, Shanghai)
_EN_NUMBER_FIRST = re.compile(
    r"\bNo\.?\s*\d{1,5}[A-Z]?,?\s+(?:Lane\s+\d{1,5},?\s+)?(?:[A-Z][A-Za-z'-]*\s+){1,3}"
    r"(?:Road|Street|Avenue|Rd|St|Lu|Jie|Lane)\b"
    r"(?:,\s+[A-Z][A-Za-z'-]*(?:\s+(?:District|City|New Town|New Area))?){0,3}"
)
# the building first, then the flat, then maybe the estate (Tower 3, Apartment 2603, One
# Shenzhen Bay), or a flat or room said alone with its number (add Flat 1506)
_EN_BUILDING_FIRST = re.compile(
    r"\b(?:Tower|Building|Block)\s+[A-Z0-9]{1,3},?\s+(?:Apartment|Apt\.?|Unit|Flat|Room|Suite)\s+"
    r"\d[\w-]*(?:,\s+(?:[A-Z][A-Za-z'-]*)(?:\s+[A-Z][A-Za-z'-]*){0,3})?"
    r"|\b(?:Flat|Apartment|Apt\.?|Room|Suite)\s+\d{3,5}[A-Z]?\b|\bTower\s+(?:[A-Z]|\d{1,2})\b"
    r"|\b(?:[Rr]oom|[Ff]lat|[Aa]partment|[Uu]nit|[Bb]uilding|[Bb]lock)\s+\w{1,5},?\s+"
    r"(?:[Rr]oom|[Ff]lat|[Aa]partment|[Uu]nit|[Bb]uilding|[Bb]lock)\s+\w{1,5}\b"
    r"(?:,\s+[A-Z][A-Za-z'-]*(?:\s+[A-Z][A-Za-z'-]*){0,3})?"
    r"|\b[Bb]uilding\s+\w{1,4}\s+of\s+[A-Z][A-Za-z'-]*(?:\s+[A-Z][A-Za-z'-]*){0,3}"
    r"|\bLane\s+\d{1,5},?\s+(?:[Nn]umber|No\.?)\s*\d{1,5}"
    r"(?:,?\s+(?:[Aa]partment|[Aa]pt\.?|[Rr]oom|[Uu]nit|[Ff]lat)\s+\w{1,5})?"
)


# every _ZH_ADDRESS match holds one of these (a house, building or room word): texts without
# any skip the pattern, whose admin-area prefixes are slow to rule out at every position
_ZH_ADDRESS_MARK = re.compile(
    "[号號弄栋棟幢座室]|单元|[0-9一二三四五六七八九十幺]门|[楼层][0-9]|[0-9]房"
)
_DIGIT = re.compile(r"\d")

# a floor of a named tower or block (凯旋门大厦二十八层), a parcel point in a named estate
# (碧桂园凤凰城二期菜鸟驿站): a floor of a mall, hospital or school (万达广场三楼) is not one
_TOWER = "大厦|大楼|公寓|写字楼|宿舍|家属院|家属楼|阁|小区|花园|家园|苑"
_ESTATE_SPOT = re.compile(
    rf"{_ESTATE_NAME}(?:{_TOWER})(?:{_ROOM_SUF}{_DOOR}?|[0-9]{{3,4}}(?![0-9年月日号元块万个多人户%.．]))"
    rf"|(?:{_ESTATE}|{_N}[苑园])(?:{_SUBAREA})?的?(?:[东南西北]门的?)?(?:[\u4e00-\u9fff]{{0,4}}驿站|快递柜|丰巢柜?|快递点|门卫室|门卫|传达室|保安室)"
)
_SPOT_MARK = re.compile(
    rf"(?:{_TOWER}).{{0,2}}[{_NUM_ZH}0-9]|驿站|快递柜|丰巢|快递点|门卫|传达室|保安室"
)

# a piece of an address said just before the rest of it in the same sentence: a city and its
# district, a district and its road, a road (武侯区桐梓林北路，那个蜀都花园…; 小寨西路，小寨西路
# 一百号…; 上海那个闵行区…); the address then starts there. Kept on its own (我在成都出差,
# 中山路那边在修路)
_BIG_CITY = (
    "北京|上海|天津|重庆|广州|深圳|杭州|南京|武汉|成都|西安|郑州|济南|青岛|沈阳|大连|长春|哈尔滨"
    "|石家庄|太原|合肥|福州|厦门|南昌|长沙|南宁|海口|贵阳|昆明|兰州|西宁|银川|乌鲁木齐|呼和浩特"
    "|苏州|宁波|无锡|东莞|佛山|温州"
)
_STREET = rf"{_N}{{2,7}}?(?:大街|大道|路|街|巷)"
_PIECE = re.compile(rf"(?P<admin>{_ADMIN}{{1,4}})(?:{_STREET})?|{_STREET}|(?:{_BIG_CITY})(?!市)")
_SHORT_GAP = re.compile(r"(?:[，,、 \u3000]|嗯|呃|啊|那个|就是|是|就在|在){0,4}")
# after a city and district (or a district and road) that end a clause, the rest may follow a
# remark: 我在济南市历下区，楼没门牌，就在阳光100小区…
_LONG_GAP = re.compile(r"[，,][^。！？!?；;]{0,10}")


def _pieces_before(text: str, found: list[PiiSpan]) -> list[PiiSpan]:
    """The address found next, started at the piece said just before it."""
    pieces = []
    for m in _PIECE.finditer(text):
        if any(s.start < m.end() and m.start() < s.end for s in found):
            continue
        after = [s for s in found if s.start >= m.end()]
        if not after:
            break
        first = min(after, key=lambda s: (s.start, -s.end))
        gap = text[m.end() : first.start]
        if _SHORT_GAP.fullmatch(gap) or (
            m.group("admin")
            and len(_RURAL_LEVEL.findall(m.group())) >= 2
            and _LONG_GAP.fullmatch(gap)
        ):
            pieces.append(replace(first, start=m.start()))
    return pieces


# a rural address has no house number: a town after a county or city (…县城关镇), or a village
# (村, 屯, 庄, 寨; under its village committee: 罗官村委会下罗官村) after its town, down to the
# village group (…镇大桥村下屋组, 王庄村三组), with pauses between the parts (…镇的，东王家庄)
_NV = rf"(?:(?![{_STOP.replace('家', '')}们镇鎮乡])[\u4e00-\u9fff])"  # 王家庄, 李家村
_VILLAGE = rf"{_NV}{{1,5}}?(?:村民小组|村民组|村|屯|庄|寨)(?![民委干里子村庄])"
_COMMITTEE = rf"{_NV}{{1,5}}?村委会?"
_GROUP_NO = (
    rf"(?:[0-9]{{1,2}}|[{_NUM_ZH}]{{1,3}})(?:组(?![织成合建长员队件委])|社|队)(?![会员长区])"
)
_RURAL_PAUSE = r"(?:的?[，,、 \u3000]){0,2}"
# a numbered group may follow a pause (下罗官村，五组), a named one follows at once (大桥村下屋组)
_GROUP = rf"(?:{_RURAL_PAUSE}{_GROUP_NO}|{_NV}{{1,4}}?组(?![织成合建长员队件委]))"
_RURAL = re.compile(
    rf"(?!为)(?:{_ADMIN}{{1,3}}{_N}{_NI}{{0,4}}?(?:镇|鎮|乡)|{_N}{_NI}{{0,4}}?(?:镇|鎮|乡))"
    rf"(?P<village>{_RURAL_PAUSE}(?:{_COMMITTEE})?{_VILLAGE}(?:{_GROUP})?)?"
)
_RURAL_MARK = re.compile("[镇鎮乡]")
_RURAL_LEVEL = re.compile("省|自治区|市|区|县|旗|镇|鎮|乡|街道|村|组")
# a town is the place itself when the clause ends there, not when it qualifies what follows
# (燕郊镇的洗衣店, 城东镇营业厅; but 俺是依汶镇的。)
_TOWN_END = re.compile(r"的?(?:[，。！？,.!?、；;\s]|$)|那边|这边|那里|这里|那一带")
# a village said without its town: under its committee, or with its group (后李庄村三组)
_VILLAGE_CHAIN = re.compile(
    rf"{_COMMITTEE}{_RURAL_PAUSE}{_VILLAGE}(?:{_GROUP})?|{_VILLAGE}{_GROUP}"
)
_VILLAGE_MARK = re.compile("[组社队]|村委")


def _rural_spans(text: str) -> list[PiiSpan]:
    """Town and village addresses said without a cue: two levels or more (a county and its
    town, a town and its village, a village and its group); a town on its own is kept."""
    spans = []
    if _VILLAGE_MARK.search(text):
        spans += [PiiSpan("address", *m.span()) for m in _VILLAGE_CHAIN.finditer(text)]
    if not _RURAL_MARK.search(text):
        return spans
    for m in _RURAL.finditer(text):
        levels = len(_RURAL_LEVEL.findall(m.group()))
        if m.group("village") or (levels >= 2 and _TOWN_END.match(text, m.end())):
            spans.append(PiiSpan("address", m.start(), m.end()))
    return spans


_ROOM_AFTER = re.compile(
    rf"(?:[，,、 ]|嗯|呃|那个|就是){{0,3}}(?:(?:{_BLDG_HEARD})?(?:{_UNIT})?{_ROOM_SUF}{_DOOR}?"
    rf"|{_BLDG_HEARD}(?:{_UNIT}(?:{_ROOM}|{_ROOM_SPOKEN})?)?|{_UNIT}(?:{_ROOM_SPOKEN})?"
    r"|[0-9]{2,5}(?:号房|室|房间)?(?![0-9]))"
)
_EN_ROOM_AFTER = re.compile(r",?\s*(?:Apt\.?|Apartment|Suite|Unit|Flat|Room|#)\s*[\w-]+")


def _address_spans(text: str) -> list[PiiSpan]:
    found = []
    if _ZH_ADDRESS_MARK.search(text):
        found += [PiiSpan("address", m.start(), m.end()) for m in _ZH_ADDRESS.finditer(text)]
    if _NAMED_BUILDING_MARK.search(text):
        found += [PiiSpan("address", *m.span()) for m in _NAMED_BUILDING.finditer(text)]
    if _DIGIT.search(text):
        for pattern in (
            _EN_ADDRESS,
            _EN_UNIT_FIRST,
            _EN_UNIT_IN_BUILDING,
            _EN_BUILDING_FIRST,
            _EN_NUMBER_FIRST,
        ):
            found += [PiiSpan("address", m.start(), m.end()) for m in pattern.finditer(text)]
    found += _spoken_address_spans(text) + _place_after_cue(text) + _estate_named(text)
    found += _rural_spans(text)
    if _SPOT_MARK.search(text):
        found += [PiiSpan("address", *m.span()) for m in _ESTATE_SPOT.finditer(text)]
    found = [_with_room_after(text, span) for span in found]
    return found + _pieces_before(text, found) if found else found


def _with_room_after(text: str, span: PiiSpan) -> PiiSpan:
    """An address followed by its room or unit a little later: 光明路5号，302室."""
    pattern = _EN_ROOM_AFTER if text[span.start : span.end].isascii() else _ROOM_AFTER
    m = pattern.match(text, span.end)
    if m and m.end() > span.end and re.search(r"[0-9一二三四五六七八九十]", m.group()):
        return replace(span, end=m.end())
    return span


_PLACE_CUE = re.compile(
    r"(?:(?:地址|住址)(?:就|的话|还是)?(?:是|在|为|写|填|写成|填成|改成|改为)|[我他她]住在?|住在"
    r"|(?<!之)家在|(?<!之)家住|寄到|送到|发到|(?P<put>(?:快递|包裹|快件|货)(?:就|都|直接|帮我|给我)?放[到在]?)"
    r"|收货地址是?|送货地址是?|搬到了?)[：:，, ]?"
    r"|\b(?:I live (?:at|in|on)|my address is|address is|deliver(?:ed)? to|send it to)\s+",
    re.IGNORECASE,
)
_PLACE_WORD = re.compile(
    r"省|市|区|县|镇|乡|村|路|街|道|巷|弄|胡同|小区|花园|家园|公寓|大厦|苑|社区|广场|新村|楼|栋|单元|室"
    r"|\b(?:Street|St|Road|Rd|Avenue|Ave|Lane|Drive|Court|Close|Way|Estate|Gardens|Tower|Building)\b"
)
_PLACE_END = re.compile(
    r"[。！？!?；;：:]|号码|电话|手机|身份|联系|但是|可是|然后|结果|\.(?!\d)|,\s"
)
_PLACE_STOP = re.compile(
    r"(?:[，,]\s*|\s+)(?:我|你|您|他|她|就|都|还|也|已经|但|可|然后|结果|and\b|but\b|so\b)"
)
# finer than a city or district (kept alone): a street, estate, village or building
_FINE_PLACE = re.compile(
    r"镇|乡|村|路|街|道|巷|弄|胡同|小区|花园|园|公寓|大厦|苑|社区|广场|楼|栋|单元|室|号"
    r"|\b(?:Street|St|Road|Rd|Avenue|Ave|Lane|Drive|Court|Close|Way|Estate|Gardens|Tower|Building)\b"
)
_NAMED_PLACE = re.compile(
    r"省|市|区|县|镇|乡|村|路|街|巷|弄|胡同|小区|花园|家园|公寓|大厦|苑|社区|广场|新村"
    r"|\b(?:Street|St|Road|Rd|Avenue|Ave|Lane|Drive|Court|Close|Way|Estate|Gardens|Tower)\b"
)
PLACE_MAX_CHARS = 32
_PLACE_TAIL = re.compile(
    r"就|都|还|也|吧|吗|呢|了|那边|这边|一直|最近|信号|网络|的话|可以|行"
    r"|门口|旁边|附近|对面|后面|前面|楼下|的"
)


_ESTATE_NAMED = re.compile(
    rf"(?:小区|楼盘|院子)(?:名字)?(?:叫|是)(?P<estate>(?![{_STOP}]|什么|怎)"
    r"(?:(?![的了吗呢吧啊])[\u4e00-\u9fffA-Za-z]){2,10}?)"
    r"(?=[，。！？,.!?、\s]|那边|这边|里|的|$)"
)


def _estate_named(text: str) -> list[PiiSpan]:
    """An estate named after 小区叫 / 小区是 (金地格林小城): its name is the place."""
    return [
        PiiSpan("address", m.start("estate"), m.end("estate")) for m in _ESTATE_NAMED.finditer(text)
    ]


_NO_PLACE = {"农村", "乡下", "乡村", "城里", "市区", "郊区", "城区", "镇上", "村里", "老家", "外地"}


def _place_after_cue(text: str) -> list[PiiSpan]:
    """A place given after 地址是 / 住在 / 寄到 without a house number (北京市朝阳区望京西园,
    "I live on Elm Street"): the clause up to its last place word. Where a parcel is left
    (快递放到…) the place must name an estate, street or area, not only a floor or room."""
    spans = []
    for cue in _PLACE_CUE.finditer(text):
        place = _cued_place(text, cue.end())
        if not place or not _FINE_PLACE.search(place) or place in _NO_PLACE:
            continue
        if cue.group("put") and not _named(place):
            continue
        spans.append(PiiSpan("address", cue.end(), cue.end() + len(place)))
    return spans


def _named(place: str) -> bool:
    """An estate, street or area word with its name before it (翠苑小区, not 小区门口)."""
    return any(m.start() > 0 for m in _NAMED_PLACE.finditer(place))


def _cued_place(text: str, at: int) -> str:
    """The place named from `at` (right after a cue): its parts up to the last place word."""
    end = _PLACE_END.search(text, at)
    clause = text[at : end.start() if end else len(text)][:PLACE_MAX_CHARS]
    if clause[:1] in "的得了过着院":  # 我住的那栋楼…, 我住院了: no place follows
        return ""
    if stop := _PLACE_STOP.search(clause):
        clause = clause[: stop.start()]
    length = 0
    for part in re.split(r"(?<=[，,、])", clause):  # parts that each name a place
        if not _PLACE_WORD.search(part):
            break
        length += len(part)
    place = clause[:length]
    last_word = max((m.end() for m in _PLACE_WORD.finditer(place)), default=0)
    if tail := _PLACE_TAIL.search(place, last_word):
        place = place[: tail.start()]
    place = place.rstrip("，,、 ")
    return place if place[:1].strip() else ""


_ADDRESS_CUE = re.compile(r"(?:地址|住址|住在|(?<!之)家在)(?:是|在)?[：:，, ]?")  # not 小米之家在…
_CLAUSE_END = re.compile(r"[。！？!?；;：:]|号码|电话|手机|身份|联系|\.(?!\d)")
ADDRESS_MAX_CHARS = 32
_ADDRESS_DETAIL = re.compile(
    rf"[0-9{_NUM_ZH}]+\s*(?:号|單元|单元|室|栋|棟|动|幢|楼|层|弄)|[0-9]{{3,}}"
)


_ASKING = (
    "麻烦",
    "请",
    "您",
    "你",
    "说",
    "讲",
    "报",
    "告诉",
    "多少",
    "是什么",
    "呢",
    "核对",
    "确认",
)


def _spoken_address_spans(text: str) -> list[PiiSpan]:
    """An address read out after 地址是 / 住在, as speech recognition writes it (光明接90,3号6动
    6单元1040): the clause up to its last house, unit or room part, when it has one."""
    spans = []
    for cue in _ADDRESS_CUE.finditer(text):
        end = _CLAUSE_END.search(text, cue.end())
        clause = text[cue.end() : end.start() if end else len(text)]
        if (
            not clause[:1].isalpha()
            or not clause[:1] > "\u2e80"
            or clause.startswith(_ASKING)
            or not _ADDRESS_DETAIL.search(clause)
        ):
            continue  # a place starts with a Han character

        last = max(m.end() for m in _ADDRESS_DETAIL.finditer(clause))
        if last <= ADDRESS_MAX_CHARS:
            spans.append(PiiSpan("address", cue.end(), cue.end() + last))
    return spans


# --- instant-messaging ids ---------------------------------------------------------------

_IM_CUE = re.compile(
    r"(?P<qq>QQ|扣扣|企鹅)(?:号码|号)?|(?P<wx>微信|威信|薇信|VX|vx|V信|wechat|weixin)(?:号码|号|\s?ID)?",
    re.IGNORECASE,
)
_IM_LINK = re.compile(r"(?:\s*(?:是|就是|为|叫|:|：|is|number is|id is|ID is|,|，)\s*){0,2}")
_WECHAT_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{5,19}(?![A-Za-z0-9_-])")
IM_MIN_DIGITS = 5
_IM_FILLER = re.compile(r"[吧啊呀呢哈，,。 ：:]{0,4}")  # 加一下我的QQ吧，3387…
_COMPANY_QQ = re.compile(r"(?:800|400)\d{6,7}$")  # a company's QQ service number


def _im_spans(text: str) -> list[PiiSpan]:
    """A QQ number or WeChat id given after its word: QQ是 1234 5678, 微信号 zhang_san88."""
    spans = []
    for cue in _IM_CUE.finditer(text):
        at = _IM_LINK.match(text, cue.end()).end()
        if cue.group("wx") and (m := _WECHAT_ID.match(text, at)):
            if m.group().lower() not in _IM_NOT_IDS:
                spans.append(PiiSpan("im_id", m.start(), m.end()))
            continue
        chain = _digit_chain(text, at, len(text), max_gap=2)
        digits = "".join(t.digits for t in chain)
        gap = text[at : chain[0].start] if chain else ""
        if chain and _IM_FILLER.fullmatch(gap) and len(digits) >= IM_MIN_DIGITS:
            if not _COMPANY_QQ.match(digits):
                spans.append(PiiSpan("im_id", chain[0].start, chain[-1].end))
    return spans


_IM_NOT_IDS = {"number", "account", "official", "payment", "wallet"}


# --- personal names ------------------------------------------------------------------------

_SURNAMES_2 = "欧阳|司马|上官|诸葛|东方|皇甫|令狐|慕容|尉迟|长孙|宇文|司徒|夏侯|公孙"
_SURNAMES_1 = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡杜叶程苏魏"
    "吕丁沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵钱"
    "严覃武戴莫孔汤庞樊兰殷施陈洪翟安颜倪严牛温芦季俞章鲁葛伍韦申尤毕聂焦向柳邢骆岳齐沿梅莫"
    "庄辛管祝左涂谷祁时舒耿牟卜詹关苗凌费纪靳盛童欧甄项曲成游阮华"
)
_SURNAME = rf"(?:{_SURNAMES_2}|[{_SURNAMES_1}])"
# rarer surnames, or ones that are also common words' first characters (白领, 文员, 于是): only
# where the context says a surname follows (姓喻, 柏师傅, 楼上钱阿姨)
_SURNAMES_MORE = (
    "柏喻包宁卫蓝廉冉阎巫邬饶甘艾景蒲隋滕佟穆裴苟鲍钮鞠郎栾荣晏丛宫祖万柴屠符蔺麦简池乔姬桂戚"
    "伏闵于白文任常易岑揭幸储缪糜阙宗厉计尚武卓植褚茅洑邝卢黄"
)
_SURNAME_ANY = rf"(?:{_SURNAMES_2}|[{_SURNAMES_1}{_SURNAMES_MORE}])"
# a surname spelled out the way callers do (弓长张, 耳东陈, 木子李)
_SPELLED_SURNAME = (
    "弓长张|耳东陈|木子李|立早章|口天吴|双木林|古月胡|草头黄|言午许|文刀刘|禾口程|人可何|关耳郑"
    "|三横王|走肖赵|双口吕|宝盖宋|女古姑|马户驴|子小孙|日出曹|反文敖|白水泉|木易杨|双人徐|草头蒋|草头苏"
    "|草头范|耳刀郑|三点水的?[沈汪江潘洪汤]"
)
# characters that follow a surname character as an ordinary word, not a given name
_NOT_GIVEN = "的了是在不也就都还要会能想说吗呢吧啊呀嘛么个这那些把被给让对跟和与及或上下来去过着到候请叫找问帮替"
_GIVEN = rf"(?:(?![{_NOT_GIVEN}])[\u4e00-\u9fff])"
_TITLE = (
    "先生|女士|小姐|老师|师傅|经理|主任|阿姨|大爷|大姐|大哥|同学|护士|书记|主管|医生|大夫|会计|律师"
    "|警官|科长|处长|局长|院长|校长|站长|组长|队长|老板|叔叔|叔|婶|奶奶|爷爷|姐|哥"
    "|工(?=[，。！？,.!?、\\s]|$)|总(?![共是部结额计体之统而的数量价台机站线])"
)
# a surname with a title stands after a pause or a word that leads to a person (的戴小姐)
_BEFORE_TITLED = (
    r"(?:(?<![\u4e00-\u9fff])|(?<=[是的找叫跟和给请问好谢您你我他她让说诉位哦噢喂嗨诶哎嗯个写了们排派约])"
    r"|(?<=老板|隔壁|楼上|楼下|对门|邻居|同事|领导|师傅|快递|们家|会计))"
)
_NAME_CUE = (
    r"我叫|叫做|名字是|名字叫|姓名是|姓名叫|姓名(?=[：:])|全名是|机主是|机主叫|机主姓名是?|户主是|户主叫"
    r"|收件人是?|收货人是?|联系人是?|持卡人是?|开户人是?|本人是|登记的名字是|登记人是?"
    r"|机主|户主|全名叫?|填的是|写的是|登记的是|送件的是|快递员是|师傅是|工程师是|技术员是"
    r"|代签人|签收人|紧急联系人|担保人|经办人|法人|法定代表人|中文名是?|中文名字是?"
    r"|(?:我是|这边是|这里是)(?:客服|专员|工程师|技术员|话务员|装维|师傅)"
)
_RELATION = (
    "爸爸|妈妈|爸|妈|父亲|母亲|爷爷|奶奶|外公|外婆|姥姥|姥爷|老公|老婆|爱人|丈夫|妻子|媳妇|儿子|女儿"
    "|闺女|哥哥|姐姐|弟弟|妹妹|朋友|同事|孩子|婆婆|公公|岳父|岳母|丈母娘|舅舅|姑姑|叔叔|伯伯|表哥|表姐"
    "|表弟|表妹|堂哥|堂姐|侄子|侄女|外甥|孙子|孙女|室友|房东|邻居|领导|老板"
)
# a name of any surname follows
_SAID_NAME_CUE = (
    r"我叫|他叫|她叫|名叫|名字是|名字叫|姓名是|姓名叫|全名是|机主是|户主是|收件人是|收货人是"
    r"|联系人是|持卡人是|开户人是|收件人写|收货人写|收件人填|联系人写|联系人填|名字写|名字填"
    r"|户名是?|账户名是|开户名是"
    rf"|(?:{_RELATION}|他|她)(?:的名字|的)?[，, ]?叫|师傅叫|员叫|就叫|(?<=[，, ])叫"
)
# a family member's name right after the word for them: 户主是我老公，许国栋; 我女儿姚欣然在用;
# without a pause the name must be followed by what they use or own (在用, 名下, 的号)
_AFTER_RELATIVE = (
    "在用|用的|名下|办的|的(?:号|卡|名字|身份证|手机|电话|宽带|账号|[，。！？,.!?、\\s]|$)|帮我|替我|上个月"
    "|去世|已经|也想|也要"
)
_ZH_NAME = re.compile(
    rf"(?P<said>(?:{_SAID_NAME_CUE})[：:，, ]?)(?P<n0>(?![{_NOT_GIVEN}等我你您他她本这那自谁什哪怎])[\u4e00-\u9fff]{{2,3}}(?=[，。！？,.!?、\s]|$))"
    rf"|(?P<cued>(?:{_NAME_CUE}|{_SAID_NAME_CUE})[：:，, ]?)(?P<n1>{_SURNAME}(?!{_TITLE}){_GIVEN}{{1,2}})"
    rf"|(?P<ami>我是|我这边是|这里是|我就是|您是|你是|是不是|请问是|(?:(?<=[，,。 ])|^)我|是我[，, ])(?P<n2>{_SURNAME}(?!{_TITLE}){_GIVEN}{{1,2}})(?=[，。！？,.!?、\s吗吧啊呀]|$|{_TITLE}|的(?:{_RELATION}|家长|家属|家人))"
    rf"|{_BEFORE_TITLED}(?P<n3>[小老大阿]?{_SURNAME_ANY}{_GIVEN}{{0,2}}?)(?:{_TITLE})"
    rf"|姓(?P<s>{_SURNAME_ANY})[，,、 ]{{1,2}}(?P<n6>(?P=s){_GIVEN}{{1,2}})(?=[，。！？,.!?、\s]|$)"
    rf"|姓(?P<n4>{_SURNAME_ANY})(?=[的，。！？,.!?、\s]|$|{_TITLE})"
    rf"|(?:客服|专员|代表|我是|我叫|找一下|找|隔壁|楼上|楼下|对门|邻居|的是|叫|会计|书记|同事|师傅|经理|老板|那个|这个|快递员|快递小哥|送货的|个)(?P<n5>(?!小时)[小老阿]{_SURNAME_ANY})"
    rf"|(?<![\u4e00-\u9fff0-9０-９])(?!小时)(?P<n5b>[老小]{_SURNAME})(?=[，。！？,.!?、\s]|$)"
    rf"|叫我(?P<n7>[小老阿][\u4e00-\u9fff]|{_SURNAME_ANY}{_GIVEN}{{0,2}}?)(?=就|吧|好了|[，。！？,.!?、\s]|$)"
    rf"|(?P<n8>{_SPELLED_SURNAME})"
    rf"|(?<![小老大阿])(?P<n14>{_SURNAME})(?=先生|女士|小姐)"
    rf"|(?P<n12>{_SURNAME}{_GIVEN}{{1,2}})(?=的?名下)"
    rf"|(?<=的)(?!小时)(?P<n13>[老小]{_SURNAME})(?=[说讲叫来去在也都，。！？,.!?、\s]|$)"
    r"|(?<![A-Za-z-])(?P<n9>(?:[A-Z]-){3,}[A-Z])(?![A-Za-z-])"  # spelled letter by letter
)
# a pet name said twice (我女儿萌萌), not a word that is (妈妈, 天天, 谢谢)
_NOT_TWICE = "爸爸|妈妈|哥哥|姐姐|弟弟|妹妹|奶奶|爷爷|姥姥|宝宝|天天|常常|刚刚|慢慢|好好|偷偷|谢谢|看看|试试|问问|说说|等等|个个|人人"
_SAID_AGAIN = re.compile(
    rf"(?:(?P<s>{_SURNAME_ANY})(?:{_TITLE})|(?P<spelled>{_SPELLED_SURNAME}))[，, ]"
    rf"(?P<full>{_SURNAME_ANY}{_GIVEN}{{1,2}})(?=[，。！？,.!?、\s]|$)"
)
_RELATIVE_NAME = re.compile(
    rf"(?<=[我他她])(?:的|家)?(?:{_RELATION})"
    rf"(?:[吧呀啊的]?[，, ](?P<paused>{_SURNAME}{_GIVEN}{{1,2}})(?=[，。！？,.!?、\s]|$)"
    rf"|(?P<joined>{_SURNAME}{_GIVEN}{{1,2}})(?={_AFTER_RELATIVE})"
    rf"|(?P<twice>(?!{_NOT_TWICE})(?P<c>[\u4e00-\u9fff])(?P=c))"
    r"|(?P<nick>(?!小[时学孩区姐伙朋米])[小阿][\u4e00-\u9fff])(?=[办的在用说，。！？,.!?、\s]|$))"
)
_EN_TITLE = r"(?:Mr|Mrs|Ms|Miss|Mister|Dr|Madam)\.?"
# a person's role or relation, then (maybe after a comma) their name: my wife, Mary Walker
_EN_ROLE = (
    r"colleague|agent|operator|technician|engineer|manager|supervisor|wife|husband|son"
    r"|daughter|friend|mother|father|mum|mom|dad|brother|sister"
)
_EN_NAME_CUE = (
    r"(?:[Mm]y name is|[Mm]y name's|[Nn]ame is|(?:Hi|Hello|Hey|Thanks|Thank you|Dear),?|[Tt]his is|I'm|I am|[Ii]t's|[Ss]peaking with"
    r"|[Tt]alk to|[Ss]peak to|[Aa]sk for|[Cc]alled|[Nn]amed|under the name(?: of)?|[Hh]older is"
    rf"|[Ss]urname(?: is|'s)?|(?:{_EN_ROLE}),?|(?:'s|[Mm]y|[Hh]is|[Hh]er) name,|[Cc]all me"
    r"|[Ff]irst name(?: is|'s)?|[Ll]ast name(?: is|'s)?|[Nn]ame's|我是|我叫|英文名(?:是|叫)?)"
)
_CAP = r"(?:[A-Z][a-z]+(?:['’-][A-Z]?[a-z]+)?|[A-Z]'[A-Z][a-z]+|Mc[A-Z][a-z]+)"
_EN_NAME = re.compile(
    rf"(?:\b|(?<=[\u4e00-\u9fff]))(?:{_EN_TITLE}\s+(?P<t>{_CAP}(?:\s+{_CAP})?)|{_EN_NAME_CUE}\s*(?P<c>(?!{_EN_TITLE}\s){_CAP}(?:\s+{_CAP}){{0,2}}))"
)
_EN_PLACES = {"Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Hong", "Kong", "Canada", "England"}
_EN_NOT_NAMES = set(
    """I I'm The A An It That This What How Why Okay OK Yes No Hello Hi Hey Sorry Just Really
    Very Not So Still Here There Your My Our His Her Their We You He She They Calling Call
    China Mobile Unicom Telecom Customer Service Support Galaxy English Chinese American
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May
    June July August September October November December Please Thanks Thank Good Fine Well
    Actually Also Again About After Before Because But And Or If When Where Who Whom Which
    Sure Great Right Wrong Tomorrow Today Yesterday Morning Afternoon Evening Internet Wi-Fi
    Broadband Plan Account Order Phone Number Mobile Apple Huawei Xiaomi Samsung Beijing
    Shanghai Guangzhou Shenzhen Hong Kong Canada England Galaxy Pre-order Hotline Billing
    Technical Support Team Manager Agent Operator Double Triple Oh Zero One Two Three Four
    Five Six Seven Eight Nine Ten Twenty Thirty Forty Fifty Sixty Seventy Eighty Ninety
    Room Flat Unit Tower Suite Apartment Block Building Floor Level Sir Madam Ma'am Miss Everyone
    All Guys Team Folks There""".split()
)


def _name_spans(text: str) -> list[PiiSpan]:
    """People's names: after 我叫 / 名字是 / 机主是..., 我是 / 请问是 + a surname, a surname
    with a title (张先生, 王女士), 免贵姓王, after a family word (我老公，许国栋); in English
    after "my name is", "this is", "I'm", "surname", a role (my wife, Mary Walker) or a title
    (Mr Smith), as words with capitals that are not common words."""
    spans = []
    for m in _ZH_NAME.finditer(text):
        for group in (
            "n0",
            "n1",
            "n2",
            "n3",
            "s",
            "n4",
            "n5",
            "n5b",
            "n6",
            "n7",
            "n8",
            "n9",
            "n12",
            "n13",
            "n14",
        ):
            if m.group(group):
                spans.append(PiiSpan("name", m.start(group), m.end(group)))
    for m in _SAID_AGAIN.finditer(text):  # 徐老师，徐文静; 口天吴，吴婷
        surname = m.group("spelled")[-1] if m.group("spelled") else m.group("s")
        if m.group("full").startswith(surname):
            spans.append(PiiSpan("name", m.start("full"), m.end("full")))
    for m in _RELATIVE_NAME.finditer(text):
        group = next(g for g in ("paused", "joined", "twice", "nick") if m.group(g))
        spans.append(PiiSpan("name", m.start(group), m.end(group)))
    for m in _EN_NAME.finditer(text):
        group = "t" if m.group("t") else "c"
        words = m.group(group).split()
        keep = []
        for word in words:
            if word in _EN_NOT_NAMES:
                break
            keep.append(word)
        if keep:
            start = m.start(group)
            spans.append(PiiSpan("name", start, start + len(" ".join(keep))))
    return spans


# --- public API -------------------------------------------------------------------------


def _resolve(candidates: Iterable[PiiSpan]) -> list[PiiSpan]:
    """Longest span first (then kind priority); drop anything overlapping a kept span."""
    kept: list[PiiSpan] = []
    order = sorted(candidates, key=lambda s: (s.start - s.end, _PRIORITY[s.kind], s.start))
    for span in order:
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


def find_pii(text: str) -> list[PiiSpan]:
    """Non-overlapping PII spans of `text`, sorted by start (character offsets)."""
    if not text:
        return []
    candidates = (
        _email_spans(text)
        + _digit_spans(text)
        + _readout_spans(text)
        + _readout_alone(text)
        + _sound_spans(text)
        + _address_spans(text)
        + _im_spans(text)
        + _name_spans(text)
    )
    if _IPV4.search(text):
        candidates = [c for c in candidates if not _in_ip_address(text, c)]
    return _completed(text, _resolve(candidates))


_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")


def _in_ip_address(text: str, span: PiiSpan) -> bool:
    """192.168.1.1 read out is a router's address, not a phone number."""
    return any(m.start() <= span.start < m.end() for m in _IPV4.finditer(text))


def redact(text: str, kinds: Iterable[str] = KINDS) -> tuple[str, list[PiiSpan]]:
    """Replace each PII span of the given kinds with `[kind]`; spans keep original offsets."""
    wanted = set(kinds)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(f"unknown PII kinds: {sorted(unknown)}")
    spans = [s for s in find_pii(text) if s.kind in wanted]
    return _replaced(text, spans), spans


def _replaced(text: str, spans: list[PiiSpan]) -> str:
    parts: list[str] = []
    pos = 0
    for span in spans:
        parts += [text[pos : span.start], f"[{span.kind}]"]
        pos = span.end
    parts.append(text[pos:])
    if spans:
        logger.debug("redacted %d PII spans (%s)", len(spans), ", ".join(s.kind for s in spans))
    return "".join(parts)


TURN_JOIN = " "  # between one speaker's consecutive segments when they are read together


def find_pii_in_turns(texts: list[str]) -> list[list[PiiSpan]]:
    """PII spans of each of one speaker's consecutive segments, read together as well as one
    by one: a number read out over two turns (我的号码是138 / 1234 5678), a cue in one turn and
    the number in the next, half an ID number in each. A span across segments is cut at their
    boundary and kept in each."""
    own = [find_pii(text) for text in texts]
    if len(texts) < 2:
        return own
    starts, at = [], 0
    for text in texts:
        starts.append(at)
        at += len(text) + len(TURN_JOIN)
    extra: list[list[PiiSpan]] = [[] for _ in texts]
    for span in find_pii(TURN_JOIN.join(texts)):
        for i, (start, text) in enumerate(zip(starts, texts, strict=True)):
            lo, hi = max(span.start, start) - start, min(span.end, start + len(text)) - start
            if lo < hi and _holds_data(span.kind, text[lo:hi]):
                extra[i].append(PiiSpan(span.kind, lo, hi))
    return [_resolve(mine + more) for mine, more in zip(own, extra, strict=True)]


_PLACE_NAME = re.compile(
    rf"{_BIG_CITY}|河北|山西|内蒙古|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东"
    r"|广西|海南|四川|贵州|云南|西藏|陕西|甘肃|青海|宁夏|新疆"
)


def _holds_data(kind: str, piece: str) -> bool:
    """Whether the part of a span found across turns that falls in one turn holds any of it: a
    digit of a number, a place word of an address (not the 哪儿 of 您家住哪儿 before the reply)."""
    if not piece.strip():
        return False
    if kind == "address":
        return bool(_PLACE_WORD.search(piece) or _DIGIT.search(piece) or _PLACE_NAME.search(piece))
    if kind in ("name", "email", "im_id"):
        return True
    return any(_make_token(m).digits for m in _TOKEN.finditer(piece))


# --- one call's words for marketing ----------------------------------------------------------

# places finer than a district named anywhere (a road, an estate, a village) and words that look
# like a name (老王, 写钱梅就行, 我女儿欣怡用的): redacted where one call's own words go to
# marketing (the hand-off's issue statements and examples), where a street or a word too many
# costs little; a city or district stays
_NP = rf"(?:(?![{_STOP}省市区县州])[\u4e00-\u9fff])"  # a place's name, not its city or district
_LOOSE_PLACE = re.compile(
    rf"(?:{_NP}|[0-9]){{2,8}}?(?:大道|大街|路(?![线子由径况费程])|街|巷|胡同|小区|花园|家园|公寓|苑|新村|村|屯|庄|寨|大厦"
    r"|宿舍|家属院|公馆|山庄|名都|华府|步行街|回迁楼|出租屋)"
    rf"(?:{_NP}{{1,6}}?(?:大道|大街|路|街|巷|小区|花园|家园|苑|村|大厦|名都|华府|步行街))*"
    r"|\b(?:[A-Z][a-z]+\s+){1,3}(?:Road|Street|Avenue|Lane|Garden|Gardens|Estate|Village)\b"
)
_NOT_PLACE = re.compile(
    r"(?:马|道|公|网|线|电|思|走|上|一|出|门|套|迷|带|引|让|拦|岔|大马|高速公|铁)路$|^(?:农村|乡村|新村)$|街上$"
)
# words that start with a surname character and make a clause of their own
_NOT_NAME_WORDS = (
    "方便|高兴|周末|程序|江湖|黄金|白天|金额|包裹|常常|石头|毛病|钱包|付款|许多|严重|谢谢|杨梅|马上"
    "|张开|高铁|温度|安全|安装|安心|方法|方向|曾经|于是|文件|任何|常见|易用|成功|成本|华为|苏宁|万一"
    "|黄色|白色|金色|蓝色|红色|龙头|江南|钟点|时间|时候|陆续|罗列|毕竟|尤其|汤圆|宋体|游戏"
)
_LOOSE_NAME = re.compile(
    rf"(?:(?<![\u4e00-\u9fff])|(?<=[是叫写找个]))(?!小时)(?P<nick>[老小]{_SURNAME})"
    r"(?=[，。！？,.!?、\s人帮说就的也都]|$)"
    rf"|(?<=[写叫])(?P<full>{_SURNAME}(?!{_TITLE}){_GIVEN}{{1,2}})(?=就行|就好|吧|[，。,.]|$)"
    rf"|[我他她]的?(?:{_RELATION})(?P<kin>(?!{_NOT_TWICE})[\u4e00-\u9fff]{{2}})(?=用|说|的手机|的卡|的号)"
    rf"|(?:(?<=[，。！？,.!?、\s])|^)(?!{_NOT_NAME_WORDS})(?P<alone>{_SURNAME}{_GIVEN}{{1,2}})"
    r"(?=[，。！？,.!?、\s]|$)"  # a name that is a clause of its own: 喂，你好，周建国，我…
)


def redact_for_marketing(text: str) -> tuple[str, list[PiiSpan]]:
    """`redact`, then places finer than a district and words that look like a name, however
    they are said (`_LOOSE_PLACE`, `_LOOSE_NAME`), and each such name again where the text
    repeats it: for one call's own words on their way to marketing."""
    spans = find_pii(text)
    for m in _LOOSE_PLACE.finditer(text):
        if not _NOT_PLACE.search(m.group()):
            spans.append(PiiSpan("address", m.start(), m.end()))
    names = set()
    for m in _LOOSE_NAME.finditer(text):
        group = next(g for g in ("nick", "full", "kin", "alone") if m.group(g))
        names.add(m.group(group))
    for name in names:
        spans += [PiiSpan("name", m.start(), m.end()) for m in re.finditer(re.escape(name), text)]
    spans = _resolve(spans)
    return _replaced(text, spans), spans


def redact_marked(text: str, marks: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """Redact `text` and move the (start, end) `marks` (e.g. search highlights) with it.

    A mark that touches personal data is dropped, so a highlight never points into a
    placeholder or reveals that the query matched the personal data itself.
    """
    redacted, spans = redact(text)
    if not spans:
        return text, list(marks)
    moved: list[tuple[int, int]] = []
    for start, end in marks:
        if any(start < span.end and span.start < end for span in spans):
            continue
        shift = sum(
            len(f"[{span.kind}]") - (span.end - span.start) for span in spans if span.end <= start
        )
        moved.append((start + shift, end + shift))
    return redacted, moved


def _word_offsets(text: str, words: list[Word]) -> list[tuple[int, int, dict]]:
    """Character range of each word in `text` (words concatenate to it, maybe with spaces)."""
    offsets: list[tuple[int, int, dict]] = []
    cursor = 0
    for word in words:
        token = str(word.get("word", "")).strip()
        if not token:
            continue
        at = text.find(token, cursor)
        if at < 0:
            logger.debug("word %r not found in segment text after offset %d", token, cursor)
            continue
        offsets.append((at, at + len(token), word))
        cursor = at + len(token)
    return offsets


def _timed(span: PiiSpan, offsets: list[tuple[int, int, dict]]) -> PiiSpan:
    hits = [w for start, end, w in offsets if start < span.end and end > span.start]
    starts = [float(w["start"]) for w in hits if w.get("start") is not None]
    ends = [float(w["end"]) for w in hits if w.get("end") is not None]
    if not starts or not ends:
        return span
    return replace(span, start_s=min(starts), end_s=max(ends))


def redact_segment(
    text: str, words: list[Word] | None, spans: list[PiiSpan] | None = None
) -> tuple[str, list[PiiSpan]]:
    """`redact` for one transcript segment (or its `spans` found already), with audio times
    of each span from its words."""
    spans = find_pii(text) if spans is None else spans
    redacted = _replaced(text, spans)
    if not words or not spans:
        return redacted, spans
    offsets = _word_offsets(text, words)
    return redacted, [_timed(span, offsets) for span in spans]


def redact_segments(segments: list[SegmentRow]) -> int:
    """Add `text_redacted` and `pii` (spans with times) to segment rows, each speaker's
    consecutive segments of a call read together (`find_pii_in_turns`); returns spans found."""
    found = 0
    for turns in _speaker_turns(segments):
        texts = [segment.get("text") or "" for segment in turns]
        for segment, text, spans in zip(turns, texts, find_pii_in_turns(texts), strict=True):
            redacted, spans = redact_segment(text, segment.get("words"), spans)
            segment["text_redacted"] = redacted
            segment["pii"] = [asdict(span) for span in spans] or None
            found += len(spans)
    found += _repeats(segments)  # first, so that a question may name an address read back
    found += _answers(segments)
    return found + _repeats(segments)


REPEATED_KINDS = ("name", "phone", "im_id", "id_number", "bank_card", "email", "address")
REPEATED_MIN_CHARS = 2  # a name of two characters or more
REPEATED_MIN_DIGITS = 6  # a number's part with six digits or more


def _worth_repeating(kind: str, value: str) -> bool:
    if kind == "name":
        return len(value) >= REPEATED_MIN_CHARS and not (value.isascii() and len(value) < 3)
    if kind == "email":
        return True
    digits = sum(len(_make_token(m).digits) for m in _TOKEN.finditer(value))
    return digits >= REPEATED_MIN_DIGITS


# the named parts of an address, said again alone (后李庄村三组是吧, 东兴屯): a village, street,
# estate or building name of three characters or more, then any house, building or room parts
_ADDRESS_PART = re.compile(
    r"[\u4e00-\u9fffA-Za-z0-9]{2,8}?(?:村委会|家属院|科学园|产业园|工业园|庄村|村|屯|庄|镇|乡|街道|路|街|大道"
    r"|巷|胡同|小区|花园|家园|公寓|苑|园|城|大厦|广场|宿舍|驿站|中心|大学)"
)
_ADDRESS_DETAIL_AFTER = re.compile(
    r"(?:[，, ]?(?:[0-9０-９]+|[一二三四五六七八九十百零两]{1,5}|[A-Za-z])"
    r"(?:号院|号楼|号|栋|幢|座|单元|楼|层|室|组|户|期))+"
)
_ADMIN_ONLY = re.compile(r"(?:.{1,6}?(?:省|市|州|县|区|旗|镇|乡|街道))+")


_HAN_NAME = re.compile(r"[\u4e00-\u9fff]{3}")


def _repeated_values(kind: str, value: str) -> set[str]:
    """What of a found span is redacted again where it comes back in the call: the value, and
    the parts that name a person or a place on their own (Grace of Grace Lin, 晓燕 of 彭晓燕,
    东兴屯 of 黑龙江省…勤劳镇东兴屯)."""
    values = {value} if _worth_repeating(kind, value) else set()
    if kind == "name" and value.isascii():
        values |= {word for word in value.split() if len(word) >= 3 and word[:1].isupper()}
    elif kind == "name" and len(value) == 3 and _HAN_NAME.fullmatch(value):
        values.add(value[1:])
    elif kind == "address":
        values = {value} if len(value) >= 4 else set()
        parts = [m.group() for m in _ADDRESS_PART.finditer(value)]
        values |= {p for p in parts if len(p) >= 3 and not _ADMIN_ONLY.fullmatch(p)}
    return values


def _repeats(segments: list[SegmentRow]) -> int:
    """Personal data found once in a call, redacted wherever the same words come again in that
    call (马丽的马; a number repeated without its cue; an address's village or estate read back
    with its house parts): adds to `pii` and `text_redacted`."""
    said: dict[object, set[tuple[str, str]]] = {}
    for segment in segments:
        text = segment.get("text") or ""
        for span in segment.get("pii") or []:
            if span["kind"] in REPEATED_KINDS:
                value = text[span["start"] : span["end"]].strip()
                known = said.setdefault(segment.get("call_id"), set())
                known |= {(span["kind"], v) for v in _repeated_values(span["kind"], value)}
    added = 0
    for segment in segments:
        text, known = segment.get("text") or "", said.get(segment.get("call_id"))
        if not known or not text:
            continue
        more = []
        for kind, value in known:
            for m in re.finditer(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", text):
                end = m.end()
                if kind == "address" and (detail := _ADDRESS_DETAIL_AFTER.match(text, end)):
                    end = detail.end()
                more.append(PiiSpan(kind, m.start(), end))
        added += _add_spans(segment, more)
    return added


def _stored_spans(segment: SegmentRow) -> list[PiiSpan]:
    return [PiiSpan(p["kind"], p["start"], p["end"]) for p in segment.get("pii") or []]


def _add_spans(segment: SegmentRow, more: list[PiiSpan]) -> int:
    """Merge `more` into a redacted segment's spans; rewrites `pii` and `text_redacted`."""
    spans = _stored_spans(segment)
    merged = _resolve(spans + more)
    if merged == _resolve(spans):
        return 0
    redacted, timed = redact_segment(segment.get("text") or "", segment.get("words"), merged)
    segment["text_redacted"] = redacted
    segment["pii"] = [asdict(span) for span in timed]
    return max(0, len(merged) - len(spans))


# --- answers to a question for a name or an address -------------------------------------------

_NAME_QUESTION = re.compile(
    r"怎么称呼|贵姓|叫什么名字|什么名字|名字是[？?]|全名是|姓名|写谁|填谁|机主是谁|联系人是谁|收件人是谁"
    r"|(?:收件人|联系人|机主|户主|代签人)呢|中文名|英文名|全名|(?:机主|户主)是(?:您|你)?本人"
    r"|找哪位|哪位|名字(?:报|说|讲)一下|姓名(?:报|说|讲)一下"
    r"|\b(?:your (?:full |first |last |sur)?name|name,? please|who should (?:we|I) put|under (?:what|which) name"
    r"|spell (?:your|the|that)|your surname"
    r"|holder's name|who am I speaking|who(?:'s| is) (?:the )?(?:recipient|contact))",
    re.IGNORECASE,
)
# words that ask for the address itself, not only where (the building, the door, the number)
_ASKS_FOR_ADDRESS = (
    r"几(?:号楼|栋|幢|单元|楼|层|室|号院|组)|门牌|哪一?(?:座|栋|幢|期|号楼)|多少号"
    r"|\b(?:your address|the address|which (?:floor|building|unit|flat))"
)
_ADDRESS_QUESTION = re.compile(
    r"地址(?:是|在)?(?:哪里|哪儿|什么|多少)|地址(?:说|讲|报|发)一下|(?:说|讲|报|告诉我)一下.{0,4}地址"
    r"|地址是?[？?]|地址呢|(?:住|在|到|去|寄|送|装)(?:在)?哪(?:里|儿|边)|哪个(?:城市|市|县|小区|村|镇|乡|路|街道|区|单元|门)"
    rf"|{_ASKS_FOR_ADDRESS}"
    r"|\b(?:which (?:city|district)|is (?:that|it) in|where (?:do you live|"
    r"should (?:we|I) (?:send|deliver)|are you located))",
    re.IGNORECASE,
)
# asked for the address itself (not only where): a city or district alone answers it too
_ADDRESS_ASKED = re.compile(rf"地址|{_ASKS_FOR_ADDRESS}", re.IGNORECASE)
_ADMIN_ANSWER = re.compile(
    rf"(?:{_BIG_CITY}|[\u4e00-\u9fff]{{2,10}}?(?:自治区|省|市|州|盟|县|区|旗)|[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*"
    r"(?:\s+(?:District|City|Province|County))?|[，, ]|那个)+"
)
_SURNAME_ASKED = re.compile(r"贵姓|姓什么|哪个姓|surname", re.IGNORECASE)
_SURNAME_ALONE = re.compile(
    rf"(?:嗯|呃|免贵|我|姓|[，, ])*(?P<s>{_SURNAME_ANY})(?=[，。！？,.!?、\s]|$)"
)
ANSWER_WINDOW = 4  # segments after the question in which the other speaker's turns answer it
_ANSWER_FILLER = re.compile(
    r"(?:嗯|呃|啊|哦|噢|诶|哎|对|好|是|就是|那个|这个|就|在|是在|我家|我家在|我在|我住在?|地址是?|写我|写|填"
    r"|叫|我叫|我是|姓|我姓|免贵姓?|全名|名字是?|本人|的话|呀|吧|[，,、 ]"
    r"|(?:yes|yeah|sure|ok|okay|it's|it is|this is|my name is|i'm|put|just put|under|in|at)\b[,\s]*)*",
    re.IGNORECASE,
)
_PLACE_PIECE = (
    rf"(?:{_BIG_CITY}"
    r"|[\u4e00-\u9fff]{2,10}?(?:自治区|省|市|州|盟|县|区|旗|镇|乡|街道|村委会|村|屯|庄|社|队|路|街|大道|巷"
    r"|弄|胡同|小区|花园|家园|公寓|苑|园|城|大厦|广场|宿舍|家属院|院|驿站)"
    r"|(?:[0-9０-９]{1,5}|[一二三四五六七八九十百零两]{1,5}|[A-Za-z])"
    r"(?:号院|号楼|号|栋|幢|座|单元|楼|层|室|户|期|组|弄|区))"
)
_PLACE_ANSWER = re.compile(
    rf"{_PLACE_PIECE}(?:(?:那个|[，, ])?{_PLACE_PIECE})*(?:[0-9]{{2,5}}|[零一二三四五六七八九]{{3,4}})?"
    r"(?:[东西南北][边户]|左手|右手|对面那栋|那栋|边上|旁边|附近)?"
)
_EN_PLACE_ANSWER = re.compile(
    r"[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2}(?:\s+(?:District|City|Province|County|Town|New Area))?"
)
_EN_NOT_PLACES = _EN_NOT_NAMES - _EN_PLACES
_EN_ANSWER = re.compile(rf"{_CAP}(?:\s+{_CAP}){{0,2}}")
_ZH_ANSWER = re.compile(
    r"(?!(.)\1)"  # 谢谢 is thanks, not a surname said twice
    rf"(?:阿[\u4e00-\u9fff]|{_SURNAMES_2}{_GIVEN}{{1,2}}|[{_SURNAMES_1}{_SURNAMES_MORE}]{_GIVEN}{{1,2}}|[小老阿]{_SURNAME_ANY}"
    rf"|{_SPELLED_SURNAME})"
)
_ROOM_ALONE = re.compile(r"[0-9]{3,4}|[零〇幺一二三四五六七八九]{3,4}")
_CLAUSE = re.compile(r"[^，。！？,.!?；;、]+")
_TITLED_ANSWER = re.compile(rf"(?P<who>[小老大阿]?{_SURNAME_ANY})(?:{_TITLE})")


def _answers(segments: list[SegmentRow]) -> int:
    """The other speaker's reply to a question for a name or an address (请问怎么称呼？ /
    彭晓燕。, 地址说一下。 / 云南省大理州 … 五组。, Could I have your name? / Tom Baxter.):
    each clause of the reply that is nothing but a name, or nothing but places and house
    parts, is redacted, however short."""
    added = 0
    by_call: dict[object, list[SegmentRow]] = {}
    for segment in segments:
        by_call.setdefault(segment.get("call_id"), []).append(segment)
    for call in by_call.values():
        call.sort(key=lambda s: (s.get("start_s") or 0.0, s.get("idx") or 0))
        for i, question in enumerate(call):
            text = question.get("text") or ""
            kinds = [
                k
                for k, q in (("name", _NAME_QUESTION), ("address", _ADDRESS_QUESTION))
                if q.search(text)
            ]
            if "address" in kinds and not _ADDRESS_ASKED.search(text):
                about = any(p["kind"] == "address" for p in question.get("pii") or [])
                kinds[kinds.index("address")] = "address" if about else "place"
            if "name" in kinds and _SURNAME_ASKED.search(text):
                kinds[kinds.index("name")] = "surname"
            replies = [
                reply
                for reply in call[i + 1 : i + 1 + ANSWER_WINDOW]
                if reply.get("speaker") != question.get("speaker")
            ]
            if _ORDER_QUESTION.search(text):
                for reply in replies:
                    _keep_order_number(reply)
            for kind in kinds:
                for reply in replies:
                    added += _add_spans(reply, _answer_spans(reply.get("text") or "", kind))
    return added


_ORDER_QUESTION = re.compile(
    r"订单号|订单编号|单号|工单号|运单号|快递单号|流水号|order number|tracking number|reference number",
    re.IGNORECASE,
)
_NUMBER_ONLY = re.compile(r"[\s，。,.!?！？：:]*(?:是|就是)?[\s，。,.!?！？：:]*")


def _keep_order_number(reply: SegmentRow) -> None:
    """A reply to 麻烦提供一下订单号 that is nothing but a number that is not a mobile number is
    the order number asked for (七七三零四四一二), not a phone number: its span is dropped."""
    text = reply.get("text") or ""
    spans = _stored_spans(reply)
    if len(spans) != 1 or spans[0].kind != "phone":
        return
    rest = text[: spans[0].start] + text[spans[0].end :]
    digits = "".join(
        _make_token(m).digits for m in _TOKEN.finditer(text[spans[0].start : spans[0].end])
    )
    if _NUMBER_ONLY.fullmatch(rest) and not _MOBILE.fullmatch(digits):
        reply["text_redacted"] = text
        reply["pii"] = None


def _answer_spans(text: str, kind: str) -> list[PiiSpan]:
    """The clauses of a reply that answer with a name or an address, from its first clause on;
    the first clause that is something else ends the answer. Asked where (`place`) rather than
    for the address, a city or district on its own is kept (石家庄, 谢谢)."""
    if kind == "surname":  # 您贵姓？ 陈，耳东陈。
        return _answer_spans(text, "name") or [
            PiiSpan("name", m.start("s"), m.end("s")) for m in [_SURNAME_ALONE.match(text)] if m
        ]
    if kind == "place":
        spans = _answer_spans(text, "address")
        if all(_ADMIN_ANSWER.fullmatch(text, s.start, s.end) for s in spans):
            return []
        return spans
    spans = []
    for clause in _CLAUSE.finditer(text):
        at = _ANSWER_FILLER.match(text, clause.start(), clause.end()).end()
        end = clause.end()
        while end > at and text[end - 1] in " 吧呀啊嘛就行好了的":
            end -= 1
        if at >= end:
            continue  # a filler on its own (嗯，): the answer may follow
        if kind == "name" and (titled := _TITLED_ANSWER.fullmatch(text, at, end)):
            end = titled.end("who")  # 邝护士: the surname, not the title
        body = text[at:end]
        if kind == "name":
            ok = (_EN_ANSWER if body.isascii() else _ZH_ANSWER).fullmatch(body)
            if ok and body.isascii() and any(w in _EN_NOT_NAMES for w in body.split()):
                ok = None
        elif body.isascii():
            ok = _EN_PLACE_ANSWER.fullmatch(body)
            if ok and any(w in _EN_NOT_PLACES for w in body.split()):
                ok = None
        else:
            ok = _PLACE_ANSWER.fullmatch(body) or (spans and _ROOM_ALONE.fullmatch(body))
        if not ok:
            break
        spans.append(PiiSpan(kind, at, end))
    return spans


def _speaker_turns(segments: list[SegmentRow]) -> list[list[SegmentRow]]:
    """Each call's segments by speaker, in time order."""
    turns: dict[tuple, list[SegmentRow]] = {}
    for segment in segments:
        turns.setdefault((segment.get("call_id"), segment.get("speaker")), []).append(segment)
    for run in turns.values():
        run.sort(key=lambda s: (s.get("start_s") or 0.0, s.get("idx") or 0))
    return list(turns.values())
