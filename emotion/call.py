"""Per-call emotion from scored segments: pure functions, no I/O.

Definitions (calls table):
- `<role>_sentiment`: mean segment sentiment of that role, weighted by segment length
  (at least `min_weight_s`) and by position: weights ramp from 1 at the role's first turn to
  `end_weight` at its last, because how a customer leaves matters more than how they arrive.
- `<role>_sentiment_q`: the length-weighted mean in each quarter of the call (by segment
  midpoint); null for a quarter where the role did not speak.
- `customer_sentiment_start` / `_end`: mean of the customer's first / last quarter of turns
  (at least one turn each), so "left calmer" is `end > start`.
- `peak_negative_*`: the customer's most negative segment (when below zero): time, score, idx.
- `customer_emotion`: angry if any customer segment is angry, else frustrated if any is,
  else negative / neutral / positive from the overall sentiment.
- `escalation_risk`: a 0..1 score from the reasons below, flagged at `threshold`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from callscope.core.config import EmotionSettings
from callscope.storage.rows import CallRow, call_fields

NEGATIVE_BELOW = -1.0  # a sentiment under this is negative (calls and segments)
POSITIVE_ABOVE = 1.0
ESCALATION_CATEGORY, AGGRAVATING_CATEGORY = "escalation category", "repeat or rudeness"
_CONFIG = EmotionSettings()  # the defaults of emotion.* (core/config.py)


@dataclass(frozen=True)
class CallEmotionSettings:
    end_weight: float = _CONFIG.end_weight
    min_weight_s: float = 1.0
    escalation_categories: tuple[str, ...] = tuple(_CONFIG.escalation_categories)
    aggravating_categories: tuple[str, ...] = tuple(_CONFIG.aggravating_categories)
    threshold: float = _CONFIG.escalation_threshold


@dataclass
class Turn:
    """What the call summary needs of a segment (or of a dialogue turn)."""

    speaker: str
    sentiment: float
    emotion: str
    start_s: float = 0.0
    end_s: float = 0.0
    idx: int = 0
    arousal: float | None = None


@dataclass
class CallEmotion:
    customer_sentiment: float | None = None
    customer_sentiment_start: float | None = None
    customer_sentiment_end: float | None = None
    customer_sentiment_q: list[float | None] | None = None
    agent_sentiment: float | None = None
    agent_sentiment_q: list[float | None] | None = None
    customer_emotion: str | None = None
    customer_arousal: float | None = None
    peak_negative_s: float | None = None
    peak_negative_sentiment: float | None = None
    peak_negative_idx: int | None = None
    escalation_risk: bool = False
    escalation_risk_score: float = 0.0
    escalation_reasons: list[str] = field(default_factory=list)

    def as_row(self) -> CallRow:
        return call_fields(**self.__dict__)


def weighted_mean(values: Sequence[float], weights: Sequence[float]) -> float | None:
    total = sum(weights)
    if not values or total <= 0:
        return None
    return round(sum(v * w for v, w in zip(values, weights, strict=True)) / total, 3)


def role_sentiment(turns: list[Turn], settings: CallEmotionSettings) -> float | None:
    """Length- and position-weighted mean sentiment of one role's turns."""
    if not turns:
        return None
    last = max(len(turns) - 1, 1)
    weights = [
        max(turn.end_s - turn.start_s, settings.min_weight_s)
        * (1 + (settings.end_weight - 1) * position / last)
        for position, turn in enumerate(turns)
    ]
    return weighted_mean([turn.sentiment for turn in turns], weights)


def start_and_end(turns: list[Turn]) -> tuple[float | None, float | None]:
    if not turns:
        return None, None
    size = max(1, math.ceil(len(turns) / 4))
    first = [turn.sentiment for turn in turns[:size]]
    last = [turn.sentiment for turn in turns[-size:]]
    return round(sum(first) / len(first), 3), round(sum(last) / len(last), 3)


