"""Call scripts with known ground truth: topics, daily plans with planted spikes, dialogue text.

Pure and fast (random / numpy only, no text-to-speech): 50,000 text-only calls take a few
seconds. `plan_days` draws each day's calls per topic (Poisson, day-of-week effects), adds the
launch-day spike on the last day and any other planted spikes, and writes every call's
dialogue from slot-filled templates: agent greeting, the customer's issue, sometimes a
verification exchange with personal data read out digit by digit, the agent's resolution
and a closing. Everything is a function of the seed.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from callscope.synth import phrases as P

ROLES = ("agent", "customer", "ivr")
VOICES = ("Siyue", "Aida")  # female, male: the two clearly distinct ttskit voices
IVR_VOICE = "Siyue"  # the recorded menu prompt is the same voice in every call
TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
HAN_PER_S = 4.5
EN_WORDS_PER_S = 2.6
LAUNCH_EXTRAS = {"delivery_lookup": 0.3, "hotline_unreachable": 0.2}
FORMATS = {"wav_pcm16": 0.5, "wav_ulaw": 0.3, "flac": 0.2}
MONO_SHARE = 0.3
IVR_SHARE = 0.3
HOLD_SHARE = 0.2
MIDDLE = {"probe": 0.5, "verify": 0.38, "both": 0.12}  # agent question, verification, or both
OUTBOUND_SHARE = 0.05
VIP_SHARE = 0.12

_HAN = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[A-Za-z0-9']+")
_LATIN = re.compile(r"[A-Za-z0-9]")
_ZH_DIGIT_RUN = re.compile(r"[零一二三四五六七八九幺洞](?:[，、 ]?[零一二三四五六七八九幺洞]){5,}")
_ZH_TO_ARABIC = str.maketrans("零一二三四五六七八九幺洞", "012345678910")


@dataclass(frozen=True)
class Topic:
    name: str
    queue: str
    category: str | None  # the rule category (configs/categories.yaml) it should trigger
    weight: float  # share of normal traffic
    weekday: tuple[float, ...]  # Monday..Sunday multipliers
    address_share: float = 0.0  # how often verification asks for an address


TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        Topic(
            "preorder_failure", "preorder", "preorder_failure", 0.03, (1, 1, 1, 1, 1.2, 1.3, 1.1)
        ),
        Topic(
            "delivery_lookup", "preorder", "delivery_lookup", 0.05, (1.2, 1, 1, 1, 1, 0.9, 0.8), 0.3
        ),
        Topic(
            "hotline_unreachable", "general", "hotline_unreachable", 0.04, (1.1, 1, 1, 1, 1, 1, 1)
        ),
        Topic(
            "billing_dispute", "billing", "billing_dispute", 0.16, (1.3, 1.1, 1, 1, 0.9, 0.8, 0.8)
        ),
        Topic("plan_change", "general", "plan_change", 0.13, (1.1, 1, 1, 1, 1, 0.9, 0.9)),
        Topic(
            "broadband_fault",
            "broadband",
            "broadband_fault",
            0.13,
            (0.9, 0.9, 0.9, 1, 1, 1.3, 1.3),
            0.4,
        ),
        Topic("signal_data", "mobile", "signal_data", 0.13, (1, 1, 1, 1, 1.1, 1, 1)),
        Topic("balance_recharge", "billing", None, 0.12, (1.2, 1, 1, 1, 1, 1, 0.9)),
        Topic("roaming", "international", None, 0.05, (1, 1, 1, 1, 1.2, 0.9, 0.9)),
        Topic("cancel_account", "general", "cancel_threat", 0.06, (1.1, 1, 1, 1, 1, 0.9, 0.9), 0.2),
    )
}
DAY_VOLUME = (1.1, 1.0, 1.0, 1.0, 1.0, 0.8, 0.75)  # calls on Monday..Sunday vs the average
QUEUES = sorted({t.queue for t in TOPICS.values()})
AGENTS: dict[str, tuple[str, ...]] = {
    q: tuple(f"A{100 + 10 * i + k}" for k in range(1, 4)) for i, q in enumerate(QUEUES)
}


@dataclass(frozen=True)
class Turn:
    role: str  # agent | customer | ivr
    text: str


@dataclass
class CallScript:
    call_id: str
    date: dt.date
    topic: str
    language: str  # zh | en
    queue: str
    agent_id: str
    direction: str  # inbound | outbound
    started_at: dt.datetime
    customer_tier: str  # standard | vip
    channel_layout: str  # agent_left | mono
    turns: list[Turn]
    pii: list[str]  # personal data exactly as it is said in the turns
    is_planted: bool
    category: str | None = None
    pii_items: list[dict] = field(default_factory=list)  # kind, text, value
    agent_voice: str = VOICES[0]
    customer_voice: str = VOICES[1]
    file_format: str = "wav_pcm16"  # wav_pcm16 | wav_ulaw | flac
    hold_s: float = 0.0  # hold music after the IVR prompt, before the agent answers
    turn_times: list[tuple[float, float]] | None = None  # measured once the audio is mixed

    @property
    def voices(self) -> dict[str, str]:
        return {"agent": self.agent_voice, "ivr": IVR_VOICE, "customer": self.customer_voice}

    def estimate_times(self) -> list[tuple[float, float]]:
        """Plausible turn times from text length (~4.5 Han characters a second, 0.3-1 s gaps)."""
        rng = random.Random(zlib.crc32(self.call_id.encode())).random
        clock = 0.2 + 0.4 * rng()
        times = []
        for turn in self.turns:
            end = clock + speech_seconds(turn.text)
            times.append((round(clock, 2), round(end, 2)))
            clock = end + 0.3 + 0.7 * rng() + (self.hold_s if turn.role == "ivr" else 0.0)
        return times

    def segments(self, asr_style: bool = False) -> list[dict]:
        """The call as the warehouse stores it after transcription: one segment per turn.

        `asr_style` writes digits read out one by one as Arabic numerals, as Whisper does."""
        times = self.turn_times or self.estimate_times()
        return [
            {
                "idx": i,
                "speaker": turn.role,
                "start_s": start,
                "end_s": end,
                "text": as_transcribed(turn.text) if asr_style else turn.text,
            }
            for i, (turn, (start, end)) in enumerate(zip(self.turns, times, strict=True))
        ]

    def manifest_row(self) -> dict[str, str]:
        return {
            "call_id": self.call_id,
            "started_at": self.started_at.isoformat(),
            "agent_id": self.agent_id,
            "queue": self.queue,
            "direction": self.direction,
            "customer_tier": self.customer_tier,
            "channel_layout": self.channel_layout,
        }

    def truth(self) -> dict:
        return {
            "call_id": self.call_id,
            "topic": self.topic,
            "category": self.category,
            "language": self.language,
            "is_planted": self.is_planted,
            "queue": self.queue,
            "agent_id": self.agent_id,
            "agent_voice": self.agent_voice,
            "customer_voice": self.customer_voice,
            "channel_layout": self.channel_layout,
            "pii": list(self.pii),
            "pii_items": list(self.pii_items),
            "turns": [
                {
                    "role": s["speaker"],
                    "text": s["text"],
                    "start_s": s["start_s"],
                    "end_s": s["end_s"],
                }
                for s in self.segments()
            ],
        }


@dataclass
class DayPlan:
    date: dt.date
    calls: list[CallScript]
    planted: dict[str, int]  # topic -> planted extra calls

    @property
    def topics(self) -> dict[str, int]:
        return dict(Counter(call.topic for call in self.calls).most_common())


def agent_voice_of(agent_id: str) -> str:
    """Each agent always has the same voice; two agents of three in a queue are female."""
    return VOICES[1] if agent_id.endswith("3") else VOICES[0]


def speech_seconds(text: str) -> float:
    """About how long the text takes to say (Han characters and Latin words)."""
    if text.isascii():
        return 0.3 + len(_WORD.findall(text)) / EN_WORDS_PER_S
    seconds = 0.25 + len(_HAN.findall(text)) / HAN_PER_S
    if _LATIN.search(text):
        seconds += len(_WORD.findall(text)) / EN_WORDS_PER_S
    return seconds


def as_transcribed(text: str) -> str:
    """Digits read one by one (幺三八，幺二三四…) as Whisper writes them: 138,1234…"""
    return _ZH_DIGIT_RUN.sub(lambda m: m.group().translate(_ZH_TO_ARABIC).replace("，", ","), text)


# --- the plan ------------------------------------------------------------------------------


def plan_days(
    start: dt.date,
    days: int,
    seed: int,
    calls_per_day: int,
    launch_calls: int,
    *,
    spikes: dict[dt.date, dict[str, int]] | None = None,
    english_share: float = 0.1,
    launch_extras: dict[str, float] | None = None,
    weights: dict[str, float] | None = None,
) -> list[DayPlan]:
    """Days of calls from `start`: normal traffic drawn per topic, the last day the launch day
    (`launch_calls` pre-order failures plus a few delivery look-ups and unreachable hotlines),
    and any `spikes` {date: {topic: extra calls}} planted on top. Deterministic for a seed.

    `calls_per_day` is the mean on Tuesday to Friday (Mondays 10 % more, weekends 20-25 %
    less); counts are Poisson. `weights` overrides topics' shares of normal traffic;
    `launch_extras` {topic: share of launch_calls} replaces LAUNCH_EXTRAS. Normal calls do
    not change when spikes are added, so a plan with and without a spike can be compared."""
    _check_plan_args(days, calls_per_day, launch_calls, spikes, english_share, weights)
    spikes = spikes or {}
    last = start + dt.timedelta(days=days - 1)
    outside = sorted(day for day in spikes if not start <= day <= last)
    if outside:
        raise ValueError(f"spike on {outside[0]} is outside the planned days {start} to {last}")
    shares = _shares(weights)
    plans = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        planted = Counter(spikes.get(day, {}))
        if offset == days - 1 and launch_calls > 0:
            planted.update(_launch_spike(launch_calls, launch_extras))
        plans.append(_plan_day(day, seed, calls_per_day, shares, dict(planted), english_share))
    return plans


def _check_plan_args(days, calls_per_day, launch_calls, spikes, english_share, weights) -> None:
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    if calls_per_day < 0 or launch_calls < 0:
        raise ValueError("calls_per_day and launch_calls must not be negative")
    if not 0.0 <= english_share <= 1.0:
        raise ValueError(f"english_share must be between 0 and 1, not {english_share}")
    unknown = {t for extra in (spikes or {}).values() for t in extra} | set(weights or {})
    unknown -= set(TOPICS)
    if unknown:
        raise ValueError(f"unknown topics {sorted(unknown)}; known: {', '.join(TOPICS)}")
    if any(n < 0 for extra in (spikes or {}).values() for n in extra.values()):
        raise ValueError("planted spike counts must not be negative")


def _shares(weights: dict[str, float] | None) -> dict[str, float]:
    raw = {name: (weights or {}).get(name, topic.weight) for name, topic in TOPICS.items()}
    total = sum(raw.values())
    return {name: w / total for name, w in raw.items()}


def _launch_spike(launch_calls: int, extras: dict[str, float] | None) -> dict[str, int]:
    spike = {"preorder_failure": launch_calls}
    for topic, share in (LAUNCH_EXTRAS if extras is None else extras).items():
        spike[topic] = spike.get(topic, 0) + max(1, round(share * launch_calls))
    return spike


def _plan_day(day, seed, calls_per_day, shares, planted, english_share) -> DayPlan:
    rng = np.random.default_rng([seed, day.toordinal()])
    weekday = day.weekday()
    mean = {
        name: calls_per_day * DAY_VOLUME[weekday] * share * TOPICS[name].weekday[weekday]
        for name, share in shares.items()
    }
    norm = calls_per_day * DAY_VOLUME[weekday] / max(sum(mean.values()), 1e-9)
    counts = {name: int(rng.poisson(m * norm)) for name, m in mean.items()}
    drafts = []
    for topic, count in counts.items():
        drafts += [_draft(seed, day, topic, k, False, english_share) for k in range(count)]
    for topic, count in planted.items():
        drafts += [_draft(seed, day, topic, k, True, english_share) for k in range(count)]
    drafts.sort(key=lambda d: (d[0], d[1].topic, d[1].is_planted))
    calls = []
    for n, (started_at, call) in enumerate(drafts, start=1):
        call.call_id = f"{day:%Y%m%d}-{n:05d}"
        call.started_at = started_at
        calls.append(call)
    return DayPlan(day, calls, {t: c for t, c in planted.items() if c})


def _draft(seed, day, topic, k, planted, english_share) -> tuple[dt.datetime, CallScript]:
    rng = random.Random(f"{seed}/{day.isoformat()}/{topic}/{'p' if planted else 'n'}{k}")
    started_at = _start_time(rng, day, planted)
    return started_at, write_call(rng, day, topic, planted, english_share, started_at)


def _start_time(rng: random.Random, day: dt.date, planted: bool) -> dt.datetime:
    if planted:  # the sale opens at 10:00; complaints arrive over the rest of the day
        seconds = 10 * 3600 + min(rng.expovariate(1 / 9000), 11 * 3600)
    else:
        hour = rng.choices(P.HOURS, weights=P.HOUR_WEIGHTS)[0]
        seconds = hour * 3600 + rng.uniform(0, 3600)
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=TZ)
    return midnight + dt.timedelta(seconds=int(seconds))


# --- one call ------------------------------------------------------------------------------


def write_call(
    rng: random.Random,
    day: dt.date,
    topic: str,
    planted: bool = False,
    english_share: float = 0.1,
    started_at: dt.datetime | None = None,
) -> CallScript:
    """One call's dialogue and metadata (call_id is filled in by the day plan)."""
    spec = TOPICS[topic]
    language = "en" if rng.random() < english_share else "zh"
    lines = P.LINES[language]
    fill = P.Slots(rng, language)
    agent_id = rng.choice(AGENTS[spec.queue])
    agent_voice = agent_voice_of(agent_id)
    direction = "outbound" if rng.random() < OUTBOUND_SHARE else "inbound"
    turns: list[Turn] = []
    pii: list[dict] = []
    hold_s = 0.0
    if direction == "inbound" and rng.random() < IVR_SHARE:
        turns.append(Turn("ivr", rng.choice(lines.ivr)))
        hold_s = round(rng.uniform(2.0, 5.0), 1) if rng.random() < HOLD_SHARE / IVR_SHARE else 0.0
    greetings = lines.callback if direction == "outbound" else lines.greetings
    turns.append(Turn("agent", rng.choice(greetings).format_map(fill)))
    turns.append(Turn("customer", _issue(rng, lines, topic, fill, planted)))
    middle = rng.choices(list(MIDDLE), weights=list(MIDDLE.values()))[0]
    probe, verify = middle in ("probe", "both"), middle in ("verify", "both")
    if probe:
        question, answers = rng.choice(lines.probes[topic])
        turns.append(Turn("agent", question))
        turns.append(Turn("customer", _follow_up(rng, lines, topic, answers, fill)))
    if verify:
        turns += _verification(rng, lines, spec, pii)
    turns.append(Turn("agent", rng.choice(lines.resolutions[topic]).format_map(fill)))
    if rng.random() < 0.65:
        turns.append(Turn("customer", rng.choice(lines.thanks)))
        if middle != "both" and rng.random() < 0.5:
            turns.append(Turn("agent", rng.choice(lines.goodbyes)))
    return CallScript(
        call_id="",
        date=day,
        topic=topic,
        language=language,
        queue=spec.queue,
        agent_id=agent_id,
        direction=direction,
        started_at=started_at or dt.datetime.combine(day, dt.time(9), tzinfo=TZ),
        customer_tier="vip" if rng.random() < VIP_SHARE else "standard",
        channel_layout="mono" if rng.random() < MONO_SHARE else "agent_left",
        turns=turns,
        pii=[item["text"] for item in pii],
        is_planted=planted,
        category=spec.category,
        pii_items=pii,
        agent_voice=agent_voice,
        customer_voice=VOICES[1 - VOICES.index(agent_voice)],
        file_format=rng.choices(list(FORMATS), weights=list(FORMATS.values()))[0],
        hold_s=hold_s,
    )


