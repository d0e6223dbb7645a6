"""Voice half of the emotion benchmark: prosodic arousal on acted German speech (Emo-DB).

    python bench/emotion_voice.py [--eval DIR]

- Data: DIR/emotion/*.wav with DIR/emotion/labels.tsv (27 clips, 6 speakers, cut to 2 s).
  Each clip is one segment; its baseline is the same speaker's other clips (disgust clips
  included), the analogue of a speaker's other segments in a call.
- Arousal AUC: how well arousal ranks high-arousal clips {anger, fear, happiness} above
  low-arousal ones {neutral, boredom, sadness}; disgust is left out of the AUC (its arousal
  is not clearly high or low). Rank-based (Mann-Whitney, ties count half); no scikit-learn.
- Weights: the call defaults of emotion.prosody unchanged (energy 1, effort 1, pitch 1,
  spread 0.5), except speech rate, which needs a transcript these clips do not have. Nothing
  is fitted to these 23 labelled clips; the per-feature AUCs (each feature alone, within
  speaker) are printed for insight, not used to pick weights.
- Caveat: the clips are peak-normalised (nearly all peak at full scale), which makes their
  level a measure of crest factor rather than loudness; shouted speech has a high crest
  factor, so energy points the wrong way here. The AUC without energy is printed beside the
  headline; in calls the gain of a channel is fixed, so energy keeps its weight there.
- Speed: wall time of features and arousal (decoding excluded, as the pipeline has decoded
  audio already) over audio duration, best of 3 passes after one warm-up call that pays
  librosa's one-off JIT compilation (printed apart as cold start).

Skips cleanly when the evaluation folder is absent.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callscope.asr.audio import decode  # noqa: E402
from callscope.core.records import SAMPLE_RATE  # noqa: E402
from callscope.emotion.prosody import (  # noqa: E402
    ProsodySettings,
    arousal_from_features,
    segment_features,
)

DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
HIGH_AROUSAL = frozenset({"anger", "fear", "happiness"})
LOW_AROUSAL = frozenset({"neutral", "boredom", "sadness"})
SETTINGS = ProsodySettings(rate_weight=0.0)  # no transcripts, so no speech rate
SINGLE_FEATURES = ("energy", "effort", "pitch", "spread")
PEAK_NORMALISED = 0.97  # a clip peaking this close to full scale was normalised
TIMING_PASSES = 3


def auc(scores: list[float], positive: list[bool]) -> float:
    """P(score of a positive > score of a negative), ties counting half (Mann-Whitney U)."""
    ranks = average_ranks(scores)
    n_pos = sum(positive)
    n_neg = len(scores) - n_pos
    if not n_pos or not n_neg:
        return float("nan")
    pos_rank_sum = sum(rank for rank, is_pos in zip(ranks, positive, strict=True) if is_pos)
    return (pos_rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def average_ranks(values: list[float]) -> list[float]:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def read_labels(folder: Path) -> list[dict]:
    with (folder / "labels.tsv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def load_clip(path: Path) -> np.ndarray:
    return decode(path.read_bytes(), path.name).mono()


def clip_features(clips: list[np.ndarray]) -> list:
    return [segment_features(clip, 0.0, len(clip) / SAMPLE_RATE, None, SETTINGS) for clip in clips]


def timed_scoring(clips: list[np.ndarray], speakers: list[str]) -> tuple[list, float, float]:
    """Features of every clip and the wall time of the best pass; also the cold first call."""
    started = time.perf_counter()
    clip_features(clips[:1])
    cold_s = time.perf_counter() - started
    best_s = float("inf")
    for _ in range(TIMING_PASSES):
        started = time.perf_counter()
        features = clip_features(clips)
        arousal_from_features(features, speakers, SETTINGS)
        best_s = min(best_s, time.perf_counter() - started)
    return features, best_s, cold_s


def scored_auc(arousal: list[float | None], emotions: list[str]) -> float:
    pairs = [
        (value, emotion in HIGH_AROUSAL)
        for value, emotion in zip(arousal, emotions, strict=True)
        if value is not None and emotion in HIGH_AROUSAL | LOW_AROUSAL
    ]
    return auc([value for value, _ in pairs], [is_high for _, is_high in pairs])


def only(feature: str) -> ProsodySettings:
    zeroed = {f"{name}_weight": 0.0 for name in (*SINGLE_FEATURES, "rate")}
    return replace(SETTINGS, **{**zeroed, f"{feature}_weight": 1.0})


def run(eval_dir: Path) -> dict:
    """The figures of the benchmark, or {"skipped": why} when the data is absent."""
    folder = eval_dir / "emotion"
    if not (folder / "labels.tsv").is_file():
        return {"skipped": f"no {folder / 'labels.tsv'}"}
    rows = [row for row in read_labels(folder) if (folder / row["file"]).is_file()]
    if not rows:
        return {"skipped": f"no labelled clips in {folder}"}
    clips = [load_clip(folder / row["file"]) for row in rows]
    speakers = [row["speaker"] for row in rows]
    emotions = [row["emotion"] for row in rows]
    features, wall_s, cold_s = timed_scoring(clips, speakers)
    arousal = arousal_from_features(features, speakers, SETTINGS)
    audio_s = sum(len(clip) for clip in clips) / SAMPLE_RATE
    return {
        "files": len(rows),
        "scored": sum(value is not None for value in arousal),
        "high": sum(emotion in HIGH_AROUSAL for emotion in emotions),
        "low": sum(emotion in LOW_AROUSAL for emotion in emotions),
        "auc": scored_auc(arousal, emotions),
        "auc_without_energy": scored_auc(
            arousal_from_features(features, speakers, replace(SETTINGS, energy_weight=0.0)),
            emotions,
        ),
        "feature_auc": {
            name: scored_auc(arousal_from_features(features, speakers, only(name)), emotions)
            for name in SINGLE_FEATURES
        },
        "peak_normalised": sum(np.max(np.abs(clip)) >= PEAK_NORMALISED for clip in clips),
        "audio_s": audio_s,
        "wall_s": wall_s,
        "cold_start_s": cold_s,
        "s_per_hour": wall_s / audio_s * 3600,
        "x_real_time": wall_s / audio_s,
        "per_file": [
            {
                "file": row["file"],
                "emotion": row["emotion"],
                "speaker": row["speaker"],
                "arousal": a,
            }
            for row, a in zip(rows, arousal, strict=True)
        ],
    }


def report(figures: dict) -> str:
    singles = "  ".join(f"{name} {value:.3f}" for name, value in figures["feature_auc"].items())
    return "\n".join(
        [
            f"Emo-DB clips: {figures['files']} ({figures['scored']} scored; "
            f"{figures['high']} high-arousal, {figures['low']} low-arousal, rest left out)",
            f"arousal AUC (high vs low, speaker baseline): {figures['auc']:.3f}",
            f"arousal AUC without energy: {figures['auc_without_energy']:.3f} "
            f"({figures['peak_normalised']}/{figures['files']} clips peak-normalised)",
            f"single-feature AUC: {singles}",
            f"speed: {figures['s_per_hour']:.1f} s per hour of audio "
            f"({figures['x_real_time']:.4f} x real time, {figures['audio_s']:.0f} s of audio); "
            f"cold start {figures['cold_start_s']:.1f} s once per process",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL, help="evaluation folder")
    args = parser.parse_args(argv)
    figures = run(args.eval)
    if "skipped" in figures:
        print(f"skipped: {figures['skipped']}")
        return 0
    print(report(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
