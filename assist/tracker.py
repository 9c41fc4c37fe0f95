"""What has been said so far in a call: intents, agent actions, call phase.

Hints, alerts and the summary all ask the same questions ("has the agent
verified identity yet?", "what is the call about?"); the tracker answers them
once per segment so the rules stay cheap and consistent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assist.grounding import evidence
from assist.patterns import Match
from assist.playbooks import Playbook
from assist.text import fold
from assist.types import Evidence, Segment

# Intents that describe the caller's situation rather than what they ask for;
# in the same turn, the request is the reason for the call ("my phone was
# stolen and I can't get into the app" is an app-access call).
SITUATIONS = frozenset({"lost_device", "financial_hardship", "health_vulnerability", "move_in", "complaint"})


@dataclass(frozen=True)
class Detection:
    """An intent or action seen in segment number `index`."""

    name: str
    index: int
    evidence: Evidence


@dataclass
class CallTracker:
    playbook: Playbook
    language: str = "en"
    segments: list[Segment] = field(default_factory=list)
    intents: dict[str, Detection] = field(default_factory=dict)  # first detection, in call order
    intent_hits: dict[str, list[Detection]] = field(default_factory=dict)
    actions: dict[str, list[Detection]] = field(default_factory=dict)
    _folded: list[str] = field(default_factory=list)

    @property
    def index(self) -> int:
        """Index of the latest segment."""
        return len(self.segments) - 1

    def observe(self, seg: Segment) -> list[Detection]:
        """Record one segment; return the intents seen for the first time in it."""
        self.segments.append(seg)
        low = fold(seg.text)
        self._folded.append(low)
        idx = self.index
        lang = seg.language or self.language
        new: list[Detection] = []
        book = self.playbook
        found = (book.intents if seg.speaker == "customer" else book.agent_intents).find(
            seg.text, lang, folded=low)
        for m in found:
            det = Detection(m.name, idx, evidence(seg, m.start, m.end))
            self.intent_hits.setdefault(m.name, []).append(det)
            if m.name not in self.intents:
                self.intents[m.name] = det
                new.append(det)
        if seg.speaker == "agent":
            for m in book.actions.find(seg.text, lang, folded=low):
                self.actions.setdefault(m.name, []).append(
                    Detection(m.name, idx, evidence(seg, m.start, m.end)))
        return new

    def done(self, action: str, since: int = 0) -> bool:
        """Has the agent performed `action` in a segment with index >= since?"""
        return any(d.index >= since for d in self.actions.get(action, []))

    def first_done(self, action: str) -> Detection | None:
        hits = self.actions.get(action)
        return hits[0] if hits else None

    def cue(self, name: str, index: int | None = None) -> Match | None:
        """Match a cue (or an action phrase) in one segment (default: the latest)."""
        i = self.index if index is None else index
        if i < 0:
            return None
        phrases = self.playbook.phrase(name)
        if phrases is None:
            return None
        seg = self.segments[i]
        return phrases.first(seg.text, seg.language or self.language, name, folded=self._folded[i])

    def main_intent(self) -> str | None:
        """The reason for the call: the first intent the customer expressed.

        Why first: callers state their reason early; later intents are usually
        follow-ups (an email update at the end of a card call). A generic
        "information" request only counts when nothing more specific was said.
        """
        customer = [d for d in self.intents.values() if d.evidence.speaker == "customer"]
        pool = customer or list(self.intents.values())
        if not pool:
            return None
        specific = [d for d in pool if d.name != "product_information"]
        return min(specific or pool,
                   key=lambda d: (d.index, d.name in SITUATIONS, d.evidence.char_start)).name

    def intent_order(self) -> list[str]:
        """Intents by first mention, the main one first."""
        main = self.main_intent()
        rest = sorted(self.intents.values(), key=lambda d: (d.index, d.evidence.char_start))
        return ([main] if main else []) + [d.name for d in rest if d.name != main]

    def identity_verified_at(self) -> int | None:
        """Index of the first customer reply after the agent's identity check."""
        first = self.first_done("identity_check")
        if first is None:
            return None
        for i in range(first.index + 1, len(self.segments)):
            if self.segments[i].speaker == "customer":
                return i
        return None
