"""ASR throughput per backend, model and batch size on the demo audio: x real time and memory.

    python bench/gpu.py [--device cuda|cpu] [--backends transformers,faster-whisper]
                        [--models pkg:whisper-base,arch:large-v3-turbo,arch:large-v3]
                        [--batch-sizes 8,16,32,64] [--minutes 20] [--audio DIR]... [--tokens N]

The demo day's calls (or the files of every --audio folder) are cut into the pipeline's VAD
windows (up to 30 s of speech each, every channel); the windows are repeated until --minutes of
call audio are reached, then decoded with each model and batch size: the ASR stage alone, beam
size, prompt, hotwords and word times as configured. x real time = seconds of channel audio
decoded / wall seconds. `arch:NAME` is the NAME architecture with randomly initialised weights
(no weights of that size are at hand offline): it decodes a fixed number of tokens per
window, the mean of the real model's transcripts of the same windows (or --tokens), and the
output says so. Memory is the torch allocator's peak on CUDA (not measurable for
faster-whisper there).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callscope.core.config import load_config  # noqa: E402

ARCHITECTURES = {  # openai/whisper-large-v3 and -large-v3-turbo config.json dimensions
    "large-v3": dict(decoder_layers=32),
    "large-v3-turbo": dict(decoder_layers=4),
}
REPO = Path(__file__).resolve().parent.parent


def windows_of(paths: list[Path], asr) -> list[tuple]:
    """(clip, language) for every VAD window of every channel, as the pipeline cuts them."""
    from callscope.asr.audio import decode
    from callscope.asr.transcribe import speech_chunks
    from faster_whisper.vad import collect_chunks

    found = []
    for path in paths:
        audio = decode(path.read_bytes(), path.name)
        for channel in range(audio.samples.shape[0]):
            samples = audio.samples[channel]
            chunks = speech_chunks(samples, asr)
            if chunks:
                clips, _ = collect_chunks(samples, chunks, max_duration=30)
                language = "en" if path.name.startswith("en") else "zh"
                found += [(clip, language) for clip in clips if len(clip)]
    return found


def demo_audio(folders: list[Path] | None) -> list[Path]:
    if folders:
        return sorted(
            p for folder in folders for p in folder.rglob("*") if p.suffix in {".wav", ".flac"}
        )
    try:
        from callscope.synth.demoday import build_demo_day

        day = build_demo_day(Path(tempfile.mkdtemp(prefix="callscope-gpu-bench-")))
        return sorted(p for p in day.iterdir() if p.suffix in {".wav", ".flac"})
    except (ImportError, FileNotFoundError) as exc:  # the packages that carry its audio
        print(f"demo day unavailable ({exc}); using tests/data and synth/data")
        return demo_audio([REPO / "tests" / "data", REPO / "synth" / "data"])


def real_whisper(settings):
    from callscope.asr.models import get_model

    return get_model(settings).whisper


def random_whisper(arch: str, base, device: str):
    """The architecture with random weights, the base model's tokenizer and special ids."""
    import torch
    from callscope.asr.hf_backend import HfWhisper
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    config = WhisperConfig(
        vocab_size=51866,
        num_mel_bins=128,
        d_model=1280,
        encoder_layers=32,
        encoder_attention_heads=20,
        decoder_attention_heads=20,
        encoder_ffn_dim=5120,
        decoder_ffn_dim=5120,
        max_source_positions=1500,
        max_target_positions=448,
        decoder_start_token_id=50258,
        eos_token_id=50257,
        pad_token_id=50257,
        **ARCHITECTURES[arch],
    )
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    with torch.device(device):
        model = WhisperForConditionalGeneration._from_config(
            config, dtype=dtype, attn_implementation="sdpa"
        )
    model.eval()
    gen = model.generation_config
    gen.alignment_heads = [[config.decoder_layers - 1, h] for h in range(6)]
    gen.lang_to_id = dict(base.model.generation_config.lang_to_id)
    gen.begin_suppress_tokens = [220, 50257]
    return HfWhisper(model, base.tokenizer, device, base.beam_size)


def decode_all(whisper, requests, batch_size: int, device: str) -> tuple[float, float | None, list]:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    segments = whisper.decode(requests, batch_size)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = None
    return time.perf_counter() - started, peak, segments