def by_quarter(turns: list[Turn], duration_s: float, settings: CallEmotionSettings):
    if not turns or duration_s <= 0:
        return None
    quarters: list[list[Turn]] = [[], [], [], []]
    for turn in turns:
        middle = (turn.start_s + turn.end_s) / 2
        quarters[min(3, max(0, int(4 * middle / duration_s)))].append(turn)
    return [
        weighted_mean(
            [turn.sentiment for turn in quarter],
            [max(turn.end_s - turn.start_s, settings.min_weight_s) for turn in quarter],
        )
        for quarter in quarters
    ]


def strongest_emotion(turns: list[Turn], overall: float | None) -> str | None:
    if not turns:
        return None
    labels = {turn.emotion for turn in turns}
    for label in ("angry", "frustrated"):
        if label in labels:
            return label
    if overall is None:
        return None
    if overall < NEGATIVE_BELOW:
        return "negative"
    return "positive" if overall > POSITIVE_ABOVE else "neutral"


def summarize_call(
    turns: list[Turn],
    duration_s: float,
    categories: Sequence[str] | None = None,
    settings: CallEmotionSettings | None = None,
) -> CallEmotion:
    settings = settings or CallEmotionSettings()
    turns = sorted(turns, key=lambda turn: (turn.start_s, turn.idx))
    customer = [turn for turn in turns if turn.speaker == "customer"]
    agent = [turn for turn in turns if turn.speaker == "agent"]
    result = CallEmotion(
        customer_sentiment=role_sentiment(customer, settings),
        customer_sentiment_q=by_quarter(customer, duration_s, settings),
        agent_sentiment=role_sentiment(agent, settings),
        agent_sentiment_q=by_quarter(agent, duration_s, settings),
    )
    result.customer_sentiment_start, result.customer_sentiment_end = start_and_end(customer)
    result.customer_emotion = strongest_emotion(customer, result.customer_sentiment)
    aroused = [turn.arousal for turn in customer if turn.arousal is not None]
    result.customer_arousal = round(sum(aroused) / len(aroused), 3) if aroused else None
    worst = min(customer, key=lambda turn: turn.sentiment, default=None)
    if worst is not None and worst.sentiment < 0:
        result.peak_negative_s = round(worst.start_s, 2)
        result.peak_negative_sentiment = worst.sentiment
        result.peak_negative_idx = worst.idx
    score, reasons = escalation(result, customer, categories or (), settings)
    result.escalation_risk_score = score
    result.escalation_reasons = reasons
    result.escalation_risk = score >= settings.threshold
    return result


def escalation(
    call: CallEmotion, customer: list[Turn], categories: Sequence[str], settings
) -> tuple[float, list[str]]:
    """Points for each sign that this customer may escalate; 0..1."""
    flagged = category_reasons(categories, settings)
    signs = [
        (0.4, ESCALATION_CATEGORY, ESCALATION_CATEGORY in flagged),
        (0.15, AGGRAVATING_CATEGORY, AGGRAVATING_CATEGORY in flagged),
        (0.25, "angry", any(turn.emotion == "angry" for turn in customer)),
        (0.1, "frustrated", any(turn.emotion == "frustrated" for turn in customer)),
        (0.2, "ends negative", (call.customer_sentiment_end or 0.0) < -1.5),
        (
            0.1,
            "ends worse",
            call.customer_sentiment_end is not None
            and call.customer_sentiment_start is not None
            and call.customer_sentiment_end < call.customer_sentiment_start - 1.0,
        ),
    ]
    reasons = [name for _, name, present in signs if present]
    return round(min(1.0, sum(points for points, _, present in signs if present)), 3), reasons


def category_reasons(categories: Sequence[str], settings) -> tuple[str, ...]:
    """The escalation reasons a call's categories give: all the summary reads of them."""
    return tuple(
        reason
        for reason, named in (
            (ESCALATION_CATEGORY, settings.escalation_categories),
            (AGGRAVATING_CATEGORY, settings.aggravating_categories),
        )
        if any(category in named for category in categories)
    )
