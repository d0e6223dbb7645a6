"""Pipeline speed on the demo day against bare faster-whisper on the same audio, in one run.

    python bench/speed.py [--config FILE] [--repeat N] [--backend faster-whisper|transformers]

Both sides use the same loaded model and the same decoding options; the pipeline adds
decoding once per call, hashing, channel handling, language restriction, guards, speakers,
redaction, voice emotion, categories, statement vectors, Parquet and the day's steps.
Prints x real time, the ratio pipeline / bare (target <= 1.15), how much of the pipeline's CPU
share ran beside the recogniser (pipeline/runner.py) and each step's time.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callscope.asr.models import get_model  # noqa: E402
from callscope.core.config import load_config  # noqa: E402
from callscope.pipeline.night import load_models, run_night  # noqa: E402
from callscope.storage.recordings import LocalRecordingSource  # noqa: E402
from callscope.storage.warehouse import Warehouse  # noqa: E402
from callscope.synth.demoday import DEMO_DATE, build_demo_day  # noqa: E402


def bare_night(model, settings, files: list[tuple[Path, bool]]) -> float:
    """faster-whisper alone: its own decoding and language detection, same options."""
    from faster_whisper import BatchedInferencePipeline
    from faster_whisper.audio import decode_audio

    asr = settings.asr
    batched = BatchedInferencePipeline(model) if asr.batch_size > 0 else None
    extra = {"batch_size": asr.batch_size} if batched else {}
    started = time.perf_counter()
    for path, stereo in files:
        channels = (
            decode_audio(str(path), split_stereo=True) if stereo else [decode_audio(str(path))]
        )
        for channel in channels:
            segments, info = (batched or model).transcribe(
                channel,
                **extra,
                beam_size=asr.beam_size,
                word_timestamps=asr.word_timestamps,
                condition_on_previous_text=False,
                vad_filter=True,
                vad_parameters=asr.vad.model_dump(),
                no_speech_threshold=asr.no_speech_threshold,
                log_prob_threshold=asr.log_prob_threshold,
                compression_ratio_threshold=asr.compression_ratio_threshold,
            )
            list(segments)
    return time.perf_counter() - started


def pipeline_night(settings, source, root: Path, run: int):
    warehouse = Warehouse(root / f"warehouse-{run}")
    summary = run_night(DEMO_DATE, source, warehouse, settings, progress=lambda outcome: None)
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side; best is kept")
    parser.add_argument(
        "--backend",
        choices=["faster-whisper", "transformers"],
        default=None,
        help="the pipeline's ASR backend (default: the config's); bare is faster-whisper",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    settings = load_config(args.config)
    fw_settings = settings.model_copy(
        update={"asr": settings.asr.model_copy(update={"backend": "faster-whisper"})}
    )
    if args.backend:
        settings = settings.model_copy(
            update={"asr": settings.asr.model_copy(update={"backend": args.backend})}
        )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_demo_day(root / "recordings")
        source = LocalRecordingSource(root / "recordings", settings.source.extensions)
        model = get_model(fw_settings)
        load_models(settings)  # both sides start with their models loaded
        pipeline_s, bare_s, summary = [], [], None
        for run in range(args.repeat):
            summary = pipeline_night(settings, source, root, run)
            pipeline_s.append(summary.wall_s)
            ok = {o.call_id for o in summary.outcomes if o.status == "ok"}
            calls = Warehouse(root / f"warehouse-{run}").read("calls", DEMO_DATE).to_pylist()
            files = [
                (Path(row["source_uri"]), row["channel_layout"] != "mono")
                for row in calls
                if row["call_id"] in ok
            ]
            bare_s.append(bare_night(model, settings, files))
    audio_s = summary.audio_s
    best_pipeline, best_bare = min(pipeline_s), min(bare_s)
    print(
        f"demo day {DEMO_DATE}: {summary.count('ok')} calls ok, {summary.count('error')} error, "
        f"{audio_s:.1f} s of audio; model {settings.asr.model} {settings.asr.device}; pipeline "
        f"backend {settings.asr.backend}"
        f" ({settings.asr.compute_type if settings.asr.backend == 'faster-whisper' else settings.asr.torch_dtype})"
    )
    print(f"pipeline {best_pipeline:.1f} s wall = {audio_s / best_pipeline:.2f}x real time")
    print(f"bare faster-whisper {best_bare:.1f} s wall = {audio_s / best_bare:.2f}x real time")
    print(f"ratio pipeline / bare = {best_pipeline / best_bare:.3f} (target <= 1.15)")
    busy = summary.busy
    if busy.get("cpu_share_overlapped") is not None:
        print(
            f"pipeline's recogniser busy {busy['recogniser_s']:.1f} s; its CPU share (speakers, "
            f"redaction, voice emotion, categories, statement vectors) {busy['cpu_share_s']:.1f} s, "
            f"{busy['cpu_share_overlapped']:.0%} of it beside the recogniser; "
            f"day steps after the calls {sum(o.seconds for o in summary.steps.values()):.1f} s"
        )
        steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in busy["steps_s"].items())
        print(f"per step, all calls: {steps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
