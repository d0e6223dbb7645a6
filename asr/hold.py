"""Sound that is nobody speaking: hold music, ring-back tones, recorded jingles."""

from __future__ import annotations

import numpy as np
from callscope.asr.metrics import merge_intervals
from callscope.core.records import SAMPLE_RATE

FRAME_S = 0.5
SOUND_DBFS = -45.0  # telephone line noise stays well below this
MIN_HOLD_S = 2.0


def sound_without_speech(
    samples: np.ndarray,
    speech: list[tuple[float, float]],
    rate: int = SAMPLE_RATE,
    min_s: float = MIN_HOLD_S,
) -> list[tuple[float, float]]:
    """Stretches of at least `min_s` where the audio is clearly louder than line noise but no
    speech was found: hold music and tones, counted as neither talk nor silence."""
    hop = int(FRAME_S * rate)
    n_frames = len(samples) // hop
    if n_frames == 0:
        return []
    frames = samples[: n_frames * hop].reshape(n_frames, hop)
    level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    loud = level > SOUND_DBFS
    starts = np.arange(n_frames) * FRAME_S
    for start, end in speech:
        loud[(starts + FRAME_S > start) & (starts < end)] = False
    stretches = [(float(t), float(t + FRAME_S)) for t in starts[loud]]
    return [(a, b) for a, b in merge_intervals(stretches) if b - a >= min_s]
