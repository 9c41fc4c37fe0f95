"""Per-speaker sentiment over the call: lexicon-based, negation-aware, with trend.

A lexicon (`prompts/lexicons/sentiment.yaml`, en + nl) is transparent and fast
enough for the per-segment budget; every score lists the words that drove it,
so a supervisor can see *why* a customer was flagged as upset.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from assist.grounding import evidence, evidence_dicts
from assist.text import fold, words
from assist.types import Segment

LEXICON_PATH = Path(__file__).resolve().parent.parent / "prompts" / "lexicons" / "sentiment.yaml"
POSITIVE, NEGATIVE = 0.2, -0.25
_CONDITIONAL = {"en": {"if", "would", "i'd", "might", "imagine"},
                "nl": {"als", "zou", "mocht", "stel"}}


@dataclass(frozen=True)
class Lexicon:
    words: dict[str, float]
    prefixes: tuple[tuple[str, float], ...]
    phrases: tuple[tuple[re.Pattern[str], float], ...]
    negators: frozenset[str]
    intensifiers: dict[str, float]

    def value(self, word: str) -> float | None:
        if word in self.words:
            return self.words[word]
        for prefix, v in self.prefixes:
            if word.startswith(prefix):
                return v
        return None


@lru_cache(maxsize=4)
def load_lexicon(language: str, path: str = str(LEXICON_PATH)) -> Lexicon:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    spec = data.get(language) or data["en"]
    exact = {k: float(v) for k, v in spec["words"].items() if not k.endswith("*")}
    prefixes = tuple((k[:-1], float(v)) for k, v in spec["words"].items() if k.endswith("*"))
    phrases = tuple((re.compile(p), float(v)) for p, v in (spec.get("phrases") or {}).items())
    return Lexicon(exact, prefixes, phrases, frozenset(spec.get("negators", [])),
                   {k: float(v) for k, v in (spec.get("intensifiers") or {}).items()})


@dataclass(frozen=True)
class SentimentScore:
    segment_id: str
    speaker: str
    score: float  # -1 .. 1
    label: str
    cues: tuple[tuple[int, int, float], ...] = ()  # (char_start, char_end, weight)


def label_for(score: float) -> str:
    return "positive" if score >= POSITIVE else "negative" if score <= NEGATIVE else "neutral"


def score_text(text: str, language: str) -> tuple[float, tuple[tuple[int, int, float], ...]]:
    """Score one utterance in [-1, 1] with the spans that contributed."""
    lex = load_lexicon(language if language in ("en", "nl") else "en")
    low = fold(text)
    raw = 0.0
    cues: list[tuple[int, int, float]] = []
    covered: list[tuple[int, int]] = []
    for pat, weight in lex.phrases:
        for m in pat.finditer(low):
            raw += weight
            cues.append((m.start(), m.end(), weight))
            covered.append((m.start(), m.end()))
    toks = list(words(text))
    conditional = _CONDITIONAL.get(language, set())
    hypothetical = [(m.start(), m.end()) for m in re.finditer(r"[^.!?]+", low)
                    if conditional & {w for w, _, _ in words(m.group(0))}]
    for i, (w, s, e) in enumerate(toks):
        if any(a <= s < b for a, b in covered):
            continue
        v = lex.value(w)
        if not v:
            continue
        mult = 1.0
        if any(a <= s < b for a, b in hypothetical):
            mult *= 0.3  # "I'd be devastated if I lost it" is not how they feel now
        for j in range(max(0, i - 3), i):
            prev = toks[j][0]
            if prev in lex.negators or prev.endswith("n't"):
                mult *= -0.6  # "not good" is bad, but milder than "bad"
            elif prev in lex.intensifiers and j >= i - 2:
                mult *= lex.intensifiers[prev]
        raw += v * mult
        cues.append((s, e, round(v * mult, 2)))
    if raw:
        raw *= 1 + 0.15 * min(text.count("!"), 3)
    score = raw / math.sqrt(raw * raw + 6.0)
    return round(score, 3), tuple(sorted(cues))


@dataclass
class SentimentTracker:
    """Running sentiment per speaker; the engine feeds it every segment."""

    language: str = "en"
    alpha: float = 0.4
    history: dict[str, list[SentimentScore]] = field(default_factory=dict)
    ewma: dict[str, float] = field(default_factory=dict)

    def on_segment(self, seg: Segment) -> SentimentScore:
        score, cues = score_text(seg.text, seg.language or self.language)
        s = SentimentScore(seg.segment_id, seg.speaker, score, label_for(score), cues)
        self.history.setdefault(seg.speaker, []).append(s)
        prev = self.ewma.get(seg.speaker)
        self.ewma[seg.speaker] = score if prev is None else self.alpha * score + (1 - self.alpha) * prev
        return s

    def trend(self, speaker: str = "customer") -> dict[str, Any]:
        """Start, end and direction of a speaker's mood over the call."""
        hist = [s.score for s in self.history.get(speaker, [])]
        if not hist:
            return {"speaker": speaker, "start": 0.0, "end": 0.0, "current": 0.0, "min": 0.0,
                    "direction": "stable", "start_label": "neutral", "end_label": "neutral",
                    "segments": 0}
        third = max(1, len(hist) // 3)
        start = sum(hist[:third]) / third
        end = self.end_score(speaker)
        diff = end - start
        direction = "improving" if diff > 0.25 else "worsening" if diff < -0.25 else "stable"
        return {"speaker": speaker, "start": round(start, 3), "end": round(end, 3),
                "current": round(self.ewma.get(speaker, 0.0), 3), "min": round(min(hist), 3),
                "direction": direction, "start_label": label_for(start), "end_label": label_for(end),
                "segments": len(hist)}

    def end_score(self, speaker: str = "customer") -> float:
        """Mood at the end: the last turns weigh most, the whole call a little.

        Why the whole call: a routine "thanks, bye" after a bad call is not a
        happy customer.
        """
        hist = [s.score for s in self.history.get(speaker, [])]
        if not hist:
            return 0.0
        last = hist[-3:][::-1]
        weights = [0.6, 0.25, 0.15][: len(last)]
        recent = sum(w * s for w, s in zip(weights, last, strict=True)) / sum(weights)
        overall = sum(hist) / len(hist)
        return 0.75 * recent + 0.25 * overall

    def event(self, s: SentimentScore, seg: Segment) -> dict[str, Any]:
        """A Sentiment event for the desktop/supervisor view (no suggestion, just state)."""
        ev = [evidence(seg, a, b) for a, b, _ in s.cues[:3]] or [evidence(seg)]
        trend = self.trend(s.speaker)
        return {"type": "Sentiment", "id": f"sentiment-{s.segment_id}", "speaker": s.speaker,
                "segment_id": s.segment_id, "score": s.score, "label": s.label,
                "running": trend["current"], "direction": trend["direction"],
                "confidence": round(min(1.0, 0.5 + 0.15 * len(s.cues)), 3),
                "evidence": evidence_dicts(ev)}
