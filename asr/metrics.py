"""Per-call conversation metrics from speaker-attributed segments.

Input is the call's segments (``start_s``, ``end_s``, ``speaker``, ``text``, ``words``,
``language``; an optional ``overlap`` flag is accepted but not used, overlap is measured from
the timings) and the call's duration. All times are seconds from the start of the call.

Speech intervals
    A segment's speech is its words' ``[start, end]`` spans, with words less than
    ``MERGE_GAP_S`` (0.3 s) apart joined into one interval; a segment without words counts
    as speech from ``start_s`` to ``end_s``. Everything is clipped to ``[0, duration_s]``.
    The activity of a role is the union of the speech intervals of its segments
    (overlapping or touching intervals joined, no gap bridging across segments).

Roles
    ``TALK_SPEAKERS`` ("agent", "customer") are the people whose talk is measured. Any other
    speaker ("ivr", "unknown") is voice that is neither talk nor silence, and so are the
    ``non_talk_intervals`` passed in (hold music, announcements). Together with agent and
    customer speech they make the *occupied* time of the call.

Metrics (times rounded to 3 decimals; ``None`` where a value is undefined)
    ``talk_time_agent_s``, ``talk_time_customer_s``
        Length of the role's activity.
    ``silence_ratio``
        Share of ``[0, duration_s]`` that is not occupied. ``None`` when the duration is 0.
    ``non_talk_ratio``
        Share of ``[0, duration_s]`` that is neither agent nor customer talk (silence, ivr,
        unknown speaker, non-talk intervals). ``None`` when the duration is 0.
    ``overtalk_s``
        Length of the intersection of agent and customer activity.
    ``interruptions_agent``, ``interruptions_customer``
        Number of the role's activity intervals that start strictly inside an activity
        interval of the other role, where the other role had been talking for at least
        ``INTERRUPTED_MIN_BEFORE_S`` (1.0 s) of that interval before the start, went on for
        at least ``INTERRUPTED_MIN_AFTER_S`` (0.5 s) after it, and the interrupting interval
        lasts at least ``INTERRUPTION_MIN_S`` (1.0 s), so backchannels ("嗯", "ok") are not
        interruptions (they still count as overtalk).
    ``speech_rate_agent``, ``speech_rate_customer``
        Units per minute of the role's talk time: the units of the role's segments (those
        with speech inside the call) summed, divided by talk time in minutes. Units are
        counted per segment: for ``language == "zh"`` the letter and digit characters
        (Hanzi included; no punctuation, no spaces); for any other language the
        whitespace-separated tokens holding at least one letter or digit; for a segment
        without a language, characters if its text holds Hanzi, tokens otherwise.
        ``None`` when the role has no talk time.
    ``leading_silence_s``
        Time before the first occupied moment. ``None`` when nothing is occupied.
    ``longest_silence_s``
        Longest unoccupied gap between the first and the last occupied moment (leading and
        trailing silence excluded); 0.0 when the occupied time is one stretch, ``None`` when
        nothing is occupied.
    ``time_to_first_agent_s``
        Start of the agent's first speech; ``None`` if the agent never speaks.
    ``n_turns_agent``, ``n_turns_customer``
        Number of turns: maximal stretches of the role's speech not broken by the other
        role. Two consecutive activity intervals of a role belong to the same turn unless
        the other role speaks somewhere in the gap between them, however long the silence.
        Speech of the other role lying entirely inside one of the role's intervals (a
        backchannel) does not end the turn.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from callscope.storage.rows import CallRow, SegmentRow, call_fields

Interval = tuple[float, float]

MERGE_GAP_S = 0.3
TALK_SPEAKERS = ("agent", "customer")
INTERRUPTED_MIN_BEFORE_S = 1.0
INTERRUPTED_MIN_AFTER_S = 0.5
INTERRUPTION_MIN_S = 1.0

_EPS = 1e-9
_HANZI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def merge_intervals(intervals: Iterable[Interval], gap: float = 0.0) -> list[Interval]:
    """Sorted union of intervals; intervals less than ``gap`` apart are joined as well.

    Reversed intervals are ignored and empty results are dropped.
    """
    merged: list[list[float]] = []
    for start, end in sorted((float(s), float(e)) for s, e in intervals if e >= s):
        if merged and (start <= merged[-1][1] or start - merged[-1][1] < gap - _EPS):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged if end > start]


def total_length(intervals: Iterable[Interval]) -> float:
    """Length covered by the intervals (overlaps counted once)."""
    return sum(end - start for start, end in merge_intervals(intervals))


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """Intersection of the union of ``a`` with the union of ``b``."""
    left, right = merge_intervals(a), merge_intervals(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if end > start:
            out.append((start, end))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """The union of ``a`` less the union of ``b``."""
    cuts = merge_intervals(b)
    out: list[Interval] = []
    for start, end in merge_intervals(a):
        cursor = start
        for cut_start, cut_end in cuts:
            if cut_end <= cursor or cut_start >= end:
                continue
            if cut_start > cursor:
                out.append((cursor, cut_start))
            cursor = max(cursor, cut_end)
        if end > cursor:
            out.append((cursor, end))
    return out


def clip(intervals: Iterable[Interval], duration_s: float) -> list[Interval]:
    """The intervals cut to ``[0, duration_s]``, as a union."""
    return merge_intervals((max(s, 0.0), min(e, duration_s)) for s, e in intervals)


def speech_intervals(segment: dict, gap: float = MERGE_GAP_S) -> list[Interval]:
    """Speech of one segment: its words joined across pauses shorter than ``gap``, or the
    segment's own span when it has no words."""
    spans = [
        (word["start"], word["end"])
        for word in segment.get("words") or []
        if word.get("start") is not None and word.get("end") is not None
    ]
    if not spans:
        return merge_intervals([(segment["start_s"], segment["end_s"])])
    return merge_intervals(spans, gap=gap)


