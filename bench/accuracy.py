"""Accuracy of the embedded default: CER on Mandarin clips, WER per channel on stereo calls.

    python bench/accuracy.py [--config FILE] [--eval DIR] [--no-bare]

Reads ../shared/eval (or --eval); skips cleanly when it is absent. Also runs bare
faster-whisper (same model, its default settings) on the same audio for comparison.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asr.audio import decode  # noqa: E402
from asr.call import transcribe_call  # noqa: E402
from asr.scoring import en_words, error_rate, zh_chars  # noqa: E402
from callscope.night import get_batched, get_model  # noqa: E402
from core.config import load_config  # noqa: E402

DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def pipeline_zh(settings, path: Path) -> str:
    audio = decode(path.read_bytes(), path.name)
    result = transcribe_call(
        get_model(settings), audio, "mono", settings.asr, get_batched(settings)
    )
    return "".join(seg["text"] for seg in result.segments)


def pipeline_call(settings, path: Path) -> dict[int, str]:
    audio = decode(path.read_bytes(), path.name)
    result = transcribe_call(
        get_model(settings), audio, "customer_left", settings.asr, get_batched(settings)
    )
    return {ch: " ".join(s["text"] for s in result.segments if s["channel"] == ch) for ch in (0, 1)}


def bare_zh(model, path: Path) -> str:
    segments, _ = model.transcribe(str(path))
    return "".join(seg.text for seg in segments)


def bare_call(model, path: Path) -> dict[int, str]:
    from faster_whisper.audio import decode_audio

    channels = decode_audio(str(path), split_stereo=True)
    return {ch: " ".join(s.text for s in model.transcribe(channels[ch])[0]) for ch in (0, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--no-bare", action="store_true", help="skip the bare faster-whisper run")
    parser.add_argument("--show", action="store_true", help="print every transcript")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not (args.eval / "zh").is_dir() or not (args.eval / "calls").is_dir():
        print(f"SKIP: evaluation data not found at {args.eval}")
        return 0
    settings = load_config(args.config)
    zh_refs = _read_refs(args.eval / "zh" / "references.tsv")
    calls = sorted((args.eval / "calls").glob("*.flac"))
    runs = {"pipeline": (lambda p: pipeline_zh(settings, p), lambda p: pipeline_call(settings, p))}
    if not args.no_bare:
        model = get_model(settings)
        runs["bare"] = (lambda p: bare_zh(model, p), lambda p: bare_call(model, p))
    print(
        f"model {settings.asr.model} ({settings.asr.device}, {settings.asr.compute_type}), "
        f"{len(zh_refs)} Mandarin clips, {len(calls)} stereo calls"
    )
    for name, (run_zh, run_call) in runs.items():
        started = time.perf_counter()
        zh_pairs = []
        for file, ref in zh_refs.items():
            hyp = run_zh(args.eval / "zh" / file)
            zh_pairs.append((zh_chars(ref), zh_chars(hyp)))
            if args.show:
                print(f"  [{name}] {file}: {hyp}")
        channel_pairs: dict[int, list] = {0: [], 1: []}
        for call in calls:
            hyps = run_call(call)
            for ch in (0, 1):
                ref = (call.parent / f"{call.stem}.ch{ch}.txt").read_text(encoding="utf-8")
                channel_pairs[ch].append((en_words(ref), en_words(hyps[ch])))
                if args.show:
                    print(f"  [{name}] {call.stem} ch{ch}: {hyps[ch]}")
        all_pairs = channel_pairs[0] + channel_pairs[1]
        print(
            f"{name:9s} Mandarin CER {error_rate(zh_pairs):.3f} | call WER {error_rate(all_pairs):.3f}"
            f" (customer ch0 {error_rate(channel_pairs[0]):.3f}, agent ch1 "
            f"{error_rate(channel_pairs[1]):.3f}) | {time.perf_counter() - started:.1f} s"
        )
    return 0


def _read_refs(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as handle:
        return {row["file"]: row["reference"] for row in csv.DictReader(handle, delimiter="\t")}


if __name__ == "__main__":
    sys.exit(main())
