"""faster-whisper/CTranslate2 recogniser sized for live chunks.

Why not `WhisperModel.transcribe()`: it always encodes a 30 s window, so a 2 s
chunk costs as much as 30 s of audio (see `benchmarks/` and shared notes).
CTranslate2 accepts shorter encoder inputs, so each chunk is encoded with its
own length plus `pad_seconds` of silence (Whisper needs a silent tail or it
loops), several chunks share one model call, and the forced prefix keeps a
chunk's later decodes consistent with words already committed. Guards against
Whisper's failure modes run on every result: VAD gating happens upstream, here
no-speech probability, compression ratio, a length cap, and a fallback to the
full 30 s window when a short window produced a loop.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer

from streaming.asr.base import DecodeRequest, Hypothesis, HypWord, normalize_word
from streaming.asr.models import DeviceUnavailable, display_name, model_path
from streaming.options import AsrOptions

log = logging.getLogger(__name__)

RATE = 16000
HOP = 160
CONTEXT_TOKENS = 223  # earlier text in a prompt: Whisper's 448-token window, halved, less <|startofprev|>
PROMPT_TEXT_TOKENS = 112  # a request's prompt text at most (key terms are ~50: StreamOptions)
FULL_FRAMES = 3000
# Whisper's stock hallucinations on non-speech; dropped unless the decode is confident.
HALLUCINATIONS = {
    "thank you", "thanks for watching", "thank you for watching", "you", "bye",
    "thank you very much", "please subscribe", "so", "okay", "the end",
}


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data))) if data else 1.0


def _bare_words(text: str) -> list[str]:
    return [w for w in (normalize_word(x) for x in text.split()) if w]


def loop_start(words: list[str]) -> int | None:
    """Index where the decoder started repeating itself, or None.

    A phrase of 4+ words said twice in a row, a 2-3 word phrase three times, or
    one word five times ("How can I help? How can I help?"). Shorter repeats are
    how people talk ("no, no", "one one two") and are left alone.
    """
    n = len(words)
    for i in range(n):
        for size in range(1, 9):
            reps = 2 if size >= 4 else 3 if size >= 2 else 5
            end = i + size * reps
            if end > n:
                break
            if all(words[i + k * size : i + (k + 1) * size] == words[i : i + size] for k in range(1, reps)):
                return i + size
    return None


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


class WhisperRecognizer:
    """One loaded model shared by every call in the process."""

    sample_rate = RATE

    def __init__(self, options: AsrOptions | None = None) -> None:
        self.options = options or AsrOptions()
        o = self.options
        self.device = resolve_device(o.device)
        compute_type = o.compute_type
        if self.device == "cpu" and compute_type in ("float16", "int8_float16"):
            compute_type = "int8"  # float16 is refused on CPU: degrade, don't crash
        self.workers = o.workers or (1 if self.device == "cuda" else _cpu_count())
        t0 = time.perf_counter()
        path = model_path(o)
        try:
            self.model = WhisperModel(
                path,
                device=self.device,
                compute_type=compute_type,
                cpu_threads=o.cpu_threads,
                num_workers=self.workers,
                download_root=o.download_root,
            )
        except (RuntimeError, ValueError) as e:
            if self.device != "cuda":
                raise
            raise DeviceUnavailable(
                f"--device cuda: the model cannot be loaded on a GPU ({e}). CTranslate2 needs an "
                "NVIDIA driver for CUDA 12 with cuBLAS 12 and cuDNN 9 (the Dockerfile's `cuda` "
                "stage has them); use --device cpu or --device auto to run without one"
            ) from e
        self.load_seconds = time.perf_counter() - t0
        self.compute_type = compute_type
        self.name = display_name(o.model)
        self.multilingual = self.model.model.is_multilingual
        self.languages: tuple[str, ...] = tuple(self.model.supported_languages)  # codes it can force
        unknown = [c for c in o.detect_languages if c not in self.languages] if self.multilingual else []
        if unknown:  # a typo would silently mean "detect among all"
            raise ValueError(f"detect_languages {unknown} are not languages {self.name} knows")
        self._tokenizers: dict[str | None, Tokenizer] = {}
        self._fe = self.model.feature_extractor

    # -- helpers -----------------------------------------------------------
    def tokenizer(self, language: str | None) -> Tokenizer:
        lang = language if self.multilingual else None
        if lang not in self._tokenizers:
            self._tokenizers[lang] = Tokenizer(
                self.model.hf_tokenizer,
                self.multilingual,
                task="transcribe",
                language=lang or ("en" if not self.multilingual else None),
            )
        return self._tokenizers[lang]

    def default_language(self, requested: str | None) -> str | None:
        if not self.multilingual:
            return "en"
        return requested or self.options.language

    def _pick_language(self, detected: list[tuple[str, float]], allowed: tuple[str, ...] = ()) -> str:
        """The most probable language, among `detect_languages` when those are set.

        `detected` is CTranslate2's ranking over every language ("<|nl|>", p), best first.
        """
        allowed = allowed or self.options.detect_languages
        codes = [tok.strip("<|>") for tok, _ in detected]
        return next((c for c in codes if c in allowed), codes[0]) if allowed else codes[0]

    def features(self, audio: np.ndarray, frames: int) -> np.ndarray:
        """Log-mel of the chunk followed by silence, exactly `frames` long."""
        total = frames * HOP
        x = np.zeros(total, np.float32)
        n = min(audio.size, total)
        x[:n] = audio[:n]
        f = self._fe(x, padding=0)
        if f.shape[-1] < frames:
            f = np.pad(f, ((0, 0), (0, frames - f.shape[-1])), constant_values=f.min())
        return np.ascontiguousarray(f[:, :frames])

    def frames_for(self, r: DecodeRequest) -> int:
        content = math.ceil(r.audio.size / HOP)
        o = self.options
        pad_s = {"interim": o.pad_seconds, "final": o.final_pad_seconds}.get(r.kind, o.record_pad_seconds)
        pad = int(pad_s * 100)
        # round up to 0.5 s so chunks of similar length batch without extra padding
        return min(FULL_FRAMES, ((content + pad + 49) // 50) * 50)

    # -- decoding ----------------------------------------------------------
    def decode_batch(self, requests: Sequence[DecodeRequest]) -> list[Hypothesis]:
        t0 = time.perf_counter()
        # CTranslate2 needs <|startoftranscript|> at the same position in every row, so only
        # requests with as long a context (prompt text and earlier text) share a model call:
        # once a channel has said 223 tokens, all of its records do, key terms or not.
        # A record is also decoded at its own window length, whatever it is batched with, so
        # its text does not depend on load (tests/streaming/test_record.py); live decodes
        # share the longest window of their group.
        records = any(r.kind == "record" for r in requests)
        groups: dict[tuple[int, int, int], list[int]] = {}
        for i, r in enumerate(requests):
            frames = self.frames_for(r) if records else 0
            # (the context's length does not depend on the language: one vocabulary; a call
            # that detects its language per decode has none yet)
            key = (frames, len(self._context(r, self.tokenizer(r.language or "en"))), r.num_hypotheses)
            groups.setdefault(key, []).append(i)
        hyps: list[Hypothesis] = [None] * len(requests)  # type: ignore[list-item]
        for (frames, _, _), idx in groups.items():
            group = [requests[i] for i in idx]
            frames = frames or max(self.frames_for(r) for r in group)
            for i, h in zip(idx, self._decode(group, frames), strict=True):
                hyps[i] = h
        for i, (r, h) in enumerate(zip(requests, hyps, strict=True)):
            if h.rejected == "repetition":
                # decode again with the full 30 s window; if it still loops, keep
                # the text up to where the loop starts rather than nothing
                retry = self._decode([r], FULL_FRAMES, truncate_loops=True)[0]
                retry.fallback = True
                hyps[i] = retry
        dt = time.perf_counter() - t0
        for h in hyps:
            h.decode_seconds = dt
        return hyps

    def _decode(
        self, requests: list[DecodeRequest], frames: int, truncate_loops: bool = False
    ) -> list[Hypothesis]:
        o = self.options
        feats = np.stack([self.features(r.audio, frames) for r in requests])
        enc = self.model.model.encode(ctranslate2.StorageView.from_array(feats))
        langs = [self.default_language(r.language) for r in requests]
        if self.multilingual and any(lang is None for lang in langs):
            detected = self.model.model.detect_language(enc)
            langs = [lang or self._pick_language(det, r.languages)
                     for r, lang, det in zip(requests, langs, detected, strict=True)]
        prompts, toks = [], []
        for r, lang in zip(requests, langs, strict=True):
            tok = self.tokenizer(lang)
            toks.append(tok)
            context = self._context(r, tok)
            # a record is decoded as offline transcription is, with timestamp tokens (they
            # pace the decoder through longer audio); live decodes go without
            ts = [] if (r.kind == "record" and o.record_timestamps) else [tok.no_timestamps]
            prompts.append(context + list(tok.sot_sequence) + ts + list(r.prefix_tokens))
        kind = requests[0].kind  # a model call holds one kind (the scheduler batches so)
        beam = requests[0].beam_size or {"record": o.record_beam_size, "final": o.final_beam_size}.get(kind, o.beam_size)
        n_best = max(r.num_hypotheses for r in requests)
        beam = max(beam, n_best)
        max_new = max(int(12 + 8 * r.duration) for r in requests)
        max_length = min(448, max(len(p) for p in prompts) + max_new)
        results = self.model.model.generate(
            enc,
            prompts,
            beam_size=beam,
            max_length=max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
            num_hypotheses=n_best,
        )
        results = list(results)
        for i, r in enumerate(requests):
            if r.kind == "record" and o.record_temperatures and r.num_hypotheses == 1:
                results[i] = self._fallback(r, feats[i], prompts[i], toks[i], results[i], max_length)
        hyps: list[Hypothesis] = []
        align_idx, align_tokens = [], []
        for i, (r, res, tok, lang) in enumerate(zip(requests, results, toks, langs, strict=True)):
            tokens = [t for t in res.sequences_ids[0] if t < tok.eot]  # drops timestamp tokens too
            new_tokens = tokens[len(r.prefix_tokens) :]
            if truncate_loops or r.kind == "interim":
                # an interim is not worth a 30 s re-decode: keep what precedes the loop
                new_tokens = _cut_loop(tok, new_tokens)
                tokens = tokens[: len(r.prefix_tokens)] + new_tokens
            text = tok.decode(tokens)
            n = max(1, len(new_tokens))
            avg_logprob = res.scores[0] * (n**1.0) / (n + 1) if res.scores else 0.0
            h = Hypothesis(
                words=[],
                text=text,
                avg_logprob=avg_logprob,
                no_speech_prob=res.no_speech_prob,
                compression_ratio=compression_ratio(tok.decode(new_tokens)),
                language=lang or "en",
            )
            if r.num_hypotheses > 1:
                h.alternatives = _alternatives(tok, res, len(r.prefix_tokens))
            h.rejected = self._guard(r, h, new_tokens, max_length - len(prompts[i]))
            hyps.append(h)
            if tokens and not h.rejected:
                align_idx.append(i)
                align_tokens.append(tokens)
        if align_idx:
            self._align(requests, enc, align_idx, align_tokens, toks, hyps, frames)
        return hyps

    def _context(self, r: DecodeRequest, tok: Tokenizer) -> list[int]:
        """<|startofprev|> and what precedes the utterance: the prompt text (a stream's key
        terms, a field decode's prompt), then the channel's earlier text, at most
        CONTEXT_TOKENS in all. The prompt text is kept whole (up to PROMPT_TEXT_TOKENS) and
        the earlier text trimmed, newest kept, so key terms hold however long the call.
        Special tokens spelled in the text (a client's "<|endoftext|>") are dropped: the
        tokenizer would read them as control tokens."""
        text = r.prompt_text.strip()
        extra = [t for t in tok.encode(" " + text) if t < tok.eot][:PROMPT_TEXT_TOKENS] if text else []
        earlier = list(r.prompt_tokens)
        room = CONTEXT_TOKENS - len(extra)
        ctx = extra + earlier[max(0, len(earlier) - room):]
        return [tok.sot_prev, *ctx] if ctx else []

    def _fallback(self, r: DecodeRequest, feats: np.ndarray, prompt: list[int], tok: Tokenizer,
                  res, max_length: int):
        """A record the beam decoded with low confidence (or looping) is decoded again with
        sampling at rising temperatures, best of 5, as `transcribe()` does; the first that
        passes the thresholds wins, else the most confident. Measured on the English dev
        calls: WER 0.204 -> 0.201. Seeded by the audio's position, under a lock, so the
        same audio gives the same record whatever else is running."""
        o = self.options

        def quality(x) -> tuple[float, float]:
            toks = [t for t in x.sequences_ids[0] if t < tok.eot][len(r.prefix_tokens):]
            n = max(1, len(toks))
            return x.scores[0] * n / (n + 1), compression_ratio(tok.decode(toks))

        lp, cr = quality(res)
        if (lp >= o.log_prob_threshold and cr <= o.compression_ratio_threshold) or (
                res.no_speech_prob > o.no_speech_threshold and lp < o.log_prob_threshold):
            return res
        best, best_lp = res, lp
        enc = self.model.model.encode(ctranslate2.StorageView.from_array(feats[None]))
        for t in o.record_temperatures:
            with _SAMPLING:
                # seeded by where the audio is, so live, batch and any load agree
                ctranslate2.set_random_seed((int(r.offset * 1000) * 31 + r.audio.size + int(t * 100)) % 2**31)
                out = self.model.model.generate(
                    enc, [prompt], beam_size=1, sampling_temperature=t, sampling_topk=0,
                    num_hypotheses=5, max_length=max_length, return_scores=True,
                    return_no_speech_prob=True, suppress_blank=True, suppress_tokens=[-1])[0]
            k = max(range(len(out.scores)), key=lambda j: out.scores[j])
            cand = _OneResult([out.sequences_ids[k]], [out.scores[k]], out.no_speech_prob)
            clp, ccr = quality(cand)
            if clp >= o.log_prob_threshold and ccr <= o.compression_ratio_threshold:
                return cand
            if clp > best_lp:
                best, best_lp = cand, clp
        return best

    def _guard(
        self, r: DecodeRequest, h: Hypothesis, new_tokens: list[int], budget: int
    ) -> str | None:
        o = self.options
        if (
            h.no_speech_prob > o.no_speech_threshold
            and h.avg_logprob < o.log_prob_threshold
            and not r.prefix_tokens
        ):
            return "no_speech"
        if (
            h.compression_ratio > o.compression_ratio_threshold
            or len(new_tokens) >= budget
            or loop_start(_bare_words(h.text)) is not None
        ):
            return "repetition"
        bare = " ".join(h.text.lower().replace(".", " ").replace("!", " ").replace(",", " ").split())
        if bare in HALLUCINATIONS and not r.prefix_tokens and (
            h.no_speech_prob > 0.2 or h.avg_logprob < -0.6 or r.duration < 1.0
        ):
            return "hallucination"
        return None

    def _align(self, requests, enc, idx, tokens, toks, hyps, frames) -> None:
        """Word timings from cross-attention (faster-whisper's method, batched).

        The whole batch is aligned in one call (the encoder output stays where it
        is, CPU or GPU); rows without usable text get a one-token placeholder
        and their result is ignored.
        """
        filler = toks[0].encode(" ")[:1] or [toks[0].eot]
        by_row = dict(zip(idx, tokens, strict=True))
        all_tokens = [by_row.get(i, filler) for i in range(len(requests))]
        content = [min(frames, math.ceil(r.audio.size / HOP) + 10) for r in requests]  # mel frames
        results = self.model.model.align(
            enc, toks[0].sot_sequence, all_tokens, max(content), median_filter_width=7
        )
        results = [results[i] for i in idx]
        tps = RATE / HOP / 2  # encoder frames per second (50)
        for i, res, text_tokens in zip(idx, results, tokens, strict=True):
            tok = toks[i]
            if not text_tokens or text_tokens == [tok.eot]:
                continue
            r = requests[i]
            words, word_tokens = tok.split_to_word_tokens(list(text_tokens) + [tok.eot])
            if len(word_tokens) <= 1:
                continue
            text_idx = np.array([p[0] for p in res.alignments])
            time_idx = np.array([p[1] for p in res.alignments])
            if text_idx.size == 0:
                continue
            jumps = np.pad(np.diff(text_idx), (1, 0), constant_values=1).astype(bool)
            jump_times = time_idx[jumps] / tps
            bounds = np.pad(np.cumsum([len(t) for t in word_tokens[:-1]]), (1, 0))
            if bounds[-1] >= jump_times.size:
                jump_times = np.pad(jump_times, (0, bounds[-1] - jump_times.size + 1), mode="edge")
            probs = res.text_token_probs
            content_end = r.audio.size / RATE
            out = []
            for w, wt, a, b in zip(words, word_tokens, bounds[:-1], bounds[1:], strict=False):
                if not w or not wt or wt[0] >= tok.eot:
                    continue
                start = float(jump_times[a])
                end = float(min(jump_times[b], content_end))
                if start >= content_end - 0.04 and w.strip():
                    # Aligned past the end of the audio: the decoder ran on into the
                    # silence padding (typically repeating itself). Not spoken: drop.
                    hyps[i].overflow += 1
                    continue
                p = float(np.mean(probs[a:b])) if b > a and len(probs) >= b else 0.5
                out.append(HypWord(w, r.offset + start, r.offset + max(end, start), p, tuple(wt)))
            hyps[i].words = _merge_punctuation(out)


_SAMPLING = threading.Lock()  # the sampling seed is process-wide


@dataclass
class _OneResult:
    """The fields of a CTranslate2 WhisperGenerationResult that decoding reads."""

    sequences_ids: list[list[int]]
    scores: list[float]
    no_speech_prob: float


def _alternatives(tok: Tokenizer, res, skip: int) -> list[tuple[str, float]]:
    """The n best texts of a result with each one's whole-sequence log-probability
    (CTranslate2's score is per token with length_penalty 1; times the length undoes it)."""
    out = []
    for ids, score in zip(res.sequences_ids, res.scores, strict=False):
        toks = [t for t in ids if t < tok.eot][skip:]
        out.append((tok.decode(toks).strip(), float(score) * (len(toks) + 1)))
    return out


def _cut_loop(tok: Tokenizer, tokens: list[int]) -> list[int]:
    """Tokens up to where the decoder started repeating itself."""
    if not tokens:
        return tokens
    words, word_tokens = tok.split_to_word_tokens(list(tokens) + [tok.eot])
    pairs = [(normalize_word(w), wt) for w, wt in zip(words, word_tokens, strict=False) if wt and wt[0] < tok.eot]
    k = loop_start([w for w, _ in pairs if w])
    if k is None:
        return tokens
    kept, seen = [], 0
    for w, wt in pairs:
        if w:
            if seen == k:
                break
            seen += 1
        kept.extend(wt)
    return kept


def _merge_punctuation(words: list[HypWord]) -> list[HypWord]:
    """Attach stand-alone punctuation tokens to the word before them."""
    out: list[HypWord] = []
    for w in words:
        if out and w.word.strip() and not any(c.isalnum() for c in w.word) and not w.word.startswith(" "):
            prev = out[-1]
            out[-1] = HypWord(prev.word + w.word, prev.start, prev.end, prev.probability, prev.tokens + w.tokens)
        else:
            out.append(w)
    return out


def _cpu_count() -> int:
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)
