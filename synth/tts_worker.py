"""The text-to-speech worker process: `python -m synth.tts_worker --rate 8000 [--threads 1]`.

Reads JSON lines `{"text", "voice", "seed", "out"}` on stdin, writes each sentence as a mono
16-bit WAV at `--rate` to `out` (atomically) and answers one JSON line per request:
`{"ok": true, "out", "seconds", "synth_s"}` or `{"ok": false, "error"}`. The first line it
writes is `{"ready": true}` once started. The engine (ttskit) is loaded on the first request;
it reconfigures logging and sys.path on import, which is why it lives in its own process.
Anything the engine prints goes to stderr; stdout carries only the answers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ENGINE_RATE = 22050


def patch_librosa() -> None:
    """ttskit 0.3.8 calls two librosa functions positionally that became keyword-only."""
    import librosa.filters
    import librosa.util

    if getattr(librosa.util.pad_center, "_synth_patched", False):
        return
    pad_center, mel = librosa.util.pad_center, librosa.filters.mel

    def pad_center_compat(data, *args, **kwargs):
        if args:
            kwargs["size"] = args[0]
        return pad_center(data, **kwargs)

    def mel_compat(*args, **kwargs):
        kwargs.update(zip(("sr", "n_fft", "n_mels", "fmin", "fmax"), args, strict=False))
        return mel(**kwargs)

    pad_center_compat._synth_patched = True
    librosa.util.pad_center = pad_center_compat
    librosa.filters.mel = mel_compat


class Engine:
    def __init__(self, threads: int):
        os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
        os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")  # else ~70 MB a sentence
        patch_librosa()
        import numpy as np
        import torch

        torch.set_num_threads(threads)
        from ttskit import sdk_api

        self.np, self.torch, self.sdk = np, torch, sdk_api

    def speak(self, text: str, voice: str, seed: int):
        import io

        import soundfile as sf

        random.seed(seed)
        self.np.random.seed(seed % 2**32)
        self.torch.manual_seed(seed)
        with self.torch.inference_mode():
            data = self.sdk.tts_sdk_base(text, speaker=voice, audio="_")
        samples, rate = sf.read(io.BytesIO(data), dtype="float32")
        return samples, rate


def resample(samples, rate: int, target: int):
    from math import gcd

    from scipy.signal import resample_poly

    if rate == target:
        return samples
    g = gcd(rate, target)
    return resample_poly(samples, target // g, rate // g).astype("float32")


def write_atomically(path: Path, samples, rate: int) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.wav")
    sf.write(tmp, samples, rate, subtype="PCM_16")
    os.replace(tmp, path)


def serve(rate: int, threads: int, requests, answer) -> None:
    engine: Engine | None = None
    for line in requests:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            started = time.perf_counter()
            if engine is None:
                engine = Engine(threads)
            samples, engine_rate = engine.speak(request["text"], request["voice"], request["seed"])
            samples = resample(samples, engine_rate, rate)
            write_atomically(Path(request["out"]), samples, rate)
            reply = {
                "ok": True,
                "out": request["out"],
                "seconds": round(len(samples) / rate, 3),
                "synth_s": round(time.perf_counter() - started, 3),
            }
        except Exception as exc:  # one bad sentence must not end the worker
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        answer(reply)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints go to stderr

    def answer(reply: dict) -> None:
        channel.write(json.dumps(reply, ensure_ascii=False) + "\n")
        channel.flush()

    answer({"ready": True, "pid": os.getpid()})
    serve(args.rate, args.threads, sys.stdin, answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
