"""Turn a character span of a segment into `Evidence`, and check cited evidence.

Every hint, alert, knowledge answer and summary point carries evidence built
here, so the desktop can highlight the exact words and play back the audio.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from assist.types import Evidence, Segment


def evidence(seg: Segment, char_start: int = 0, char_end: int | None = None) -> Evidence:
    """Evidence for `seg.text[char_start:char_end]`, with audio times from word timings."""
    end = len(seg.text) if char_end is None else max(char_start, min(char_end, len(seg.text)))
    start_s, end_s = _span_times(seg, char_start, end)
    return Evidence(
        segment_id=seg.segment_id,
        speaker=seg.speaker,
        text=seg.text[char_start:end],
        char_start=char_start,
        char_end=end,
        start=start_s,
        end=end_s,
    )


def span_confidence(seg: Segment, char_start: int, char_end: int) -> float:
    """Mean ASR confidence of the words inside a char span (1.0 without word data).

    A value read from words the recogniser was unsure of is itself unsure: a name
    heard as "Nithon dreams" at 0.3 should not fill the form as confidently as
    digits heard at 0.95.
    """
    confs = [c for _, _, c in _span_words(seg, char_start, char_end)]
    return sum(confs) / len(confs) if confs else 1.0


def _span_words(seg: Segment, char_start: int, char_end: int) -> list[tuple[float, float, float]]:
    """(start, end, confidence) of the segment's words overlapping a char span."""
    low = seg.text.lower()
    pos = 0
    out: list[tuple[float, float, float]] = []
    for w in seg.words:
        token = w.text.strip().lower().strip(".,!?;:")
        if not token:
            continue
        idx = low.find(token, pos)
        if idx < 0:
            continue
        pos = idx + len(token)
        if idx < char_end and pos > char_start:
            out.append((w.start, w.end, w.confidence))
    return out


def _span_times(seg: Segment, char_start: int, char_end: int) -> tuple[float, float]:
    """Map a char span to word times; words are located in order in the text.

    Why: ASR word texts may differ in case/punctuation from the segment text, so
    we search sequentially and fall back to the segment span when unsure.
    """
    times = _span_words(seg, char_start, char_end) if seg.words else []
    if not times:
        return seg.start, seg.end
    return times[0][0], times[-1][1]


def evidence_dicts(items: Iterable[Evidence]) -> list[dict]:
    return [e.to_dict() for e in items]


def cited_evidence(segment_ids: Iterable[str], segments: Mapping[str, Segment]) -> list[Evidence] | None:
    """Whole-segment evidence for ids an LLM cited; None if any id does not exist.

    Why: an LLM that cites a segment that was never said is hallucinating, and
    the whole suggestion is dropped rather than partly trusted.
    """
    ids = list(dict.fromkeys(segment_ids))
    if not ids or any(i not in segments for i in ids):
        return None
    return [evidence(segments[i]) for i in ids]
