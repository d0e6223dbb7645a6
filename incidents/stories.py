"""One story, one section: the day's incidents arranged as the hand-off tells them.

A day's incident rows overlap: a launch-day pre-order failure is a rule category spike, and the
topics its calls fall into (deposits not refunded, app errors, the phone's name) may spike too.
`arrange` groups them so each story is told once:

- the spikes are taken categories first, then topics, largest first; one whose calls lie at
  least `nest_share` inside a story already opened becomes a *facet* of that story, otherwise it
  opens a story of its own. A category story that lies mostly inside a larger topic story
  becomes that story's facet (a small rule category inside a bigger topic);
- topics that do not spike but lie mostly inside a story are its facets too: "what customers
  say", each with the calls it shares with the story;
- a topic or category that was rare until today (`emerging_max_expected` calls a day) and rose
  well above that, but is too small to be a spike (3 calls against 0.1), is *emerging*: a short
  section of its own, grouped the same way;
- the rule categories that say how a call went rather than what it is about (`aspect: true` in
  the rule file: a repeat contact, a threat to cancel) head no story while the stories hold most
  of their calls: each story counts them instead ("of these: repeat contact 5");
- everything else is listed in the table only.

Every row also gets the figures marketing acts on, from the calls it holds: first and last call
time, calls per local hour, share of each queue's calls, and the directions (in- / outbound).
Pure: rows and calls in, rows and stories out; incidents/handoff.py reads and writes.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from callscope.core.config import IncidentSettings

_CONFIG = IncidentSettings()  # the defaults of incidents.* (core/config.py)

STORY, FACET, EMERGING, ASPECT = "story", "facet", "emerging", "aspect"


@dataclass(frozen=True)
class StorySettings:
    nest_share: float = _CONFIG.nest_share
    emerging_min_calls: int = _CONFIG.emerging_min_calls
    emerging_alpha: float = _CONFIG.emerging_alpha
    emerging_max_expected: float = _CONFIG.emerging_max_expected
    min_ratio: float = _CONFIG.min_ratio

    @classmethod
    def from_settings(cls, settings: IncidentSettings) -> StorySettings:
        return cls(
            settings.nest_share,
            settings.emerging_min_calls,
            settings.emerging_alpha,
            settings.emerging_max_expected,
            settings.min_ratio,
        )


@dataclass
class Facet:
    row: dict
    shared: int  # calls it has in common with its story
    example: dict | None  # one example no other part of the hand-off shows


@dataclass
class Story:
    row: dict  # the incident that heads the section
    section: str  # story | emerging
    facets: list[Facet] = field(default_factory=list)
    examples: list[dict] = field(default_factory=list)
    aspects: list[Facet] = field(default_factory=list)  # how its calls went: repeat contacts…
    category: dict | None = None  # a topic's: the rule category holding most of its calls

    @property
    def title(self) -> str:
        """The section's heading: a topic is named by its rule category first, when one holds
        most of its calls (配送 / 物流查询 · delivery look-up：物流信息 · 没动)."""
        if self.category is None:
            return self.row["label"]
        return f"{self.category['label']}：{self.row['label']}"

    @property
    def incident_id(self) -> str:
        return self.row["incident_id"]


def arrange(
    rows: list[dict],
    calls: list[dict],
    settings: StorySettings = StorySettings(),
    timezone: str = "Asia/Shanghai",
    aspects: frozenset[str] = frozenset(),
) -> tuple[list[dict], list[Story]]:
    """The rows with their section fields added (in place), and the stories in the order they
    are told.

    `rows`: the day's incident rows (with call_ids and examples); `calls`: the day's analysed
    calls (call_id, started_at, queue, direction); `aspects`: the rule categories that say how
    a call went rather than what it is about (a repeat contact): they head no story while the
    stories hold most of their calls, and are counted inside each story instead."""
    members = {r["incident_id"]: set(r.get("call_ids") or []) for r in rows}
    is_aspect = {r["incident_id"]: r.get("category") in aspects for r in rows}
    subjects = [r for r in rows if not is_aspect[r["incident_id"]]]
    stories, facet_of = _group([r for r in subjects if r["is_spike"]], members, settings, STORY)
    emerging, emerging_facets = _group(
        [r for r in subjects if _emerging(r, settings)], members, settings, EMERGING, stories
    )
    facet_of |= emerging_facets
    aspect_of, own = _place_aspects(rows, is_aspect, stories + emerging, members, settings)
    stories = _ranked(stories + [s for s in own if s.section == STORY])
    told = stories + _ranked(emerging + [s for s in own if s.section == EMERGING])
    _quiet_facets(subjects, told, facet_of, members, settings.nest_share)
    by_id = {r["incident_id"]: r for r in rows}
    categories = [r for r in subjects if r["kind"] == "category"]
    for story in told:
        story.facets = _under(story, facet_of, by_id, members)
        story.aspects = _shared(story, [r for r in rows if is_aspect[r["incident_id"]]], members)
        if story.row["kind"] == "topic":
            holder = _inside(members[story.incident_id], [r["incident_id"] for r in categories],
                             members, settings.nest_share)  # fmt: skip
            story.category = by_id[holder] if holder else None
    _pick_examples(told)
    return _annotate(rows, told, facet_of, aspect_of, members, calls, timezone), told


def _under(story: Story, facet_of: dict, by_id: dict, members) -> list[Facet]:
    facets = [
        Facet(by_id[i], len(members[i] & members[story.incident_id]), None)
        for i, head in facet_of.items()
        if head == story.incident_id
    ]
    return sorted(facets, key=lambda f: (-f.shared, f.row["incident_id"]))


def _shared(story: Story, aspect_rows: list[dict], members) -> list[Facet]:
    own = members[story.incident_id]
    found = [
        Facet(r, len(own & members[r["incident_id"]]), None)
        for r in aspect_rows
        if r["incident_id"] != story.incident_id
    ]
    return sorted((f for f in found if f.shared), key=lambda f: (-f.shared, f.row["incident_id"]))


def _place_aspects(rows, is_aspect, told: list[Story], members, settings: StorySettings):
    """{aspect incident: the story holding most of its calls} for the aspects the stories
    explain (at least `nest_share` of their calls inside them), and the stories of the
    aspects that rose on their own."""
    inside = set().union(*(members[s.incident_id] for s in told)) if told else set()
    placed: dict[str, str] = {}
    alone = []
    for row in rows:
        incident = row["incident_id"]
        if not is_aspect[incident] or not (row["is_spike"] or _emerging(row, settings)):
            continue
        own = members[incident]
        if told and len(own & inside) >= settings.nest_share * len(own):
            best = max(told, key=lambda s: (len(own & members[s.incident_id]), -told.index(s)))
            placed[incident] = best.incident_id
        else:
            alone.append(Story(row, STORY if row["is_spike"] else EMERGING))
    return placed, alone


def _emerging(row: dict, settings: StorySettings) -> bool:
    return (
        not row["is_spike"]
        and row["method"] != "warm-up"
        and row["calls"] >= settings.emerging_min_calls
        and (row["expected"] or 0.0) <= settings.emerging_max_expected
        and (row["ratio"] or 0.0) >= settings.min_ratio
        and row["p_value"] is not None
        and row["p_value"] <= settings.emerging_alpha
    )


def _order(row: dict) -> tuple:
    return (row["kind"] != "category", -row["calls"], -(row["score"] or 0.0), row["incident_id"])


def _inside(calls: set[str], heads, members: dict[str, set[str]], share: float) -> str | None:
    """The head that holds at least `share` of `calls` (the one holding most), or None."""
    if not calls:
        return None
    best, best_shared = None, 0
    for head in heads:
        shared = len(calls & members[head])
        if shared >= share * len(calls) and shared > best_shared:
            best, best_shared = head, shared
    return best


def _group(
    candidates, members, settings: StorySettings, section: str, within: list[Story] = ()
) -> tuple[list[Story], dict]:
    """Stories opened by `candidates` and {facet incident id: its story's incident id}; a
    candidate mostly inside one of the stories `within` is left to them (a facet)."""
    share = settings.nest_share
    outer = [s.incident_id for s in within]
    stories: dict[str, Story] = {}
    facet_of: dict[str, str] = {}
    for row in sorted(candidates, key=_order):
        if _inside(members[row["incident_id"]], outer, members, share) is not None:
            continue
        head = _inside(members[row["incident_id"]], stories, members, share)
        if head is None:
            stories[row["incident_id"]] = Story(row, section)
        else:
            facet_of[row["incident_id"]] = head
    for story in list(stories.values()):  # a small category inside a larger topic story
        own = members[story.incident_id]
        if story.row["kind"] != "category":
            continue
        bigger = [
            h for h, s in stories.items() if s.row["kind"] == "topic" and len(members[h]) > len(own)
        ]
        head = _inside(own, bigger, members, share)
        if head is not None:
            del stories[story.incident_id]
            facet_of[story.incident_id] = head
            for facet, parent in list(facet_of.items()):
                if parent == story.incident_id:
                    facet_of[facet] = head
    return _ranked(list(stories.values())), facet_of


def _ranked(stories: list[Story]) -> list[Story]:
    return sorted(stories, key=lambda s: (-(s.row["score"] or 0.0), _order(s.row)))


def _quiet_facets(rows, told: list[Story], facet_of: dict, members, share: float) -> None:
    """Topics that are neither told nor facets yet but lie mostly inside a story: what its
    customers say."""
    heads = [s.incident_id for s in told]
    for row in sorted(rows, key=_order):
        incident = row["incident_id"]
        if row["kind"] != "topic" or incident in facet_of or incident in heads:
            continue
        head = _inside(members[incident], heads, members, share)
        if head is not None:
            facet_of[incident] = head


def _pick_examples(told: list[Story], per_story: int = 2) -> None:
    """Each story up to `per_story` examples, each facet one, no call quoted twice."""
    used: set[str] = set()
    for story in told:
        story.examples = []
        for example in story.row.get("examples") or []:
            if len(story.examples) < per_story and example["call_id"] not in used:
                used.add(example["call_id"])
                story.examples.append(example)
        for facet in story.facets:
            facet.example = _first_unused(facet.row.get("examples") or [], used)


def _first_unused(examples: list[dict], used: set[str]) -> dict | None:
    for example in examples:
        if example["call_id"] not in used:
            used.add(example["call_id"])
            return example
    return None


# the figures marketing acts on ----------------------------------------------------------------
def _annotate(rows, told, facet_of, aspect_of, members, calls, timezone: str) -> list[dict]:
    tz = ZoneInfo(timezone)
    info = {c["call_id"]: c for c in calls}
    per_queue = Counter(c.get("queue") or "-" for c in calls)
    section_of = {s.incident_id: s.section for s in told}
    title_of = {s.incident_id: s.title for s in told}
    rank_of = {s.incident_id: n for n, s in enumerate(told, start=1)}
    for row in rows:
        incident = row["incident_id"]
        head = facet_of.get(incident) or aspect_of.get(incident)
        head = head or (incident if incident in section_of else None)
        held = [info[c] for c in row.get("call_ids") or [] if c in info]
        section = section_of.get(incident)
        if section is None and head is not None:
            section = ASPECT if incident in aspect_of else FACET
        row.update(
            {
                "section": section,
                "title": title_of.get(incident),
                "story_id": head,
                "story_rank": rank_of.get(head),
                "story_calls": len(members[incident] & members[head]) if head else None,
                **call_figures(held, per_queue, tz),
            }
        )
    return rows


def call_figures(held: list[dict], per_queue: Counter, tz: dt.tzinfo) -> dict:
    """First and last call, calls per local hour, each queue's share, directions."""
    times = sorted(c["started_at"] for c in held if c.get("started_at") is not None)
    hours = [0] * 24
    for started in times:
        hours[started.astimezone(tz).hour] += 1
    queues = Counter(c.get("queue") or "-" for c in held)
    return {
        "first_call_at": times[0] if times else None,
        "last_call_at": times[-1] if times else None,
        "calls_by_hour": hours,
        "queue_shares": [
            {"queue": queue, "calls": n, "share": n / max(per_queue[queue], n)}
            for queue, n in sorted(queues.items(), key=lambda q: (-q[1], q[0]))
        ],
        "directions": [
            {"direction": d, "calls": n}
            for d, n in sorted(
                Counter(c.get("direction") or "-" for c in held).items(),
                key=lambda q: (-q[1], q[0]),
            )
        ],
    }