def faster_whisper_rate(settings, windows, batch_size: int) -> float:
    """The same windows through faster-whisper's batched pipeline (one clip per window)."""
    import numpy as np
    from callscope.asr.models import get_model
    from faster_whisper import BatchedInferencePipeline

    asr = settings.asr
    model = get_model(settings)
    batched = BatchedInferencePipeline(model)
    started = time.perf_counter()
    for language in sorted({lang for _, lang in windows}):
        clips = [clip for clip, lang in windows if lang == language]
        joined = np.concatenate(clips)
        edges = np.cumsum([0] + [len(c) for c in clips]) / 16000
        spans = [{"start": a, "end": b} for a, b in zip(edges, edges[1:], strict=False)]
        segments, _ = batched.transcribe(
            joined,
            language=language,
            batch_size=batch_size,
            beam_size=asr.beam_size,
            initial_prompt=asr.initial_prompts.get(language),
            hotwords=asr.hotwords.get(language) or None,
            word_timestamps=asr.word_timestamps,
            clip_timestamps=spans,
            vad_filter=False,
        )
        list(segments)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backends", default="transformers")
    parser.add_argument("--models", default="pkg:whisper-base,arch:large-v3-turbo,arch:large-v3")
    parser.add_argument("--batch-sizes", default="8,16,32,64")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--audio", type=Path, action="append", default=None)
    parser.add_argument("--tokens", type=int, default=None, help="tokens per window, arch: models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch
    from callscope.asr.hf_backend import ChunkRequest

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    settings = load_config(args.config)
    asr = settings.asr.model_copy(update={"device": device, "backend": "transformers"})
    settings = settings.model_copy(update={"asr": asr})
    paths = demo_audio(args.audio)
    windows = windows_of(paths, asr)
    one_pass_s = sum(len(clip) for clip, _ in windows) / 16000
    repeat = max(1, round(args.minutes * 60 / max(one_pass_s, 1e-9)))
    windows = windows * repeat
    audio_s = one_pass_s * repeat
    requests = [
        ChunkRequest(clip, 0.0, lang, asr.initial_prompts.get(lang), asr.hotwords.get(lang) or None)
        for clip, lang in windows
    ]
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu"
    print(
        f"{gpu}: {len(paths)} files, {len(windows)} windows ({repeat} passes), "
        f"{audio_s / 60:.1f} min of channel speech; beam {asr.beam_size}, torch {torch.__version__}"
    )
    base = real_whisper(settings)
    tokens = args.tokens
    if tokens is None:  # the real model's mean transcript length per window, one pass
        _, _, segments = decode_all(base, requests[: len(windows) // repeat], 16, device)
        tok = base._fw_tokenizer("zh")
        lengths = [len(tok.encode(" " + s.text)) if s else 0 for s in segments]
        tokens = max(1, round(sum(lengths) / max(len(lengths), 1)))
        print(f"mean tokens per window of {asr.model}: {tokens}")
    for name in args.models.split(","):
        if name.startswith("arch:"):
            whisper = random_whisper(name[5:], base, device)
            whisper.fixed_tokens = tokens
            label = f"{name[5:]} (random weights, {tokens} tokens per window)"
        else:
            whisper = (
                base
                if name == asr.model
                else real_whisper(
                    settings.model_copy(update={"asr": asr.model_copy(update={"model": name})})
                )
            )
            label = name
        decode_all(whisper, requests[:2], 2, device)  # warm-up: kernels, caches
        for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
            try:
                wall, peak, _ = decode_all(whisper, requests, batch_size, device)
            except torch.OutOfMemoryError:
                print(f"transformers    {label}: batch {batch_size:3d}: out of memory")
                torch.cuda.empty_cache()
                break
            memory = f"{peak:6.1f} GiB peak" if peak is not None else "memory n/a (cpu)"
            print(
                f"transformers    {label}: batch {batch_size:3d}: {audio_s / wall:8.1f}x real time"
                f" ({wall:.1f} s), {memory}"
            )
        del whisper
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    if "faster-whisper" in args.backends.split(","):
        fw = settings.model_copy(
            update={"asr": asr.model_copy(update={"backend": "faster-whisper"})}
        )
        for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
            try:
                wall = faster_whisper_rate(fw, windows, batch_size)
            except (RuntimeError, OSError) as exc:  # CUDA 12 libraries missing, say
                print(f"faster-whisper  {asr.model}: unavailable on {device}: {exc}")
                break
            print(
                f"faster-whisper  {asr.model}: batch {batch_size:3d}: "
                f"{audio_s / wall:8.1f}x real time ({wall:.1f} s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