def count_units(text: str, language: str | None) -> int:
    """Characters (Chinese) or words (other languages) in ``text``, for speech rates."""
    if language == "zh" or (language is None and _HANZI.search(text)):
        return sum(ch.isalnum() for ch in text)
    return sum(any(ch.isalnum() for ch in token) for token in text.split())


def count_interruptions(interrupter: list[Interval], speaker: list[Interval]) -> int:
    """Intervals of ``interrupter`` that cut into ``speaker`` (both unions), as defined in
    the module docstring."""
    count = 0
    for start, end in interrupter:
        if end - start < INTERRUPTION_MIN_S - _EPS:
            continue
        count += any(
            s < start < e
            and start - s >= INTERRUPTED_MIN_BEFORE_S - _EPS
            and e - start >= INTERRUPTED_MIN_AFTER_S - _EPS
            for s, e in speaker
        )
    return count


def count_turns(own: list[Interval], other: list[Interval]) -> int:
    """Turns of a role: its intervals, with consecutive ones joined unless ``other`` speaks
    in the gap between them."""
    turns = 0
    for index, (start, _) in enumerate(own):
        previous_end = own[index - 1][1] if index else None
        if previous_end is None or intersect([(previous_end, start)], other):
            turns += 1
    return turns


def _ratio(part: float, duration_s: float) -> float | None:
    if duration_s <= 0:
        return None
    return round(min(max(part / duration_s, 0.0), 1.0), 3)


def _rate(units: int, talk_s: float) -> float | None:
    return round(units / (talk_s / 60.0), 3) if talk_s > 0 else None


def _gaps(intervals: list[Interval]) -> list[float]:
    return [b[0] - a[1] for a, b in zip(intervals, intervals[1:], strict=False)]


def conversation_metrics(
    segments: list[SegmentRow],
    duration_s: float,
    non_talk_intervals: Iterable[Interval] = (),
    activity: list[dict] | None = None,
) -> CallRow:
    """Conversation metrics of one call; the module docstring defines each key.

    `activity` (segment-like dicts with start_s, end_s, speaker) gives who spoke when, where
    that is known better than from the segments' word times (diarized turns of a mono call);
    the segments then supply only the text for speech rates."""
    duration = float(duration_s) if duration_s > 0 else 0.0
    speech: dict[str, list[Interval]] = {role: [] for role in TALK_SPEAKERS}
    other_voice: list[Interval] = list(non_talk_intervals)
    units = dict.fromkeys(TALK_SPEAKERS, 0)
    for segment in segments if activity is None else activity:
        spans = clip(speech_intervals(segment), duration)
        role = segment.get("speaker")
        (speech[role] if role in speech else other_voice).extend(spans)
    for segment in segments:
        role = segment.get("speaker")
        if role in units and clip(speech_intervals(segment), duration):
            units[role] += count_units(segment.get("text") or "", segment.get("language"))

    agent = merge_intervals(speech["agent"])
    customer = merge_intervals(speech["customer"])
    talk = merge_intervals(agent + customer)
    occupied = clip(talk + other_voice, duration)
    agent_s, customer_s = total_length(agent), total_length(customer)
    gaps = _gaps(occupied)
    return call_fields(
        talk_time_agent_s=round(agent_s, 3),
        talk_time_customer_s=round(customer_s, 3),
        silence_ratio=_ratio(duration - total_length(occupied), duration),
        non_talk_ratio=_ratio(duration - total_length(talk), duration),
        overtalk_s=round(total_length(intersect(agent, customer)), 3),
        interruptions_agent=count_interruptions(agent, customer),
        interruptions_customer=count_interruptions(customer, agent),
        speech_rate_agent=_rate(units["agent"], agent_s),
        speech_rate_customer=_rate(units["customer"], customer_s),
        leading_silence_s=round(occupied[0][0], 3) if occupied else None,
        longest_silence_s=(round(max(gaps, default=0.0), 3) if occupied else None),
        time_to_first_agent_s=round(agent[0][0], 3) if agent else None,
        n_turns_agent=count_turns(agent, customer),
        n_turns_customer=count_turns(customer, agent),
    )
