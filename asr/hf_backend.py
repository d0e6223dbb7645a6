"""Whisper on transformers / torch: the second ASR backend (`asr.backend: transformers`).

It decodes the same VAD chunks as the faster-whisper pipeline, with the same prompt, hotwords,
language restriction and beam size, and returns segments shaped like faster-whisper's (text,
words with times and probabilities, avg_logprob, no_speech_prob, compression_ratio), so the
guards and everything after ASR are shared. Chunks of every call that is being transcribed at
the same moment go through one `DecodeQueue`, so a GPU batch is filled from several calls.

Word times come from the cross-attention of the model's alignment heads and dynamic time
warping, as in openai-whisper and faster-whisper.
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass, field

import numpy as np
from callscope.core.logs import get_logger
from callscope.core.records import SAMPLE_RATE

logger = get_logger(__name__)

FRAMES_PER_S = 50  # encoder positions a second (1500 per 30 s window)
WINDOW_S = 30
MEDIAN_FILTER = 7
BLANK = 220  # the lone space token
N_FFT, HOP = 400, 160
FRAMES = WINDOW_S * SAMPLE_RATE // HOP  # mel frames in a window (3000)
PREPEND_PUNCTUATION = "\"'“¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"
SENTENCE_END_MARKS = ".。!！?？"


@dataclass
class Word:
    word: str
    start: float
    end: float
    probability: float


@dataclass
class RawSegment:
    """What faster-whisper's Segment offers to the guards in asr/transcribe.py."""

    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0


@dataclass
class ChunkRequest:
    audio: np.ndarray  # up to 30 s at 16 kHz
    offset_s: float  # where the chunk starts in the channel
    language: str
    prompt: str | None = None
    hotwords: str | None = None


