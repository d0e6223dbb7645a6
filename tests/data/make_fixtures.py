"""Re-create the English recordings (needs espeak-ng and sox on PATH): the mono clip in this
folder, the stereo call in the demo day's own recordings (synth/data/, CLIPS).

    python tests/data/make_fixtures.py

They are synthetic speech made by this project, free of third-party rights.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from callscope.synth.demoday import CLIPS

HERE = Path(__file__).resolve().parent
RATE = 8000
AGENT_VOICE = "en-us"
CUSTOMER_VOICE = "en-us+f3"
CALL = [
    ("agent", "Thank you for calling customer service. How can I help you today?"),
    ("customer", "Hello. My online pre-order failed, and I cannot check the delivery status."),
    ("agent", "I am sorry about that. Let me look up your order now."),
    ("customer", "Thank you very much."),
]
MONO = "Hello, I would like to change my mobile plan to the unlimited data package."


def speak(text: str, voice: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp) / "raw.wav", Path(tmp) / "out.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
        subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", str(out)], check=True)
        audio, _ = sf.read(out, dtype="float32")
    return audio


def stereo_call() -> np.ndarray:
    gap = np.zeros(int(0.6 * RATE), dtype=np.float32)
    left, right = [gap], [gap]
    for speaker, text in CALL:
        turn = speak(text, AGENT_VOICE if speaker == "agent" else CUSTOMER_VOICE)
        silence = np.zeros_like(turn)
        left += [turn if speaker == "agent" else silence, gap]
        right += [turn if speaker == "customer" else silence, gap]
    return np.stack([np.concatenate(left), np.concatenate(right)], axis=1)


def main() -> None:
    sf.write(CLIPS / "en_stereo_call.flac", stereo_call(), RATE)
    sf.write(HERE / "en_mono.wav", speak(MONO, AGENT_VOICE), RATE, subtype="PCM_16")
    for path in (CLIPS / "en_stereo_call.flac", HERE / "en_mono.wav"):
        print(path.name, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