def _issue(rng: random.Random, lines: P.Lines, topic: str, fill: P.Slots, planted: bool) -> str:
    text = P.render(rng.choice(lines.issues[topic]), fill)
    hello = rng.choice(lines.hellos) if rng.random() < 0.25 else ""
    opener = rng.choice(lines.openers) if rng.random() < 0.2 else ""
    context = rng.choice(lines.contexts).format_map(fill) if rng.random() < 0.1 else ""
    tail = ""
    roll, angry = rng.random(), (0.25 if planted else 0.12)
    if roll < angry / 4:
        tail = rng.choice(lines.escalations)
    elif roll < angry:
        tail = rng.choice(lines.tails)
    elif roll < angry + 0.08:
        tail = rng.choice(lines.closers)
    return _join(lines.language, hello, opener, context, text, tail)


def _follow_up(
    rng: random.Random, lines: P.Lines, topic: str, answers: tuple[str, ...], fill: P.Slots
) -> str:
    pool = answers if rng.random() < 0.65 else lines.follow_ups[topic]
    text = rng.choice(pool).format_map(fill)
    if rng.random() < 0.12:
        text = _join(lines.language, text, rng.choice(lines.repeats))
    return text


def _verification(rng: random.Random, lines: P.Lines, spec: Topic, pii: list[dict]) -> list[Turn]:
    """Agent asks who is calling; the customer reads the number (and an ID or an address)."""
    digits = P.phone_number(rng)
    phone = P.spoken_digits(digits, lines.language, rng, groups=(3, 4, 4))
    pii.append({"kind": "phone", "text": phone, "value": digits})
    roll = rng.random()
    if roll < spec.address_share:
        address, value = P.address(rng, lines.language)
        pii.append({"kind": "address", "text": address, "value": value})
        ask, answer = rng.choice(lines.ask_phone_address), rng.choice(lines.give_phone_address)
        return [Turn("agent", ask), Turn("customer", answer.format(phone=phone, address=address))]
    if roll > 0.9:
        id_digits = P.id_number(rng)
        spoken = P.spoken_digits(id_digits, lines.language, rng, groups=(6, 8, 4))
        pii.append({"kind": "id_number", "text": spoken, "value": id_digits})
        ask, answer = rng.choice(lines.ask_phone_id), rng.choice(lines.give_phone_id)
        return [Turn("agent", ask), Turn("customer", answer.format(phone=phone, id=spoken))]
    ask, answer = rng.choice(lines.ask_phone), rng.choice(lines.give_phone)
    return [Turn("agent", ask), Turn("customer", answer.format(phone=phone))]


def _join(language: str, *parts: str) -> str:
    parts = tuple(p for p in parts if p)
    if language != "en":
        return "".join(parts)
    out = parts[0] if parts else ""
    for part in parts[1:]:
        if out.endswith(",") and not part.startswith(("I ", "I'")):
            part = part[0].lower() + part[1:]
        out = f"{out} {part}"
    return out
