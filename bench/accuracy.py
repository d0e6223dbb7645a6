"""Accuracy of the embedded default: CER on Mandarin clips, WER per channel on stereo calls.

    python bench/accuracy.py [--config FILE] [--eval DIR] [--no-bare]
                             [--backends faster-whisper,transformers]

Reads ../shared/eval (or --eval); skips cleanly when it is absent. Also runs bare
faster-whisper (same model, its default settings) on the same audio for comparison. With two
backends, both run the pipeline on the same weights and the difference is printed (parity
target: within 0.02 CER and 0.02 WER).
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callscope.asr.audio import decode  # noqa: E402
from callscope.asr.call import transcribe_call  # noqa: E402
from callscope.asr.models import get_batched, get_model  # noqa: E402
from callscope.asr.scoring import en_words, error_rate, zh_chars  # noqa: E402
from callscope.core.config import load_config  # noqa: E402

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
    parser.add_argument(
        "--backends",
        default=None,
        help="comma-separated ASR backends for the pipeline (default: the config's)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not (args.eval / "zh").is_dir() or not (args.eval / "calls").is_dir():
        print(f"SKIP: evaluation data not found at {args.eval}")
        return 0
    settings = load_config(args.config)
    zh_refs = _read_refs(args.eval / "zh" / "references.tsv")
    calls = sorted((args.eval / "calls").glob("*.flac"))
    backends = args.backends.split(",") if args.backends else [settings.asr.backend]
    runs = {}
    for backend in backends:
        chosen = settings.model_copy(
            update={"asr": settings.asr.model_copy(update={"backend": backend})}
        )
        runs[backend if len(backends) > 1 else "pipeline"] = (
            lambda p, s=chosen: pipeline_zh(s, p),
            lambda p, s=chosen: pipeline_call(s, p),
        )
    if not args.no_bare:
        fw = settings.model_copy(
            update={"asr": settings.asr.model_copy(update={"backend": "faster-whisper"})}
        )
        model = get_model(fw)
        runs["bare"] = (lambda p: bare_zh(model, p), lambda p: bare_call(model, p))
    asr = settings.asr
    print(
        f"model {asr.model} ({asr.device}; faster-whisper {asr.compute_type}, transformers "
        f"{asr.torch_dtype}), {len(zh_refs)} Mandarin clips, {len(calls)} stereo calls"
    )
    figures = {}
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
        figures[name] = (error_rate(zh_pairs), error_rate(all_pairs))
        print(
            f"{name:9s} Mandarin CER {error_rate(zh_pairs):.3f} | call WER {error_rate(all_pairs):.3f}"
            f" (customer ch0 {error_rate(channel_pairs[0]):.3f}, agent ch1 "
            f"{error_rate(channel_pairs[1]):.3f}) | {time.perf_counter() - started:.1f} s"
        )
    if len(backends) > 1:
        (cer_a, wer_a), (cer_b, wer_b) = figures[backends[0]], figures[backends[1]]
        parity = abs(cer_a - cer_b) <= 0.02 and abs(wer_a - wer_b) <= 0.02
        print(
            f"parity {backends[1]} - {backends[0]}: CER {cer_b - cer_a:+.3f}, WER "
            f"{wer_b - wer_a:+.3f} (target within 0.02 each): {'met' if parity else 'NOT met'}"
        )
    return 0


def _read_refs(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as handle:
        return {row["file"]: row["reference"] for row in csv.DictReader(handle, delimiter="\t")}


if __name__ == "__main__":
    sys.exit(main())
