"""What the autofill's parts share: the value types and the one interface every field
family implements.

A family (names, addresses, dates, ...) reads candidate values, each with its
evidence, out of one turn; the state machine (`assist.autofill.filler`) decides which
become suggestions. The contract lives here so both sides import it, not each other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

from assist.autofill.alternatives import DISPLAY_THRESHOLD
from assist.forms import FormSpec
from assist.spoken import Item, Run, Token, value_runs
from assist.types import Evidence, Segment


@dataclass
class FormValue:
    """One suggested value for one field, with the transcript spans it comes from."""

    id: str  # unique within the call, deterministic: f"fv-{n}"
    field: str
    value: str
    confidence: float
    evidence: list[Evidence]
    status: str = "proposed"  # proposed | accepted | edited | dismissed
    replaces: str | None = None
    correction: bool = False
    source: str = "rules"  # rules | llm
    label: str = field(default="", repr=False)
    # from the field-aware decode (assist.autofill.alternatives): other valid values heard,
    # the text heard when it differs from the record, whether the value passed its checks,
    # and whether the caller confirmed the agent's read-back
    alternatives: list[str] = field(default_factory=list)
    heard: str = ""
    valid: bool = True
    confirmed: bool = False

    @property
    def display(self) -> str:
        """"filled" (shown as the value) or "check" (the agent is asked to confirm)."""
        if self.status in ("accepted", "edited"):
            return "filled"
        return "filled" if self.valid and self.confidence >= DISPLAY_THRESHOLD else "check"

    def to_event(self) -> dict:
        return {
            "type": "FormValue",
            "id": self.id,
            "field": self.field,
            "label": self.label or self.field,
            "value": self.value,
            "confidence": round(float(self.confidence), 3),
            "evidence": [e.to_dict() for e in self.evidence],
            "status": self.status,
            "replaces": self.replaces,
            "correction": self.correction,
            "source": self.source,
            "display": self.display,
            "alternatives": list(self.alternatives),
            "heard": self.heard or None,
            "valid": self.valid,
            "confirmed": self.confirmed,
        }


@dataclass
class Cand:
    """A value a family read from the transcript; the state machine decides its fate."""

    field: str
    value: str
    conf: float
    pos: int
    evidence: list[Evidence]
    correction: bool = False
    patch: tuple | None = None  # deferred partial correction: (x, y, symbolic, span)
    asked: bool = False  # the agent asked for this field (or the caller named it)


@dataclass
class Pending:
    """An incomplete value (IBAN in parts, street without its number) waiting for more."""

    field: str
    items: list[Item]
    evidence: list[Evidence]
    age: int = 0
    street: str = ""


@dataclass
class Turn:
    """One segment with what the rules need to know about it."""

    seg: Segment
    toks: list[Token]
    low: str
    word_spans: list[tuple[int, int] | None]
    sentences: list[tuple[int, int]]
    secret: list[tuple[int, int]]
    relation: list[tuple[int, int]]
    stranger: list[tuple[int, int]]
    stale: list[tuple[int, int]]
    corrections: list[int]


def inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in spans)


def evidence_at(turn: Turn, a: int, b: int) -> Evidence:
    """Evidence for text[a:b] of a turn, timed by the recognised words it covers."""
    seg = turn.seg
    start, end = seg.start, seg.end
    hits = [(w.start, w.end) for w, sp in zip(seg.words, turn.word_spans, strict=True)
            if sp is not None and sp[0] < b and a < sp[1]]
    if hits:
        start, end = min(h[0] for h in hits), max(h[1] for h in hits)
    return Evidence(seg.segment_id, seg.speaker, seg.text[a:b], a, b, start, end)


def ev_items(turn: Turn, items: list[Item]) -> Evidence:
    """Evidence spanning dictated pieces, first to last."""
    return evidence_at(turn, items[0].start, items[-1].end)


def plus_before(turn: Turn, item: Item) -> bool:
    """A "+" or "plus" right before the first piece: an international phone number."""
    k = item.i0 - 1
    return k >= 0 and turn.toks[k].low in ("+", "plus")


@dataclass
class Scan:
    """One turn's extraction pass, shared by the families in registry order.

    A family marks the tokens it read a value from in `used`, so later families do
    not read them again; `cands` holds what earlier families found (a city follows a
    postcode or street)."""

    turn: Turn
    agent: bool
    expected: list[str]  # fields the agent asked for; empty on the agent's own turn
    used: set[int] = field(default_factory=set)
    cands: list[Cand] = field(default_factory=list)
    _runs: list[Run] | None = field(default=None, repr=False)

    @property
    def runs(self) -> list[Run]:
        """Dictated digit/letter runs outside the used tokens. Read once, on first use,
        which the registry order puts after the families that claim tokens."""
        if self._runs is None:
            self._runs = value_runs(self.turn.toks, self.used)
        return self._runs


class Context(Protocol):
    """What a family may ask of the call (the filler implements it).

    Two pieces of call state are the families' to update, because a value can span
    turns: `pending` (an IBAN in parts, a street waiting for its number) and
    `blocked_recent` (fields whose last value failed its checksum)."""

    form: FormSpec
    today: dt.date
    country: str  # where a national phone number is read
    pending: Pending | None
    blocked_recent: dict[str, int]

    def fid(self, ftype: str) -> str | None:
        """The form's (first) field of this type."""
        ...

    def ftype(self, fid: str) -> str:
        """The type of a field ("" when the form has no such field)."""
        ...

    def fields_of_type(self, ftype: str) -> list[str]:
        """Every field of this type, in form order."""
        ...

    def current(self) -> dict[str, FormValue]:
        """The current suggestion per field."""
        ...

    def cue_hits(self, text: str, lo: int = 0,
                 hi: int | None = None) -> list[tuple[int, int, str]]:
        """Field cues in text[lo:hi]: (start, end, field)."""
        ...

    def allowed(self, turn: Turn, fid: str, pos: int, agent: bool) -> bool:
        """Whether a value at pos may be this caller's field (not secret, someone
        else's or an old value)."""
        ...


class Extractor(Protocol):
    """One field family: reads its candidate values, each with evidence, out of a turn.

    `types` are the field types it proposes values for (empty: it only edits values
    already proposed); `agent_turns` says whether it also reads the agent's turns,
    whose values count once the caller confirms them."""

    types: frozenset[str]
    agent_turns: bool

    def extract(self, ctx: Context, scan: Scan) -> list[Cand]:
        ...
