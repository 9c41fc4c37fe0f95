"""The contract between the transcript and the assist engine.

The streaming core turns final transcript results into `Segment`s; everything in
`assist/` works on those alone, so the engine is testable on text without audio,
sockets or a model. Assist output is a list of plain JSON-able event dicts (see
`docs/protocol.md`), published on the call's event bus by the server.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Speaker = Literal["agent", "customer"]


@dataclass(frozen=True)
class Word:
    """One recognised word with its audio times (seconds from call start)."""

    text: str
    start: float
    end: float
    confidence: float = 1.0


@dataclass(frozen=True)
class Segment:
    """One final piece of transcript from one speaker.

    `segment_id` is unique within the call and is what evidence points back to.
    Times are seconds from the start of the call audio. `words` may be empty
    (a transcript file without word times); evidence then falls back to the
    segment's own span.
    """

    segment_id: str
    speaker: Speaker
    text: str
    start: float = 0.0
    end: float = 0.0
    words: tuple[Word, ...] = ()
    call_id: str = ""
    language: str = "en"
    confidence: float = 1.0
    channel: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["words"] = [asdict(w) for w in self.words]
        return d


@dataclass(frozen=True)
class Evidence:
    """Where in the transcript a suggestion comes from.

    `char_start`/`char_end` index into the segment's `text`; `start`/`end` are
    audio seconds (from word times when known). A suggestion without evidence
    is never emitted.
    """

    segment_id: str
    speaker: Speaker
    text: str
    char_start: int
    char_end: int
    start: float
    end: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Feedback:
    """An agent's verdict on one suggestion, sent from the desktop."""

    suggestion_id: str
    action: Literal["accept", "edit", "dismiss"]
    value: str | None = None
    agent: str | None = None
    call_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
