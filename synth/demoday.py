"""A bundled demo day: real recordings arranged as `<out>/<date>/` with a manifest.

Sources: audio inside installed packages, and the project's own recordings, which ship with
this package in `data/` beside this module (CLIPS; how they were made: data/README.md):
- Mandarin: the two clips inside the `fasr` package (AISHELL read speech, a lecture);
- English telephone conversation: `sample.wav` inside `pyannote.audio`;
- English stereo call: data/en_stereo_call.flac (espeak-ng, made by this project);
- Mandarin call-centre calls: data/zh_*_call.flac (text-to-speech, made by this project:
  a failed online pre-order with a threat to go to the regulator; a billing dispute).
Plus a silent call and a corrupt file, so the demo shows how the night treats them.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
from pathlib import Path

import numpy as np
from callscope.core.errors import CallscopeError
from callscope.core.logs import get_logger

logger = get_logger(__name__)

DEMO_DATE = dt.date(2026, 11, 20)
# The project's own recordings (and the Mandarin calls' scripts), package data of
# callscope.synth: the same folder in a checkout and in an installed wheel.
CLIPS = Path(__file__).resolve().parent / "data"
OWN_STEREO_CALL = CLIPS / "en_stereo_call.flac"
OWN_ZH_PREORDER_CALL = CLIPS / "zh_preorder_call.flac"
OWN_ZH_BILLING_CALL = CLIPS / "zh_billing_call.flac"


class DemoError(CallscopeError):
    """The demo day cannot be built (a package that carries its audio is missing)."""


def package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DemoError(f"package {package} is not installed; run `make install` first")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.is_file():
        raise DemoError(f"{path} is missing from the installed {package} package")
    return path


def load(path: Path, rate: int) -> np.ndarray:
    """Mono float32 at `rate`."""
    import librosa

    audio, _ = librosa.load(path, sr=rate, mono=True)
    return audio.astype(np.float32)


def write(path: Path, samples: np.ndarray, rate: int, subtype: str | None = None) -> None:
    import soundfile as sf

    fmt = {".opus": "OGG", ".mp3": "MP3"}.get(path.suffix)
    sf.write(path, samples, rate, format=fmt, subtype="OPUS" if fmt == "OGG" else subtype)


def stereo(left: np.ndarray, right: np.ndarray, right_offset_s: float, rate: int) -> np.ndarray:
    offset = int(right_offset_s * rate)
    length = max(len(left), offset + len(right))
    out = np.zeros((length, 2), dtype=np.float32)
    out[: len(left), 0] = left
    out[offset : offset + len(right), 1] = right
    return out


def build_demo_day(out: Path, day: dt.date = DEMO_DATE) -> Path:
    """Write the demo day's recordings and manifest under `out/<day>/`; returns that folder."""
    folder = Path(out) / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    zh_short = load(package_file("fasr", "asset", "example", "asr_example.wav"), 16000)
    zh_long = load(package_file("fasr", "asset", "example", "vad_example.wav"), 8000)
    en_phone = load(package_file("pyannote.audio", "sample", "sample.wav"), 8000)
    zh_agent = load(package_file("fasr", "asset", "example", "vad_example.wav"), 16000)[: 16000 * 9]
    calls = [
        ("zh-0001", ".wav", zh_short, 16000, "PCM_16", "mono", "broadband", "inbound"),
        ("zh-0002", ".flac", zh_long, 8000, None, "mono", "billing", "inbound"),
        (
            "zh-0003",
            ".flac",
            stereo(zh_agent, zh_short, 9.5, 16000),
            16000,
            None,
            "agent_left",
            "preorder",
            "inbound",
        ),
        ("en-0004", ".wav", en_phone, 8000, "ULAW", "mono", "international", "inbound"),
        (
            "en-0005",
            ".mp3",
            load_stereo(OWN_STEREO_CALL),
            8000,
            None,
            "agent_left",
            "international",
            "outbound",
        ),
        ("hold-0006", ".opus", hold_music(8000), 8000, None, "mono", "billing", "inbound"),
        (
            "zh-0009",
            ".flac",
            load_stereo(OWN_ZH_PREORDER_CALL),
            8000,
            None,
            "agent_left",
            "preorder",
            "inbound",
        ),
        (
            "zh-0010",
            ".wav",
            load_stereo(OWN_ZH_BILLING_CALL).mean(axis=1),
            8000,
            "ULAW",
            "mono",
            "billing",
            "inbound",
        ),
        (
            "en-0008",
            ".wav",
            load_stereo(OWN_STEREO_CALL).mean(axis=1),
            8000,
            "PCM_16",
            "mono",
            "preorder",
            "inbound",
        ),
    ]
    rows = []
    for index, (call_id, ext, samples, rate, subtype, layout, queue, direction) in enumerate(calls):
        path = folder / f"{call_id}{ext}"
        if not path.exists():  # Ogg streams get a random serial: rewriting would change them
            write(path, samples, rate, subtype)
        rows.append(_manifest_row(call_id, day, index, layout, queue, direction))
    (folder / "corrupt-0007.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(64)))
    rows.append(_manifest_row("corrupt-0007", day, len(rows), "mono", "billing", "inbound"))
    rows = _merged(folder / "manifest.csv", rows)
    with (folder / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    logger.info("demo day %s written to %s (%d recordings)", day, folder, len(rows))
    return folder


def _merged(manifest: Path, rows: list[dict]) -> list[dict]:
    """Rows of an existing manifest (a generated demo day in the same folder) kept, ours added."""
    if not manifest.exists():
        return rows
    ours = {row["call_id"] for row in rows}
    with manifest.open(newline="", encoding="utf-8") as handle:
        kept = [
            {key: row.get(key, "") for key in rows[0]}
            for row in csv.DictReader(handle)
            if row.get("call_id") not in ours
        ]
    return kept + rows


def hold_music(rate: int, music_s: float = 8.0, silence_s: float = 4.0) -> np.ndarray:
    """A few bars of a synthesised hold tune followed by silence: a call nobody answered."""
    t = np.arange(int(music_s * rate)) / rate
    notes = 262 * 2 ** (np.array([0, 4, 7, 12, 7, 4]) / 12)
    pitch = notes[(t * 2).astype(int) % len(notes)]
    tune = 0.15 * sum(np.sin(2 * np.pi * k * pitch * t) / k for k in (1, 2, 3))
    return np.concatenate([tune, np.zeros(int(silence_s * rate))]).astype(np.float32)


def load_stereo(path: Path) -> np.ndarray:
    import soundfile as sf

    samples, _ = sf.read(path, dtype="float32", always_2d=True)
    return samples


def _manifest_row(call_id, day, index, layout, queue, direction) -> dict:
    started = dt.datetime.combine(day, dt.time(9, 0)) + dt.timedelta(minutes=17 * index)
    return {
        "call_id": call_id,
        "started_at": started.isoformat(),
        "agent_id": f"A{100 + index % 3}",
        "queue": queue,
        "direction": direction,
        "customer_tier": "vip" if index % 4 == 0 else "standard",
        "channel_layout": layout,
    }
