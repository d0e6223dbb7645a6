"""Words to speakers, segments split at speaker changes, and agent / customer / IVR roles.

Pure functions over transcript segments (dicts with start_s, end_s, text, words) and speaker
turns; no model is loaded here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from callscope.asr.diarize import Diarization, SpeakerTurn
from callscope.core.config import RoleSettings, Settings
from callscope.core.errors import CallscopeError
from callscope.storage.rows import SegmentRow

NEAREST_TURN_S = 1.0  # a word outside every turn goes to the nearest turn this close
OVERLAP_SHARE = 0.3  # a word is in overlap when a second speaker covers this much of it
FIRST_SPEAKER_WEIGHT = 1.0
AGENT_PHRASE_WEIGHT = 2.0
CUSTOMER_PHRASE_WEIGHT = 1.5
VOICEPRINT_WEIGHT = 8.0
MAX_PHRASE_HITS = 3


@dataclass
class RoleAssignment:
    roles: dict[str, str]  # speaker label -> agent | customer | ivr | unknown
    confidence: float
    evidence: str
    nonspeech_labels: list[str] = field(default_factory=list)


# words to speakers ---------------------------------------------------------------------------
def speaker_of(start: float, end: float, turns: list[SpeakerTurn]) -> tuple[str | None, bool]:
    """(the speaker covering most of [start, end], whether another speaker also covers a
    real part of it). Outside every turn: the nearest turn within NEAREST_TURN_S."""
    cover: dict[str, float] = {}
    for turn in turns:
        shared = min(end, turn.end) - max(start, turn.start)
        if shared > 0:
            cover[turn.speaker] = cover.get(turn.speaker, 0.0) + shared
    if cover:
        ranked = sorted(cover, key=cover.get, reverse=True)
        length = max(end - start, 1e-3)
        overlap = len(ranked) > 1 and cover[ranked[1]] >= OVERLAP_SHARE * length
        return ranked[0], overlap
    middle = (start + end) / 2
    nearest = min(turns, key=lambda t: _distance(middle, t), default=None)
    if nearest is not None and _distance(middle, nearest) <= NEAREST_TURN_S:
        return nearest.speaker, False
    return None, False


def _distance(time: float, turn: SpeakerTurn) -> float:
    return max(turn.start - time, time - turn.end, 0.0)


def split_by_speaker(segments: list[SegmentRow], turns: list[SpeakerTurn]) -> list[SegmentRow]:
    """Each word goes to the speaker active at its time; a segment is split where the speaker
    changes. Pieces carry `speaker_label` and `overlap` (True when another speaker talked over
    any of its words)."""
    pieces: list[SegmentRow] = []
    for seg in segments:
        words = seg.get("words") or []
        if not words:
            label, overlap = speaker_of(seg["start_s"], seg["end_s"], turns)
            pieces.append({**seg, "speaker_label": label, "overlap": overlap})
            continue
        runs: list[tuple[str | None, list[dict], bool]] = []
        for word in words:
            label, overlap = speaker_of(word["start"], word["end"], turns)
            if runs and runs[-1][0] == label:
                runs[-1][1].append(word)
                runs[-1] = (label, runs[-1][1], runs[-1][2] or overlap)
            else:
                runs.append((label, [word], overlap))
        pieces.extend(_piece(seg, label, run, overlap, len(runs)) for label, run, overlap in runs)
    return pieces


def _piece(seg: dict, label: str | None, words: list[dict], overlap: bool, n_runs: int) -> dict:
    if n_runs == 1:
        return {**seg, "speaker_label": label, "overlap": overlap}
    return {
        **seg,
        "start_s": words[0]["start"],
        "end_s": words[-1]["end"],
        "text": "".join(word["word"] for word in words).strip(),
        "words": words,
        "speaker_label": label,
        "overlap": overlap,
    }


# roles ---------------------------------------------------------------------------------------
def phrase_hits(text: str, phrases: list[str]) -> int:
    folded = _fold(text)
    return sum(folded.count(_fold(phrase)) for phrase in phrases)


def _fold(text: str) -> str:
    return re.sub(r"[\s\W_]+", " ", text.lower()).strip()


def mark_ivr(segments: list[SegmentRow], roles: RoleSettings) -> None:
    """Segments with recorded-prompt phrases before any agent service phrase are IVR."""
    for seg in sorted(segments, key=lambda s: s["start_s"]):
        if phrase_hits(seg["text"], roles.agent_phrases):
            return
        if phrase_hits(seg["text"], roles.ivr_phrases):
            seg["speaker"] = "ivr"


def assign_roles(
    segments: list[dict],
    diarization: Diarization,
    roles: RoleSettings,
    direction: str | None = None,
    agent_voiceprint: np.ndarray | None = None,
) -> RoleAssignment:
    """Agent / customer / IVR for each diarized speaker, with a confidence in 0.5..1."""
    labels = diarization.speakers
    text = {
        label: " ".join(s["text"] for s in segments if s.get("speaker_label") == label)
        for label in labels
    }
    nonspeech = [label for label in labels if not text[label].strip()]
    ivr = [
        label for label in labels if label not in nonspeech and _mostly_ivr(label, segments, roles)
    ]
    people = [label for label in labels if label not in nonspeech and label not in ivr]
    result = {label: "ivr" for label in ivr} | {label: "unknown" for label in nonspeech}
    if not people:
        return RoleAssignment(result, 0.5, "no person speaking", nonspeech)
    first = _first_person(segments, people) if len(people) > 1 else None
    scores, notes = {}, {}
    for label in people:
        scores[label], notes[label] = _agent_score(
            label, text[label], first, direction, roles, diarization, agent_voiceprint
        )
    by_talk = sorted(people, key=diarization.speech_s, reverse=True)
    main = sorted(by_talk[:2], key=scores.get, reverse=True)
    if len(main) == 1:
        score = scores[main[0]]
        role = "agent" if score > 0 else "customer" if score < 0 else "unknown"
        result[main[0]] = role
        confidence = _sigmoid(abs(score))
    else:
        result[main[0]], result[main[1]] = "agent", "customer"
        confidence = _sigmoid(scores[main[0]] - scores[main[1]])
    for label in by_talk[2:]:
        result[label] = _closest_role(label, result, diarization)
    evidence = "; ".join(f"{label}={result[label]} ({notes[label]})" for label in people)
    return RoleAssignment(result, round(confidence, 3), evidence, nonspeech)


def _mostly_ivr(label: str, segments: list[dict], roles: RoleSettings) -> bool:
    own = [s for s in segments if s.get("speaker_label") == label]
    ivr_s = sum(s["end_s"] - s["start_s"] for s in own if s.get("speaker") == "ivr")
    total = sum(s["end_s"] - s["start_s"] for s in own)
    return total > 0 and ivr_s / total > 0.5


def _first_person(segments: list[dict], people: list[str]) -> str | None:
    for seg in sorted(segments, key=lambda s: s["start_s"]):
        if seg.get("speaker") != "ivr" and seg.get("speaker_label") in people:
            return seg["speaker_label"]
    return None


def _agent_score(label, text, first, direction, roles, diarization, voiceprint):
    agent = min(phrase_hits(text, roles.agent_phrases), MAX_PHRASE_HITS)
    customer = min(phrase_hits(text, roles.customer_phrases), MAX_PHRASE_HITS)
    score = AGENT_PHRASE_WEIGHT * agent - CUSTOMER_PHRASE_WEIGHT * customer
    notes = [f"{agent} agent / {customer} customer phrases"]
    if label == first:
        sign = -1.0 if direction == "outbound" else 1.0
        score += sign * FIRST_SPEAKER_WEIGHT
        notes.append("spoke first")
    embedding = diarization.embeddings.get(label)
    if voiceprint is not None and embedding is not None:
        similarity = _cosine(embedding, voiceprint)
        score += VOICEPRINT_WEIGHT * (similarity - roles.voiceprint_threshold)
        notes.append(f"agent voiceprint {similarity:.2f}")
    return score, ", ".join(notes)


def _closest_role(label: str, result: dict[str, str], diarization: Diarization) -> str:
    embedding = diarization.embeddings.get(label)
    candidates = {
        other: diarization.embeddings[other]
        for other, role in result.items()
        if role in ("agent", "customer") and other in diarization.embeddings
    }
    if embedding is None or not candidates:
        return "unknown"
    closest = max(candidates, key=lambda other: _cosine(embedding, candidates[other]))
    return result[closest]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def apply_roles(segments: list[SegmentRow], assignment: RoleAssignment) -> None:
    for seg in segments:
        if seg.get("speaker") == "ivr":
            continue
        seg["speaker"] = assignment.roles.get(seg.get("speaker_label"), "unknown")


def load_voiceprint(roles: RoleSettings, agent_id: str | None) -> np.ndarray | None:
    """The enrolled voiceprint of this agent, when voiceprints are configured."""
    if roles.agent_voiceprints is None or not agent_id:
        return None
    path = voiceprint_path(roles, agent_id)
    return np.load(path) if path.is_file() else None


def voiceprint_path(roles: RoleSettings, agent_id: str) -> Path:
    if roles.agent_voiceprints is None:
        raise CallscopeError("roles.agent_voiceprints is not set in the config")
    return roles.agent_voiceprints / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', agent_id)}.npy"


def enroll_voiceprint(
    settings: Settings, agent_id: str, recordings: list[Path], channel: int | None = None
) -> tuple[Path, float]:
    """Average embedding of the main speaker of each recording (the agent's channel of stereo
    files when `channel` is given), saved where role finding looks for it."""
    from callscope.asr.audio import decode
    from callscope.asr.diarize import diarize, get_diarizer

    pipeline = get_diarizer(settings.diarization)
    vectors, weights = [], []
    for path in map(Path, recordings):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CallscopeError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
        audio = decode(data, path.name, settings.asr.max_duration_s)
        if channel is not None and channel >= audio.channels:
            raise CallscopeError(f"{path}: has no channel {channel} (it has {audio.channels})")
        samples = audio.samples[channel] if channel is not None else audio.mono()
        result = diarize(pipeline, samples, settings.diarization)
        main = max(result.speakers, key=result.speech_s, default=None)
        if main is None or main not in result.embeddings:
            raise CallscopeError(f"{path}: no speech found to enroll; use a recording with speech")
        vectors.append(result.embeddings[main] / np.linalg.norm(result.embeddings[main]))
        weights.append(result.speech_s(main))
    target = voiceprint_path(settings.roles, agent_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    np.save(target, np.average(np.stack(vectors), axis=0, weights=weights).astype(np.float32))
    return target, float(sum(weights))
