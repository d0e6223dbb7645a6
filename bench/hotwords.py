"""Does `asr.hotwords` help Whisper write the words supervisors search for?

    python bench/hotwords.py [--config FILE]

Transcribes the two Mandarin service calls of synth/data (their scripts are known) with the
configured hotwords and without, and counts, for every hotword the scripts contain, how many
of its occurrences the transcript has; also the character error rate against the scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callscope.asr.audio import decode  # noqa: E402
from callscope.asr.models import get_batched, get_model  # noqa: E402
from callscope.asr.scoring import error_rate, zh_chars  # noqa: E402
from callscope.asr.transcribe import transcribe_channel  # noqa: E402
from callscope.core.config import load_config  # noqa: E402
from callscope.core.text import fold  # noqa: E402
from callscope.synth.demoday import CLIPS  # noqa: E402

CALLS = ["zh_preorder_call", "zh_billing_call"]


def transcript(model, batched, path: Path, asr) -> str:
    audio = decode(path.read_bytes(), path.name, asr.max_duration_s)
    segments = []  # both channels, in the order the turns were said
    for channel in range(audio.samples.shape[0]):
        result = transcribe_channel(model, audio.samples[channel], asr, batched=batched)
        segments += [(seg["start_s"], seg["text"]) for seg in result.segments]
    return "".join(text for _, text in sorted(segments))


def bare(text: str) -> str:
    return "".join(ch for ch in fold(text) if ch.isalnum())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path)
    args = parser.parse_args()
    settings = load_config(args.config)
    words = (settings.asr.hotwords.get("zh") or "").split()
    if not words:
        print("no zh hotwords configured: nothing to compare")
        return 0
    model, batched = get_model(settings), get_batched(settings)
    variants = {
        "with hotwords": settings.asr,
        "without": settings.asr.model_copy(update={"hotwords": {}}),
    }
    print(f"{len(words)} zh hotwords; calls: {', '.join(CALLS)}")
    for name, asr in variants.items():
        found = expected = 0
        pairs = []
        for call in CALLS:
            script = "".join(
                t["text"] for t in json.loads((CLIPS / f"{call}.json").read_text("utf-8"))
            )
            text = transcript(model, batched, CLIPS / f"{call}.flac", asr)
            for word in words:
                want = fold(script).count(word)
                expected += want
                found += min(want, bare(text).count(word))
            pairs.append((zh_chars(script), zh_chars(text)))
        print(
            f"{name:14} hotword occurrences written right {found}/{expected} "
            f"({found / max(expected, 1):.0%}); CER {error_rate(pairs):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
