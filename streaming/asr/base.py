"""The ASR backend interface: decode requests in, hypotheses out.

Like an httpx transport, the recogniser is a small pluggable piece: the
scheduler and the sessions only know `Recognizer.decode_batch`. The real one is
`streaming.asr.whisper.WhisperRecognizer`; `ScriptedRecognizer` answers from a
script so the session logic can be tested without a model.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

Kind = Literal["interim", "final", "record"]


@dataclass(eq=False)
class DecodeRequest:
    """One chunk of one channel to transcribe.

    `audio` is 16 kHz float32 starting at `offset` seconds of the stream;
    `prefix_tokens` are the tokens already committed for this chunk, forced at
    the start of the decode so the new text continues what the agent already saw.
    `kind` is "interim" (may be dropped), "final" (a live commit) or "record" (the
    transcript of record: a whole utterance, decoded once, never dropped).
    """

    key: str  # stream key: "<session>/<channel>"; interims for one key supersede each other
    kind: Kind
    audio: np.ndarray
    offset: float
    seq: int
    prefix_tokens: tuple[int, ...] = ()
    language: str | None = None
    languages: tuple[str, ...] = ()  # with language None: what detection may choose from (this call's)
    prompt_tokens: tuple[int, ...] = ()  # earlier text given as context (<|startofprev|>), not forced
    priority: int = 0  # 0: a real-time call; 1: a stream sent faster than real time (served last)
    beam_size: int | None = None
    # A field-aware decode (issue 12): the assistant expects a value in this utterance, so
    # it is decoded again with a prompt showing the value's written shape, keeping the
    # n best hypotheses for the field validators to choose from.
    prompt_text: str = ""  # written before `prompt_tokens` as context (the recogniser tokenises it)
    num_hypotheses: int = 1
    created: float = field(default_factory=time.monotonic)

    @property
    def duration(self) -> float:
        return self.audio.size / 16000.0


@dataclass
class HypWord:
    word: str  # as decoded, with its leading space and punctuation
    start: float  # absolute stream seconds
    end: float
    probability: float
    tokens: tuple[int, ...] = ()

    @property
    def bare(self) -> str:
        return normalize_word(self.word)


@dataclass
class Hypothesis:
    words: list[HypWord]
    text: str = ""
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0
    language: str = "en"
    rejected: str | None = None  # why the text was thrown away (silence, repetition)
    fallback: bool = False  # decoded again with the full 30 s window
    overflow: int = 0  # words dropped because they aligned past the end of the audio
    decode_seconds: float = 0.0
    queue_seconds: float = 0.0
    # with `num_hypotheses` > 1: every hypothesis, best first, as (text, log-probability of
    # the whole sequence); `text` and `words` are the best one's
    alternatives: list[tuple[str, float]] = field(default_factory=list)


class Recognizer(Protocol):
    sample_rate: int

    def decode_batch(self, requests: Sequence[DecodeRequest]) -> list[Hypothesis]: ...


_PUNCT = re.compile(r"[^\w']+", re.UNICODE)


def normalize_word(word: str) -> str:
    """Lower-case, punctuation-free form used to compare words between decodes."""
    return _PUNCT.sub("", word.lower()).strip("'")


class ScriptedRecognizer:
    """In-memory recogniser for tests: `script(request) -> list of (word, start, end)`.

    Times in the script are relative to the request's audio; the recogniser
    adds the offset. Counts calls so tests can assert on scheduling.
    """

    sample_rate = 16000

    def __init__(
        self,
        script: Callable[[DecodeRequest], list[tuple[str, float, float]]],
        delay: float = 0.0,
        nbest: Callable[[DecodeRequest], list[tuple[str, float]]] | None = None,
    ) -> None:
        self.script = script
        self.delay = delay
        self.nbest = nbest  # a request's n best (text, log-probability); default: the one text
        self.calls: list[list[DecodeRequest]] = []

    def decode_batch(self, requests: Sequence[DecodeRequest]) -> list[Hypothesis]:
        self.calls.append(list(requests))
        if self.delay:
            time.sleep(self.delay)
        out = []
        for r in requests:
            words = [
                HypWord(w, r.offset + s, r.offset + e, 0.9, (hash(w) & 0xFFFF,))
                for w, s, e in self.script(r)
            ]
            text = "".join(w.word for w in words)
            alts = [] if r.num_hypotheses == 1 else (self.nbest(r) if self.nbest else [(text, 0.0)])
            out.append(Hypothesis(words=words, text=text, alternatives=alts))
        return out
