"""Small vector helpers shared by the incident stages: unit length and nearest centroid."""

from __future__ import annotations

import numpy as np


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows (or one vector) scaled to unit length; zero rows stay zero."""
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def nearest(
    vectors: np.ndarray, centroids: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `vectors`: the index of its most similar centroid (-1 when the cosine is
    below `threshold`) and that cosine. Both inputs are unit rows."""
    if not len(vectors) or not len(centroids):
        return np.full(len(vectors), -1), np.zeros(len(vectors), dtype=np.float32)
    sims = vectors @ centroids.T
    best = sims.argmax(axis=1)
    similarity = sims[np.arange(len(vectors)), best]
    return np.where(similarity >= threshold, best, -1), similarity.astype(np.float32)
