"""Write demo days: `<out>/<YYYY-MM-DD>/` with recordings, manifest.csv and truth.json.

`generate` plans the days (synth.scripts), speaks every turn (synth.tts, cached), mixes the
calls (synth.mix) and writes each day folder in the layout storage.recordings reads. In
text-only mode it writes no audio: truth.json (with estimated turn times) and the manifest.
A rerun with the same arguments reproduces identical files and rewrites none of them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from callscope.core.logs import get_logger
from callscope.storage.recordings import MANIFEST_COLUMNS
from callscope.synth.scripts import CallScript, DayPlan, plan_days

logger = get_logger(__name__)

LAST_DEMO_DAY = dt.date(2026, 11, 20)
BATCH = 12  # calls whose sentences are spoken together, so every worker has work
Progress = Callable[[int, int], None]
_OWN_AUDIO = re.compile(r"^\d{8}-\d{5}\.(?:wav|flac)$")


def generate(
    out: Path,
    start: dt.date,
    days: int,
    seed: int,
    calls_per_day: int,
    launch_calls: int,
    text_only: bool = False,
    progress: Progress | None = None,
    *,
    cache_dir: Path | None = None,
    workers: int | None = None,
    spikes: dict[dt.date, dict[str, int]] | None = None,
    english_share: float = 0.1,
) -> list[Path]:
    """Write `days` day folders from `start` under `out`; returns the folders.

    The last day is the launch day with `launch_calls` planted pre-order failures. Audio needs
    ttskit (`make tts`); English calls also need espeak-ng, else they stay text only (left out
    of the folder and the manifest, kept in truth.json). Sentences are cached in `cache_dir`
    (default `<out>/.tts-cache`); `workers` text-to-speech processes run (default: one per
    core, at most 4)."""
    out = Path(out)
    plans = plan_days(
        start, days, seed, calls_per_day, launch_calls, spikes=spikes, english_share=english_share
    )
    total = sum(len(plan.calls) for plan in plans)
    counter = _Counter(total, progress)
    if text_only:
        return [_write_day(out, plan, seed, counter, None) for plan in plans]
    from callscope.synth.tts import Synthesizer, espeak_available, require_ttskit

    require_ttskit()
    english = espeak_available()
    if not english and any(c.language == "en" for plan in plans for c in plan.calls):
        logger.warning("espeak-ng is not on PATH: English calls are written to truth.json only")
    n_workers = workers or max(1, min(4, os.cpu_count() or 1))
    with Synthesizer(cache_dir or out / ".tts-cache", workers=n_workers) as synth:
        folders = [_write_day(out, plan, seed, counter, (synth, english)) for plan in plans]
        logger.info(
            "sentences: %d from the cache, %d spoken (%.0f s of speech in %.0f s of engine time)",
            synth.hits,
            synth.misses,
            synth.audio_s,
            synth.synth_s,
        )
    return folders


class _Counter:
    def __init__(self, total: int, progress: Progress | None):
        self.total, self.done, self.progress = total, 0, progress
        self.started = time.perf_counter()

    def step(self, call: CallScript, audio_s: float | None) -> None:
        self.done += 1
        rate = self.done / max(time.perf_counter() - self.started, 1e-9)
        if audio_s is not None:
            logger.info(
                "call %d/%d %s (%s, %.1f s audio) %.2f calls/s",
                self.done,
                self.total,
                call.call_id,
                call.topic,
                audio_s,
                rate,
            )
        else:
            logger.debug("call %d/%d %s %.0f calls/s", self.done, self.total, call.call_id, rate)
        if self.progress is not None:
            self.progress(self.done, self.total)


def _write_day(out: Path, plan: DayPlan, seed: int, counter: _Counter, audio) -> Path:
    folder = out / plan.date.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if audio is None:
        for call in plan.calls:
            call.turn_times = None
            counter.step(call, None)
        files = {call.call_id: None for call in plan.calls}
    else:
        files = _write_audio(folder, plan.calls, counter, *audio)
    if audio is not None:
        _remove_stale(folder, {name for name in files.values() if name})
    listed = [c for c in plan.calls if audio is None or files.get(c.call_id)]
    _write_if_changed(folder / "manifest.csv", _manifest(listed))
    _write_if_changed(folder / "truth.json", _truth(plan, seed, audio is None, files))
    logger.info(
        "day %s: %d calls (%.0f calls/s), planted %s -> %s",
        plan.date,
        len(plan.calls),
        len(plan.calls) / max(time.perf_counter() - started, 1e-9),
        plan.planted or "nothing",
        folder,
    )
    return folder


def _write_audio(folder: Path, calls: Sequence[CallScript], counter, synth, english: bool):
    from callscope.synth.mix import encode, mix_call
    from callscope.synth.tts import SpeechRequest, sentence_seed

    files: dict[str, str | None] = {}
    speakable = [c for c in calls if c.language != "en" or english]
    for call in calls:
        if call.language == "en" and not english:
            files[call.call_id] = None
            counter.step(call, None)
    for at in range(0, len(speakable), BATCH):
        batch = speakable[at : at + BATCH]
        requests = [
            SpeechRequest(
                t.text, c.voices[t.role], sentence_seed(c.voices[t.role], t.text), c.language
            )
            for c in batch
            for t in c.turns
        ]
        clips = synth.synthesize_many(requests)
        for call in batch:
            speech, clips = clips[: len(call.turns)], clips[len(call.turns) :]
            mixed = mix_call(call, speech)
            call.turn_times = mixed.turn_times
            ext, data = encode(mixed, call.file_format)
            _write_if_changed(folder / f"{call.call_id}{ext}", data)
            files[call.call_id] = f"{call.call_id}{ext}"
            counter.step(call, mixed.duration_s)
    return files


def _remove_stale(folder: Path, keep: set[str]) -> None:
    """Recordings a previous run with other arguments left behind (our own names only)."""
    for path in folder.iterdir():
        if path.is_file() and _OWN_AUDIO.match(path.name) and path.name not in keep:
            path.unlink()


def _manifest(calls: Sequence[CallScript]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for call in calls:
        writer.writerow(call.manifest_row())
    return buffer.getvalue().encode("utf-8")


def _truth(plan: DayPlan, seed: int, text_only: bool, files: dict[str, str | None]) -> bytes:
    calls = []
    for call in plan.calls:
        row = call.truth()
        row["file"] = files.get(call.call_id)
        row["times"] = "estimated" if call.turn_times is None else "measured"
        calls.append(row)
    truth = {
        "date": plan.date.isoformat(),
        "seed": seed,
        "text_only": text_only,
        "planted": plan.planted,
        "topics": plan.topics,
        "calls": calls,
    }
    indent = 1 if len(calls) <= 1000 else None  # big benchmark days stay compact
    return (json.dumps(truth, ensure_ascii=False, indent=indent) + "\n").encode("utf-8")


def _write_if_changed(path: Path, data: bytes) -> bool:
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def default_start(days: int, last_day: dt.date = LAST_DEMO_DAY) -> dt.date:
    """The first day such that the launch day (the last one) is `last_day`."""
    return last_day - dt.timedelta(days=days - 1)