class HfWhisper:
    """One transformers Whisper model with its tokenizer and features, ready to decode."""

    def __init__(self, model, tokenizer, device: str, beam_size: int):
        import torch

        self.model = model
        self.tokenizer = tokenizer  # a tokenizers.Tokenizer (tokenizer.json)
        self.device = device
        self.dtype = next(model.parameters()).dtype
        self.beam_size = beam_size
        self.alignment_heads = [tuple(h) for h in model.generation_config.alignment_heads]
        self.lang_to_id = dict(model.generation_config.lang_to_id)
        self.vocab_size = model.config.vocab_size
        self.no_speech_id = self._fw_tokenizer("en").no_speech
        self._torch = torch
        self._lock = threading.Lock()
        self._mask_cache: dict[str, tuple] = {}
        self.eot = model.config.eos_token_id
        self.begin_suppressed = list(
            model.generation_config.begin_suppress_tokens or [BLANK, self.eot]
        )
        self._mel_filters = None
        self._window = None
        self.fixed_tokens: int | None = None  # benchmarks: decode exactly this many tokens

    # tokens ------------------------------------------------------------------------------------
    def _fw_tokenizer(self, language: str):
        from faster_whisper.tokenizer import Tokenizer

        return Tokenizer(self.tokenizer, True, task="transcribe", language=language)

    def prompt_tokens(self, language: str, prompt: str | None, hotwords: str | None) -> list[int]:
        """The decoder prompt faster-whisper builds for a batched chunk without timestamps."""
        tok = self._fw_tokenizer(language)
        half = self.model.config.max_target_positions // 2
        tokens: list[int] = []
        if prompt or hotwords:
            tokens.append(tok.sot_prev)
            if hotwords:
                tokens += tok.encode(" " + hotwords.strip())[: half - 1]
            if prompt:
                tokens += tok.encode(prompt)[-(half - 1) :]
        return tokens + list(tok.sot_sequence) + [tok.no_timestamps]

    def suppressed(self, language: str) -> list[int]:
        """faster-whisper's default suppression (`suppress_tokens=[-1]`); timestamps are left
        alone, as CTranslate2 leaves them when the prompt ends in <|notimestamps|>."""
        from faster_whisper.transcribe import get_suppressed_tokens

        return list(get_suppressed_tokens(self._fw_tokenizer(language), [-1]))

    def _masks(self, language: str):
        """Additive logit masks: every step, and the first step (no blank or empty output)."""
        if language not in self._mask_cache:
            torch = self._torch
            always = torch.zeros(self.vocab_size, device=self.device)
            always[self.suppressed(language)] = float("-inf")
            first = always.clone()
            first[self.begin_suppressed] = float("-inf")
            self._mask_cache[language] = (always, first)
        return self._mask_cache[language]

    # model passes ------------------------------------------------------------------------------
    def log_mel(self, clip: np.ndarray):
        """faster-whisper's features for one chunk, computed with torch on the model's device:
        log-mel of the chunk alone (its own peak sets the floor), then zero frames up to 30 s."""
        torch = self._torch
        if self._mel_filters is None:
            from faster_whisper.feature_extractor import FeatureExtractor

            filters = FeatureExtractor(feature_size=self.model.config.num_mel_bins).mel_filters
            self._mel_filters = torch.from_numpy(filters).to(self.device)
            self._window = torch.hann_window(N_FFT, device=self.device)
        audio = torch.from_numpy(np.asarray(clip, dtype=np.float32)).to(self.device)
        audio = torch.nn.functional.pad(audio, (0, HOP))
        stft = torch.stft(audio, N_FFT, HOP, window=self._window, return_complex=True)
        power = stft[..., :-1].abs() ** 2
        log_spec = torch.clamp(self._mel_filters @ power, min=1e-10).log10()
        log_spec = (torch.maximum(log_spec, log_spec.max() - 8.0) + 4.0) / 4.0
        log_spec = log_spec[:, :-1][:, :FRAMES]
        return torch.nn.functional.pad(log_spec, (0, FRAMES - log_spec.shape[-1]))

    def encode(self, clips: list[np.ndarray]):
        torch = self._torch
        with torch.inference_mode():
            feats = torch.stack([self.log_mel(clip) for clip in clips]).to(self.dtype)
            return self.model.model.encoder(feats).last_hidden_state

    def detect_language(self, speech: np.ndarray, windows: int) -> dict[str, float]:
        """Language probabilities averaged over the first `windows` 30 s windows of speech."""
        torch = self._torch
        step = WINDOW_S * SAMPLE_RATE
        clips = [speech[i : i + step] for i in range(0, max(len(speech), 1), step)][:windows]
        with self._lock, torch.inference_mode():
            encoded = self.encode(clips)
            sot = torch.full((len(clips), 1), self.model.config.decoder_start_token_id)
            logits = (
                self.model(encoder_outputs=(encoded,), decoder_input_ids=sot.to(self.device))
                .logits[:, -1]
                .float()
            )
        ids = list(self.lang_to_id.values())
        probs = logits[:, ids].softmax(-1).mean(0).cpu().numpy()
        return {name.strip("<|>"): float(p) for name, p in zip(self.lang_to_id, probs, strict=True)}

    def decode(self, requests: list[ChunkRequest], batch_size: int) -> list[RawSegment | None]:
        """Every chunk's segment (None where nothing was said), in batches of `batch_size`
        chunks that share a language and a prompt."""
        results: list[RawSegment | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault((req.language, req.prompt, req.hotwords), []).append(i)
        for (language, prompt, hotwords), indices in groups.items():
            prompt_ids = self.prompt_tokens(language, prompt, hotwords)
            for start in range(0, len(indices), batch_size):
                batch = indices[start : start + batch_size]
                with self._lock:
                    decoded = self._decode_batch([requests[i] for i in batch], language, prompt_ids)
                for i, segment in zip(batch, decoded, strict=True):
                    results[i] = segment
        return results

    def _decode_batch(self, reqs: list[ChunkRequest], language: str, prompt_ids: list[int]):
        tok = self._fw_tokenizer(language)
        with self._torch.inference_mode():
            encoded = self.encode([req.audio for req in reqs])
            found, no_speech = self.beam_search(encoded, prompt_ids, language, tok.sot)
        texts = [[t for t in tokens if t < self.eot] for tokens, _ in found]
        segments = self._aligned(reqs, encoded, texts, language)
        for i, (tokens, cum_logprob) in enumerate(found):
            if segments[i] is not None:
                segments[i].avg_logprob = cum_logprob / (len(tokens) + 1)
                segments[i].no_speech_prob = no_speech[i]
        return segments

    def beam_search(self, encoded, prompt_ids: list[int], language: str, sot: int):
        """CTranslate2's Whisper beam search (the one faster-whisper runs), on a KV cache:
        masked logits are log-softmaxed, a hypothesis ends at <|endoftext|> among the top
        `beam_size` candidates, a row stops once it holds `beam_size` ended hypotheses, the
        best is chosen by log-probability over its length, and at most half the positions
        are generated. Returns (tokens, summed log-probability) and the no-speech probability
        per row."""
        torch, k = self._torch, self.beam_size
        always, first = self._masks(language)
        limit = self.model.config.max_target_positions
        max_new = min(limit // 2, limit - (len(prompt_ids) - 1))
        if self.fixed_tokens:  # random weights in a benchmark: no early end
            max_new = min(max_new, self.fixed_tokens)
            always, first = always.clone(), first.clone()
            always[self.eot] = first[self.eot] = float("-inf")
        decoder, project = self.model.model.decoder, self.model.proj_out
        out = decoder(
            input_ids=torch.tensor([prompt_ids], device=self.device).expand(len(encoded) * k, -1),
            encoder_hidden_states=encoded.repeat_interleave(k, 0),
            use_cache=True,
        )
        cache, hidden = out.past_key_values, out.last_hidden_state
        at_sot = project(hidden[::k, prompt_ids.index(sot)]).float().softmax(-1)
        no_speech = at_sot[:, self.no_speech_id].tolist()
        logits = project(hidden[:, -1]).float()
        scores = torch.full((len(encoded), k), float("-inf"), device=self.device)
        scores[:, 0] = 0.0
        rows = list(range(len(encoded)))  # rows still decoding, in cache order
        beams: list[list[int]] = [[] for _ in range(len(encoded) * k)]
        ended: list[list[tuple[float, list[int], float]]] = [[] for _ in rows]
        for step in range(max_new):
            logprobs = (logits + (first if step == 0 else always)).log_softmax(-1)
            total = (logprobs.view(len(rows), k, -1) + scores[:, :, None]).view(len(rows), -1)
            top_scores, top_ids = total.topk(2 * k)
            top_scores_l, top_ids_l = top_scores.tolist(), top_ids.tolist()
            last = step == max_new - 1
            keep, sources, tokens, kept_scores = [], [], [], []
            for r, row in enumerate(rows):
                chosen, spare = [], k
                for j in range(k):
                    beam, token = divmod(top_ids_l[r][j], self.vocab_size)
                    pick = j
                    if token == self.eot or last:
                        hyp = beams[r * k + beam] + ([] if token == self.eot else [token])
                        ended[row].append(
                            (_normalised(top_scores_l[r][j], hyp), hyp, top_scores_l[r][j])
                        )
                        for alt in range(spare, 2 * k):
                            if top_ids_l[r][alt] % self.vocab_size != self.eot:
                                pick, spare = alt, alt + 1
                                break
                    chosen.append(pick)
                if last or len(ended[row]) >= k:
                    continue
                keep.append(r)
                for pick in chosen:
                    beam, token = divmod(top_ids_l[r][pick], self.vocab_size)
                    sources.append(r * k + beam)
                    tokens.append(token)
                    kept_scores.append(top_scores[r, pick])
            if not keep:
                break
            beams = [beams[src] + [tok_id] for src, tok_id in zip(sources, tokens, strict=True)]
            cache.self_attention_cache.reorder_cache(torch.tensor(sources, device=self.device))
            if len(keep) < len(rows):  # beams of a row share the encoder output: rows only
                same_rows = [r * k + j for r in keep for j in range(k)]
                cache.cross_attention_cache.reorder_cache(
                    torch.tensor(same_rows, device=self.device)
                )
            rows = [rows[r] for r in keep]
            scores = torch.stack(kept_scores).view(len(rows), k)
            step_ids = torch.tensor(tokens, device=self.device)[:, None]
            hidden = decoder(
                input_ids=step_ids,
                encoder_hidden_states=encoded[: len(rows)],  # unused once the cache holds it
                past_key_values=cache,
                use_cache=True,
            ).last_hidden_state
            logits = project(hidden[:, -1]).float()
        best = [max(hyps, key=lambda h: h[0]) for hyps in ended]
        return [(tokens, cum) for _, tokens, cum in best], no_speech

    def _aligned(self, reqs, encoded, texts: list[list[int]], language: str):
        """Teacher-forced pass over each transcript (as CTranslate2's `align`): text-token
        probabilities and the alignment heads' cross-attention, for the word times."""
        torch = self._torch
        tok = self._fw_tokenizer(language)
        start = list(tok.sot_sequence) + [tok.no_timestamps]
        length = len(start) + max(len(t) for t in texts) + 1
        ids = torch.full((len(texts), length), tok.eot, dtype=torch.long)
        for row, text in enumerate(texts):
            ids[row, : len(start) + len(text) + 1] = torch.tensor(start + text + [tok.eot])
        self.model.set_attn_implementation("eager")
        try:
            with torch.inference_mode():
                out = self.model(
                    encoder_outputs=(encoded,),
                    decoder_input_ids=ids.to(self.device),
                    output_attentions=True,
                )
        finally:
            self.model.set_attn_implementation("sdpa")
        text_probs = out.logits[..., : self.eot].float().softmax(-1).cpu()
        heads = torch.stack(
            [out.cross_attentions[layer][:, head] for layer, head in self.alignment_heads], 1
        )
        heads = heads.float().cpu().numpy()
        segments = []
        for row, (req, text) in enumerate(zip(reqs, texts, strict=True)):
            n = len(text)
            targets = torch.tensor(text, dtype=torch.long)[:, None]
            probs = text_probs[row, len(start) - 1 : len(start) - 1 + n].gather(1, targets)[:, 0]
            segments.append(self._segment(req, tok, text, probs.numpy(), heads[row], len(start)))
        return segments

    def _segment(self, req, tok, text, token_probs, attention, n_start):
        if not text:
            return None
        duration = len(req.audio) / SAMPLE_RATE
        decoded = tok.decode(text)
        words_text = decoded.strip()
        # as faster-whisper: the chunk's duration rounded up to whole seconds
        frames = min(int(np.ceil(duration)) * FRAMES_PER_S, attention.shape[-1])
        words = word_times(tok, text, token_probs, attention, n_start, frames)
        words = [
            Word(
                w["word"],
                round(req.offset_s + w["start"], 2),
                round(req.offset_s + w["end"], 2),
                w["probability"],
            )
            for w in words
            if w["word"]
        ]
        start = words[0].start if words else req.offset_s
        end = words[-1].end if words else req.offset_s + duration
        encoded = decoded.encode("utf-8")
        return RawSegment(
            start=start,
            end=end,
            text=words_text,
            words=words,
            compression_ratio=len(encoded) / max(len(zlib.compress(encoded)), 1),
        )


def _normalised(score: float, tokens: list[int]) -> float:
    return score / len(tokens) if tokens else float("-inf")


def word_times(tok, text, token_probs, attention, n_start: int, frames: int) -> list[dict]:
    """Words with start / end in seconds from the chunk start (faster-whisper's rules)."""
    import librosa
    from faster_whisper.transcribe import merge_punctuations
    from scipy.ndimage import median_filter

    weights = attention[:, :, :frames]  # heads x tokens x frames
    weights = weights / np.maximum(weights.sum(-1, keepdims=True), 1e-12)
    std = weights.std(axis=-2, keepdims=True)
    weights = (weights - weights.mean(axis=-2, keepdims=True)) / np.maximum(std, 1e-9)
    weights = median_filter(weights, size=(1, 1, MEDIAN_FILTER), mode="nearest")
    matrix = weights.mean(axis=0)[n_start - 1 : n_start + len(text)]
    _, path = librosa.sequence.dtw(C=-matrix.astype(np.float64), backtrack=True)
    path = path[::-1]
    text_indices, time_indices = path[:, 0], path[:, 1]
    words, word_tokens = tok.split_to_word_tokens(text + [tok.eot])
    if len(word_tokens) <= 1:
        return []
    boundaries = np.pad(np.cumsum([len(t) for t in word_tokens[:-1]]), (1, 0))
    jumps = np.pad(np.diff(text_indices), (1, 0), constant_values=1).astype(bool)
    jump_times = time_indices[jumps] / FRAMES_PER_S
    probs = np.append(token_probs, 0.0)  # <|endoftext|> closes the last word
    alignment = [
        dict(
            word=word,
            tokens=tokens,
            start=float(start),
            end=float(end),
            probability=float(np.mean(probs[i:j])),
        )
        for word, tokens, start, end, i, j in zip(
            words,
            word_tokens,
            jump_times[boundaries[:-1]],
            jump_times[boundaries[1:]],
            boundaries[:-1],
            boundaries[1:],
            strict=False,
        )
    ]
    _clamp_long_words(alignment)
    merge_punctuations(alignment, PREPEND_PUNCTUATION, APPEND_PUNCTUATION)
    return alignment


def _clamp_long_words(alignment: list[dict]) -> None:
    durations = np.array([w["end"] - w["start"] for w in alignment])
    durations = durations[durations.nonzero()]
    if not len(durations):
        return
    max_duration = 2 * min(0.7, float(np.median(durations)))
    for previous, word in zip(alignment, alignment[1:], strict=False):
        if word["end"] - word["start"] > max_duration:
            if word["word"] in SENTENCE_END_MARKS:
                word["end"] = word["start"] + max_duration
            elif previous["word"] in SENTENCE_END_MARKS:
                word["start"] = word["end"] - max_duration


class DecodeQueue:
    """One queue in front of the model for every thread transcribing a call: the first caller
    waits `linger_s` for others, then decodes everything that is waiting, in full batches, and
    hands each caller its own results."""

    def __init__(self, whisper: HfWhisper, batch_size: int, linger_s: float = 0.05):
        self.whisper = whisper
        self.batch_size = max(1, batch_size)
        self.linger_s = linger_s
        self.batches_run = 0  # batches decoded so far (read by tests and benchmarks)
        self._cond = threading.Condition()
        self._waiting: list[_Job] = []
        self._busy = False

    def decode(self, requests: list[ChunkRequest]) -> list[RawSegment | None]:
        if not requests:
            return []
        job = _Job(requests)
        with self._cond:
            self._waiting.append(job)
            while not job.done:
                if self._busy:
                    self._cond.wait()
                    continue
                self._busy = True
                self._cond.wait(self.linger_s)
                jobs, self._waiting = self._waiting, []
                self._cond.release()
                try:
                    self._run(jobs)
                finally:
                    self._cond.acquire()
                    self._busy = False
                    self._cond.notify_all()
        if job.error is not None:
            raise job.error
        return job.results

    def _run(self, jobs: list[_Job]) -> None:
        requests = [req for job in jobs for req in job.requests]
        try:
            results = self.whisper.decode(requests, self.batch_size)
            self.batches_run += _batch_count(requests, self.batch_size)
        except Exception as exc:  # every caller of this round gets the failure
            for job in jobs:
                job.error, job.done = exc, True
            return
        at = 0
        for job in jobs:
            job.results, job.done = results[at : at + len(job.requests)], True
            at += len(job.requests)


def _batch_count(requests: list[ChunkRequest], batch_size: int) -> int:
    groups: dict[tuple, int] = {}
    for req in requests:
        key = (req.language, req.prompt, req.hotwords)
        groups[key] = groups.get(key, 0) + 1
    return sum(-(-n // batch_size) for n in groups.values())


@dataclass
class _Job:
    requests: list[ChunkRequest]
    results: list = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False


class TransformersWhisper:
    """The transformers backend as `asr/transcribe.py` uses it: language detection with
    faster-whisper's signature, and speech chunks in, segments in channel time out."""

    backend = "transformers"

    def __init__(self, whisper: HfWhisper, batch_size: int):
        self.whisper = whisper
        self.queue = DecodeQueue(whisper, batch_size)

    def detect_language(self, audio: np.ndarray, language_detection_segments: int = 1):
        probs = self.whisper.detect_language(audio, language_detection_segments)
        ranked = sorted(probs.items(), key=lambda item: item[1], reverse=True)
        return ranked[0][0], ranked[0][1], ranked

    def transcribe_speech(
        self, audio: np.ndarray, chunks: list[dict], language: str, prompt, hotwords
    ) -> list[RawSegment]:
        """VAD speech regions joined into windows of up to 30 s (as faster-whisper's batched
        pipeline does), decoded, and their times mapped back onto the channel."""
        from faster_whisper.transcribe import restore_speech_timestamps
        from faster_whisper.vad import collect_chunks

        clips, windows = collect_chunks(audio, chunks, max_duration=WINDOW_S)
        requests = [
            ChunkRequest(clip, window["offset"], language, prompt, hotwords)
            for clip, window in zip(clips, windows, strict=True)
            if len(clip)
        ]
        decoded = [seg for seg in self.queue.decode(requests) if seg is not None]
        return list(restore_speech_timestamps(decoded, chunks, SAMPLE_RATE))

    def transcribe_spans(
        self, audio: np.ndarray, spans: list[tuple[float, float]], language: str, prompt, hotwords
    ) -> list[RawSegment]:
        """Stretches of the channel (seconds), each decoded as a window of its own."""
        requests = []
        for start, end in spans:
            for at in np.arange(start, end, WINDOW_S):
                stop = min(end, at + WINDOW_S)
                clip = audio[int(at * SAMPLE_RATE) : int(stop * SAMPLE_RATE)]
                requests.append(ChunkRequest(clip, float(at), language, prompt, hotwords))
        return [seg for seg in self.queue.decode(requests) if seg is not None]
