"""Final transcript pieces -> utterances, the unit the assistant reads.

Why: live finals are committed a word or two at a time (two decodes agree, about a
second after the words are spoken), so a caller's "Yes, my name is Daniel Morgan."
arrives as "Yes, my" | "name is" | "Daniel Morgan.". The assist engine reads a
segment as something said: fed those pieces one by one it missed every form value
of the bundled demo call; fed whole utterances it found the name and the date of
birth (see tests/streaming/test_utterances.py). So the pipeline hands the
assistant one `Segment` per utterance (`CallPipeline.group_utterances`, on unless
SOUFFLEUR_ASSIST_UTTERANCES=0): a channel's finals up to its `speech_final` (the
speaker paused), its `UtteranceEnd`, a length cap (a monologue still gets help), or
the end of the call. Desktops still get every final piece as it is committed.

An utterance's `segment_id` is the id of its first piece and its text the pieces'
texts joined by single spaces, so evidence offsets into it map back onto the pieces
(the overlay does that when it highlights evidence: streaming/service/static/js/transcript-view.js).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from assist.api import Segment, Word


def segment_from_results(msg: dict[str, Any], language: str = "en") -> Segment | None:
    """A final `Results` or a `Record` message with words -> an assist `Segment`."""
    if not (msg.get("type") == "Record" or (msg.get("type") == "Results" and msg.get("is_final"))):
        return None
    alt = msg["channel"]["alternatives"][0]
    text = alt.get("transcript", "").strip()
    if not text:
        return None
    words = tuple(
        Word(w.get("punctuated_word") or w["word"], float(w["start"]), float(w["end"]), float(w.get("confidence", 1.0)))
        for w in alt.get("words", ())
    )
    speaker = msg.get("speaker") or "unknown"
    return Segment(
        segment_id=msg.get("segment_id") or f"{msg['channel_index'][0]}-{msg['start']}",
        speaker=speaker if speaker in ("agent", "customer") else "customer",  # type: ignore[arg-type]
        text=text,
        start=float(msg["start"]),
        end=float(msg["start"]) + float(msg["duration"]),
        words=words,
        call_id=msg.get("call_id", ""),
        language=(alt.get("languages") or [language])[0] or language,
        confidence=float(alt.get("confidence", 1.0)),
        channel=int(msg["channel_index"][0]),
    )


def merge(pieces: list[Segment]) -> Segment:
    """One Segment from consecutive pieces of one channel."""
    first, last = pieces[0], pieces[-1]
    if len(pieces) == 1:
        return first
    words = tuple(w for p in pieces for w in p.words)
    confidence = sum(p.confidence for p in pieces) / len(pieces)
    return replace(first, text=" ".join(p.text for p in pieces), end=last.end, words=words,
                   confidence=confidence)


@dataclass
class UtteranceBuffer:
    """Collects a call's final pieces per channel; `add` returns finished utterances."""

    language: str = "en"
    max_seconds: float = 15.0
    max_words: int = 60
    _open: dict[int, list[Segment]] = field(default_factory=dict)

    def add(self, msg: dict[str, Any]) -> list[Segment]:
        t = msg.get("type")
        if t == "UtteranceEnd":
            return self._close(_channel(msg.get("channel")))
        if t != "Results" or not msg.get("is_final"):
            return []
        ch = _channel(msg.get("channel_index"))
        seg = segment_from_results(msg, self.language)
        if seg is not None:
            self._open.setdefault(ch, []).append(seg)
        pieces = self._open.get(ch, [])
        too_long = pieces and (pieces[-1].end - pieces[0].start >= self.max_seconds
                               or sum(len(p.text.split()) for p in pieces) >= self.max_words)
        if msg.get("speech_final") or too_long:
            return self._close(ch)
        return []

    def flush(self) -> list[Segment]:
        """Everything still open (the call ended), oldest utterance first."""
        out = [merge(p) for p in self._open.values() if p]
        self._open.clear()
        return sorted(out, key=lambda s: s.start)

    def _close(self, ch: int) -> list[Segment]:
        pieces = self._open.pop(ch, None)
        return [merge(pieces)] if pieces else []


def _channel(value: Any) -> int:
    """`channel_index: [i, n]` on Results, `channel: [i, n]` on UtteranceEnd."""
    if isinstance(value, list | tuple) and value:
        return int(value[0])
    return 0
