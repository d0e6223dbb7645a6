"""Second look at each diarized turn: does its own voice match the speaker it was given?

pyannote clusters (10 s window, local speaker) embeddings. On a downmixed phone call a short
reply can share a window's local speaker with the other person's turn next to it, and the
whole pair then lands in one cluster. Embedding each turn on its own and comparing it with the
speakers' centroids (built from their long turns) catches these: a turn moves only when it is
clearly closer to another speaker than to its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TurnEvidence:
    label: str
    duration_s: float
    vector: np.ndarray | None  # unit-length embedding of the turn's own speech; None: too short


def reassign_turns(turns: list[TurnEvidence], margin: float, anchor_s: float = 1.5) -> list[str]:
    """A label for each turn: its own, or another speaker's whose centroid its embedding is at
    least `margin` (cosine similarity) closer to. Centroids are duration-weighted means of the
    turns of at least `anchor_s`; a speaker without such a turn neither gains nor loses turns."""
    centroids = _centroids(turns, anchor_s)
    if len(centroids) < 2:
        return [turn.label for turn in turns]
    labels = []
    for turn in turns:
        if turn.vector is None or turn.label not in centroids:
            labels.append(turn.label)
            continue
        similarity = {label: float(turn.vector @ c) for label, c in centroids.items()}
        best = max(similarity, key=similarity.get)
        moved = best != turn.label and similarity[best] - similarity[turn.label] >= margin
        labels.append(best if moved else turn.label)
    return labels


def _centroids(turns: list[TurnEvidence], anchor_s: float) -> dict[str, np.ndarray]:
    sums: dict[str, np.ndarray] = {}
    for turn in turns:
        if turn.vector is not None and turn.duration_s >= anchor_s:
            weighted = turn.vector * turn.duration_s
            sums[turn.label] = sums[turn.label] + weighted if turn.label in sums else weighted
    return {label: total / np.linalg.norm(total) for label, total in sums.items()}
