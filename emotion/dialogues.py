"""Text-only scoring of whole dialogues (evaluation, transcripts from elsewhere).

Input: JSON lines, `{"id": ..., "turns": [{"speaker": "customer"|"agent", "text": ...}]}`.
Output: one line per dialogue with `id`, `customer_sentiment`, `customer_sentiment_start`,
`customer_sentiment_end`, `agent_sentiment`, `customer_emotion` and the per-turn scores.
Turns have no times, so every turn weighs the same apart from its position.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from callscope.emotion.backends import TextScorer
from callscope.emotion.call import (
    CallEmotionSettings,
    Turn,
    role_sentiment,
    start_and_end,
    strongest_emotion,
)
from callscope.emotion.errors import EmotionError

ROLES = ("customer", "agent")


class DialogueError(EmotionError):
    """A dialogue line that cannot be scored; the message names the line and the fix."""


def read_dialogues(path: Path) -> Iterator[dict]:
    try:
        handle = Path(path).open(encoding="utf-8")
    except OSError as exc:
        raise DialogueError(f"{path}: cannot read the dialogues file ({exc})") from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield _parse(path, number, line)


def _parse(path: Path, number: int, line: str) -> dict:
    where = f"{path} line {number}"
    try:
        dialogue = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DialogueError(f"{where}: not JSON ({exc.msg}); one dialogue per line") from None
    if not isinstance(dialogue, dict) or not isinstance(dialogue.get("turns"), list):
        raise DialogueError(f'{where}: expected {{"id": ..., "turns": [...]}}')
    for turn in dialogue["turns"]:
        if not isinstance(turn, dict) or turn.get("speaker") not in ROLES:
            raise DialogueError(f"{where}: every turn needs speaker customer or agent, and text")
        if not isinstance(turn.get("text", ""), str):
            raise DialogueError(f"{where}: a turn's text must be a string")
    dialogue.setdefault("id", number)
    return dialogue


def score_dialogues(
    dialogues: Iterable[dict], scorer: TextScorer, settings: CallEmotionSettings | None = None
) -> Iterator[dict]:
    settings = settings or CallEmotionSettings()
    for dialogue in dialogues:
        yield score_dialogue(dialogue, scorer, settings)


def score_dialogue(dialogue: dict, scorer: TextScorer, settings: CallEmotionSettings) -> dict:
    turns = dialogue["turns"]
    scores = scorer.score([turn.get("text", "") for turn in turns])
    scored = [
        Turn(turn["speaker"], score.valence, score.label, idx=i)
        for i, (turn, score) in enumerate(zip(turns, scores, strict=True))
    ]
    customer = [turn for turn in scored if turn.speaker == "customer"]
    agent = [turn for turn in scored if turn.speaker == "agent"]
    overall = role_sentiment(customer, settings)
    start, end = start_and_end(customer)
    return {
        "id": dialogue["id"],
        "customer_sentiment": overall,
        "customer_sentiment_start": start,
        "customer_sentiment_end": end,
        "agent_sentiment": role_sentiment(agent, settings),
        "customer_emotion": strongest_emotion(customer, overall),
        "turns": [
            {
                "speaker": turn["speaker"],
                "sentiment": score.valence,
                "emotion": score.label,
                "confidence": score.confidence,
            }
            for turn, score in zip(turns, scores, strict=True)
        ],
    }
