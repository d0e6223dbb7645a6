"""Emotion scoring: text against customer satisfaction, voice arousal, cost per hour of audio.

    python bench/emotion.py [--eval DIR] [--part text|voice|speed|all] [--split dev|test|all]

- text: ../shared/eval/text/stc3_train_cn.json (real Chinese customer-helpdesk dialogues from
  Weibo; each rated for customer satisfaction S in -2..2 by 19 annotators) and its English
  translation (stc3_train_en.json). Per dialogue, the customer sentiment of
  `callscope emotion score` against the mean S: Spearman correlation, and the AUC of
  -sentiment for finding dissatisfied dialogues (mean S < 0). The dialogues are split in two
  halves by a hash of their id: the lexicon and the aggregation were revised on `dev` only;
  `test` is held out. With snownlp installed, its naive-Bayes sentiment averaged over the
  customer's turns is scored on the same split for comparison (it is not a dependency).
- voice: bench/emotion_voice.py (acted speech, ../shared/eval/emotion).
- speed: the embedded emotion scoring (prosody + lexicon + call summaries) against the
  transcription of the same audio, in one run: the share of the nightly time it adds.

Skips cleanly when the evaluation folder is absent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callscope.emotion.call import CallEmotionSettings  # noqa: E402
from callscope.emotion.dialogues import score_dialogue  # noqa: E402
from callscope.emotion.lexicon import get_lexicon_scorer  # noqa: E402

DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
SNOWNLP_REFERENCE = "snownlp reference in the issue: Spearman 0.38, AUC 0.72"


@lru_cache(maxsize=1)
def _voice_bench():
    """bench/emotion_voice.py (its module name would clash with the `emotion` package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "emotion_voice", Path(__file__).resolve().parent / "emotion_voice.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def split_of(dialogue_id: str) -> str:
    return "dev" if hashlib.sha1(str(dialogue_id).encode()).digest()[0] % 2 == 0 else "test"


def satisfaction(dialogue: dict) -> float:
    scores = [a["quality"]["S"] for a in dialogue["annotations"]]
    return sum(scores) / len(scores)


def as_dialogue(item: dict) -> dict:
    turns = [
        {
            "speaker": "customer" if turn["sender"] == "customer" else "agent",
            "text": "\n".join(turn["utterances"]),
        }
        for turn in item["turns"]
    ]
    return {"id": item["id"], "turns": turns}


def spearman(xs: list[float], ys: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(xs, ys).statistic)


def evaluate(items: list[dict], predict) -> dict:
    truth = [satisfaction(item) for item in items]
    predicted = [predict(item) for item in items]
    return {
        "dialogues": len(items),
        "dissatisfied": sum(s < 0 for s in truth),
        "spearman": round(spearman(predicted, truth), 3),
        "auc": round(float(_voice_bench().auc([-p for p in predicted], [s < 0 for s in truth])), 3),
    }


def ours(settings: CallEmotionSettings, key: str = "customer_sentiment"):
    scorer = get_lexicon_scorer()
    return lambda item: score_dialogue(as_dialogue(item), scorer, settings)[key] or 0.0


def snownlp_baseline():
    try:
        from snownlp import SnowNLP
    except ImportError:
        return None

    def predict(item: dict) -> float:
        texts = ["\n".join(t["utterances"]) for t in item["turns"] if t["sender"] == "customer"]
        values = [SnowNLP(text).sentiments for text in texts if text.strip()]
        return sum(values) / len(values) if values else 0.5

    return predict


def text_part(eval_dir: Path, split: str) -> dict:
    results = {}
    settings = CallEmotionSettings()
    for language in ("cn", "en"):
        path = eval_dir / "text" / f"stc3_train_{language}.json"
        if not path.exists():
            print(f"text {language}: skipped, {path.name} not found")
            continue
        items = json.loads(path.read_text(encoding="utf-8"))
        parts = {"dev": [], "test": []}
        for item in items:
            parts[split_of(item["id"])].append(item)
        parts["all"] = items
        chosen = ("dev", "test") if split == "all" else (split,)
        for name in chosen:
            started = time.perf_counter()
            figures = {
                "overall": evaluate(parts[name], ours(settings)),
                "end": evaluate(parts[name], ours(settings, "customer_sentiment_end")),
            }
            elapsed = time.perf_counter() - started
            if language == "cn" and (baseline := snownlp_baseline()):
                figures["snownlp"] = evaluate(parts[name], baseline)
            results[f"{language}/{name}"] = figures
            for what, f in figures.items():
                print(
                    f"text {language:2} {name:4} {what:8}: {f['dialogues']:5} dialogues "
                    f"({f['dissatisfied']} dissatisfied)  Spearman {f['spearman']:.3f}  "
                    f"AUC {f['auc']:.3f}"
                )
            print(f"  ({elapsed:.1f} s for both scorings)")
    print(f"  targets: Spearman >= 0.50, AUC >= 0.80; {SNOWNLP_REFERENCE}")
    return results


def voice_part(eval_dir: Path) -> dict:
    emotion_voice = _voice_bench()
    figures = emotion_voice.run(eval_dir)
    print(emotion_voice.report(figures) if "skipped" not in figures else f"voice: {figures}")
    return figures


def speed_part(config: str | None) -> dict:
    """The demo night with emotion on; the voice scoring is timed again on the same audio."""
    import logging
    import tempfile

    from callscope.asr.audio import decode
    from callscope.core.config import load_config
    from callscope.emotion.backends import score_voice
    from callscope.pipeline.night import run_night
    from callscope.storage.recordings import LocalRecordingSource
    from callscope.storage.warehouse import Warehouse
    from callscope.synth.demoday import DEMO_DATE, build_demo_day

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_demo_day(root / "recordings", DEMO_DATE)
        settings = load_config(config, warehouse=root / "warehouse", recordings=root / "recordings")
        source = LocalRecordingSource(settings.recordings, settings.source.extensions)
        store = Warehouse(settings.warehouse)
        summary = run_night(DEMO_DATE, source, store, settings, progress=lambda outcome: None)
        segments = store.read("segments", DEMO_DATE).to_pylist()
        voice_s = 0.0
        for rec in source.list_day(DEMO_DATE):
            mine = [s for s in segments if s["call_id"] == rec.call_id]
            if rec.problem or not mine:
                continue
            audio = decode(source.read(rec), rec.name)
            started = time.perf_counter()
            score_voice(audio, mine, settings.emotion)
            voice_s += time.perf_counter() - started
    day_s = summary.emotion.seconds
    hours = summary.audio_s / 3600
    share = (voice_s + day_s) / summary.wall_s
    print(
        f"speed: demo night {summary.audio_s:.1f} s of audio in {summary.wall_s:.1f} s wall; "
        f"emotion: voice {voice_s:.2f} s + text, summaries and emotion_daily {day_s:.2f} s = "
        f"{(voice_s + day_s) / hours:.0f} s per hour of audio, {share:.1%} of the night "
        f"(target <= 5%)"
    )
    return {"voice_s": voice_s, "day_s": day_s, "wall_s": summary.wall_s, "share": share}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--part", choices=("text", "voice", "speed", "all"), default="all")
    parser.add_argument("--split", choices=("dev", "test", "all"), default="all")
    parser.add_argument("--config", default=None, help="for the speed part")
    args = parser.parse_args()
    if not args.eval.is_dir() and args.part != "speed":
        print(f"skipped: no evaluation data in {args.eval}")
        return 0
    if args.part in ("text", "all"):
        text_part(args.eval, args.split)
    if args.part in ("voice", "all"):
        voice_part(args.eval)
    if args.part in ("speed", "all"):
        speed_part(args.config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
