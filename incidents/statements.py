"""The customer's reason for calling, in their own words, with personal data removed.

An issue statement is built from the customer's first substantive turns: greetings, fillers
(喂, 你好, 嗯), yes / no answers and identity verification (a phone number read out, 我叫…)
are skipped, clause by clause, and the rest is collected until the statement is long enough.
Calls whose speakers are unknown (no roles) fall back to every non-IVR turn that does not
sound like the agent. The text always comes from the redacted transcript and is redacted again,
so a statement never carries a phone, ID or card number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from callscope.core.config import IncidentSettings
from callscope.core.text import HAN, fold
from callscope.privacy.redact import redact

_CLAUSE = re.compile(r"[^，,。.！!？?；;、…\n]+[，,。.！!？?；;、…]*")
_HAN_CHARS = re.compile(f"[{HAN}]")
_EN_WORDS = re.compile(r"[A-Za-z']+")
_PLACEHOLDER = re.compile(r"\[(?:phone|id_number|bank_card|email|address)\]")
# whole clauses that carry no reason for calling
_FILLER = re.compile(
    r"^(?:喂+|哎+|诶+|唉+|嗯+|啊+|哦+|噢+|呃+|额+|那个|就是|是这样的?|这样的|是的|是|对+|对的|对对|好+|好的|"
    r"行|可以|没有|没了|不是|谢谢(?:你|您)?|你好|您好|喂你好|喂您好|哈喽|在吗|请问|麻烦你?|麻烦您|"
    r"hello|hi|hey|yes|yeah|yep|no|nope|ok|okay|right|sure|thanks|thank you|um+|uh+|well|so)"
    r"[啊呀吧呢哈嘛哦的了]*$",
    re.IGNORECASE,
)
_GREETING_PREFIX = re.compile(r"^(?:喂+|哎|诶|嗯+|啊+|你好|您好|hello|hi)[，,\s]*", re.IGNORECASE)
# verification: who the caller is, not why they call
_VERIFICATION = re.compile(
    r"(?:我(?:的)?(?:手机)?号码?是|手机号(?:码)?是|我叫|我姓|名字是|身份证(?:号)?(?:码)?是|尾号|"
    r"验证码|机主是|my (?:phone )?number is|my name is|this is \w+ speaking)",
    re.IGNORECASE,
)
_AGENT_SOUNDING = ("很高兴为您服务", "有什么可以帮", "工号", "号客服", "感谢您的来电", "请您稍等")
_AGENT_SOUNDING_EN = ("how can i help", "how may i help", "thank you for calling")

_CONFIG = IncidentSettings()  # the defaults of incidents.* (core/config.py)


@dataclass(frozen=True)
class StatementSettings:
    min_chars: int = _CONFIG.statement_min_chars  # Han characters (an English word: two)
    max_chars: int = _CONFIG.statement_max_chars
    max_turns: int = 3


@dataclass
class Statement:
    text: str
    start_s: float | None = None
    end_s: float | None = None
    segments: list[int] = field(default_factory=list)
    source: str = "customer"  # customer | unknown | none

    @property
    def empty(self) -> bool:
        return not self.text


def weight(text: str) -> int:
    """Length in Han characters, an English word counting as two."""
    return len(_HAN_CHARS.findall(text)) + 2 * len(_EN_WORDS.findall(text))


def substantive(clause: str) -> str:
    """The clause without a leading greeting, or "" when nothing of substance is left."""
    stripped = _GREETING_PREFIX.sub("", clause.strip())
    core = re.sub(r"[，,。.！!？?；;、…\s]+$", "", stripped)
    if not core or _FILLER.match(core) or _VERIFICATION.search(core):
        return ""
    without_pii = _PLACEHOLDER.sub("", core)
    if weight(without_pii) < 4:
        return ""
    return stripped


def _sounds_like_agent(text: str) -> bool:
    folded = fold(text)
    return any(p in folded for p in _AGENT_SOUNDING) or any(p in folded for p in _AGENT_SOUNDING_EN)


def _candidates(segments: list[dict]) -> tuple[list[dict], str]:
    ordered = sorted(segments, key=lambda s: (s.get("start_s") or 0.0, s.get("idx") or 0))
    customer = [s for s in ordered if s.get("speaker") == "customer"]
    if customer:
        return customer, "customer"
    others = [
        s
        for s in ordered
        if s.get("speaker") not in ("agent", "ivr") and not _sounds_like_agent(_text(s))
    ]
    return others, "unknown"


def _text(segment: dict) -> str:
    redacted = segment.get("text_redacted")
    return redacted if redacted is not None else (segment.get("text") or "")


def _clauses(text: str) -> Iterable[str]:
    return (m.group() for m in _CLAUSE.finditer(text))


def issue_statement(
    segments: list[dict], settings: StatementSettings = StatementSettings()
) -> Statement:
    """The customer's reason for calling from one call's segments (dicts as stored)."""
    candidates, source = _candidates(segments)
    parts: list[str] = []
    used: list[dict] = []
    for segment in candidates:
        kept = [c for c in (substantive(c) for c in _clauses(_text(segment))) if c]
        if not kept:
            continue
        parts.append(_join(kept))
        used.append(segment)
        if weight("".join(parts)) >= settings.min_chars or len(used) >= settings.max_turns:
            break
    if not used:
        return Statement("", source="none")
    text, _ = redact(_join(parts)[: settings.max_chars])
    return Statement(
        text=text,
        start_s=used[0].get("start_s"),
        end_s=used[-1].get("end_s"),
        segments=[int(s.get("idx") or 0) for s in used],
        source=source,
    )


def _join(parts: list[str]) -> str:
    """Clauses or turns as one text: a space between English words, a comma between Chinese
    turns that end without punctuation."""
    out = ""
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if out and part[:1].isascii() and re.search(r"[A-Za-z0-9.,!?;:]$", out):
            out += " "
        elif out and not re.search(r"[，,。.！!？?；;…]$", out):
            out += "，"
        out += part
    return out
