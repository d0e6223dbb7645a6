"""Offline text-to-speech for the demo calls, with an on-disk sentence cache.

Mandarin: ttskit 0.3.8 (Mellotron + MelGAN), voices Siyue (female) and Aida (male), run in
worker processes (`python -m synth.tts_worker`) that stay alive for a whole generation run.
English: espeak-ng when it is on PATH (ttskit cannot speak English).

Every sentence is cached as a 16-bit WAV under a key hashed from (engine, voice, text, seed,
sample rate), so a rerun and repeated agent phrases cost nothing, and workers start only when
a sentence is missing. Output is deterministic: the worker seeds torch, numpy and random per
sentence. Install the engine with `make tts` (see synth/requirements-tts.txt).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from callscope.core.errors import CallscopeError
from callscope.core.logs import get_logger

logger = get_logger(__name__)

TTSKIT_ENGINE = "ttskit-0.3.8/mspk/melgan"
VOICES = {"Siyue": "female", "Aida": "male"}
ESPEAK_VOICES = {"Siyue": "en-us+f3", "Aida": "en-us"}
INSTALL_HINT = "install it with `make tts` (pinned in synth/requirements-tts.txt)"
_ROOT = Path(__file__).resolve().parent.parent


class TtsError(CallscopeError):
    """Text-to-speech is not installed or failed; the message says what to do."""


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    voice: str  # Siyue | Aida
    seed: int
    language: str = "zh"  # zh: ttskit, en: espeak-ng


def ttskit_available() -> bool:
    return importlib.util.find_spec("ttskit") is not None


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def require_ttskit() -> None:
    if not ttskit_available():
        raise TtsError(
            f"the Mandarin text-to-speech engine ttskit is not installed; {INSTALL_HINT}"
        )


def sentence_seed(voice: str, text: str) -> int:
    """The seed a sentence is spoken with: the same sentence sounds the same in every call."""
    return int.from_bytes(hashlib.sha256(f"{voice}|{text}".encode()).digest()[:4], "big")


class Synthesizer:
    """Speaks sentences through the cache; `workers` ttskit processes are started on demand."""

    def __init__(self, cache_dir: Path, rate: int = 8000, workers: int = 1, threads: int = 1):
        self.cache_dir = Path(cache_dir)
        self.rate = rate
        self.n_workers = max(1, workers)
        self.threads = threads
        self._workers: list[_Worker] = []
        self.hits = self.misses = 0
        self.audio_s = self.synth_s = 0.0

    def __enter__(self) -> Synthesizer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
        self._workers = []

    def engine(self, request: SpeechRequest) -> str:
        return _espeak_engine() if request.language == "en" else TTSKIT_ENGINE

    def cache_path(self, request: SpeechRequest) -> Path:
        key = json.dumps(
            [self.engine(request), request.voice, request.text, request.seed, self.rate],
            ensure_ascii=False,
        )
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.cache_dir / digest[:2] / f"{digest}.wav"

    def synthesize(self, text: str, voice: str, seed: int, language: str = "zh") -> np.ndarray:
        return self.synthesize_many([SpeechRequest(text, voice, seed, language)])[0]

    def synthesize_many(self, requests: Sequence[SpeechRequest]) -> list[np.ndarray]:
        """Mono float32 at `rate` for each request, from the cache or freshly spoken."""
        for request in requests:
            if request.voice not in VOICES:
                raise TtsError(f"unknown voice {request.voice!r}; use one of {', '.join(VOICES)}")
        paths = [self.cache_path(r) for r in requests]
        missing = {path: r for path, r in zip(paths, requests, strict=True) if not path.exists()}
        self.hits += len(requests) - len(missing)
        self.misses += len(missing)
        english = [(p, r) for p, r in missing.items() if r.language == "en"]
        mandarin = [(p, r) for p, r in missing.items() if r.language != "en"]
        for path, request in english:
            self._espeak(request, path)
        if mandarin:
            self._run_workers(mandarin)
        return [_read(path) for path in paths]

    # --- Mandarin: worker processes ------------------------------------------------------

    def _run_workers(self, jobs: list[tuple[Path, SpeechRequest]]) -> None:
        require_ttskit()
        while len(self._workers) < min(self.n_workers, len(jobs)):
            log = self.cache_dir / f"tts-worker-{len(self._workers)}.log"
            self._workers.append(_Worker(self.rate, self.threads, log))
        pending: queue.Queue = queue.Queue()
        for job in sorted(jobs, key=lambda job: -len(job[1].text)):  # longest first: short tail
            pending.put(job)
        errors: list[str] = []
        threads = [
            threading.Thread(target=self._drain, args=(worker, pending, errors), daemon=True)
            for worker in self._workers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise TtsError(errors[0])

    def _drain(self, worker: _Worker, pending: queue.Queue, errors: list[str]) -> None:
        while not errors:
            try:
                path, request = pending.get_nowait()
            except queue.Empty:
                return
            try:
                reply = worker.speak(request, path)
            except TtsError as exc:
                errors.append(str(exc))
                return
            self.audio_s += reply["seconds"]
            self.synth_s += reply["synth_s"]

    # --- English: espeak-ng ----------------------------------------------------------------

    def _espeak(self, request: SpeechRequest, path: Path) -> None:
        if not espeak_available():
            raise TtsError("English calls need espeak-ng on PATH (apt-get install espeak-ng)")
        import soundfile as sf
        from callscope.synth.tts_worker import resample, write_atomically

        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.wav"
            voice = ESPEAK_VOICES[request.voice]
            cmd = ["espeak-ng", "-v", voice, "-s", "155", "-w", str(raw), request.text]
            subprocess.run(cmd, check=True, capture_output=True)
            samples, rate = sf.read(raw, dtype="float32")
        samples = resample(samples, rate, self.rate)
        write_atomically(path, samples, self.rate)
        self.audio_s += len(samples) / self.rate
        self.synth_s += time.perf_counter() - started


class _Worker:
    """One `python -m synth.tts_worker` process, spoken to over JSON lines."""

    def __init__(self, rate: int, threads: int, log: Path):
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", PYTHONUNBUFFERED="1")
        env.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")  # one shape per sentence: no leak
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-m", "callscope.synth.tts_worker", "--rate", str(rate)]
        with log.open("w", encoding="utf-8") as stderr:
            self.proc = subprocess.Popen(
                [*cmd, "--threads", str(threads)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
                text=True,
                encoding="utf-8",
                bufsize=1,
            )
        ready = self._reply()
        if not ready.get("ready"):
            raise TtsError(f"the text-to-speech worker did not start: {ready}")
        logger.debug("tts worker %d started (log %s)", self.proc.pid, log)

    def speak(self, request: SpeechRequest, path: Path) -> dict:
        line = {
            "text": request.text,
            "voice": request.voice,
            "seed": request.seed,
            "out": str(path),
        }
        try:
            self.proc.stdin.write(json.dumps(line, ensure_ascii=False) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise TtsError(f"the text-to-speech worker died ({exc}); {self._tail()}") from exc
        reply = self._reply()
        if not reply.get("ok"):
            raise TtsError(f"text-to-speech failed for {request.text!r}: {reply.get('error')}")
        return reply

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(timeout=30)
            raise TtsError(f"the text-to-speech worker exited with code {code}; {self._tail()}")
        return json.loads(line)

    def _tail(self) -> str:
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return f"see {self.log}"
        return f"last lines of {self.log}: " + " | ".join(lines[-5:])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


_espeak_version: str | None = None


def _espeak_engine() -> str:
    global _espeak_version
    if _espeak_version is None:
        try:
            out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True)
            _espeak_version = out.stdout.split("Data at")[0].strip() or "espeak-ng"
        except OSError:
            _espeak_version = "espeak-ng"
    return _espeak_version


def _read(path: Path) -> np.ndarray:
    import soundfile as sf

    samples, _ = sf.read(path, dtype="float32")
    return samples
