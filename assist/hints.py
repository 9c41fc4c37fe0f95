"""Next-best-action hints from the playbooks.

Each segment, every playbook rule is checked against the call so far (intents,
agent actions, cues in this segment, sentiment, form values). A rule that
fires becomes a candidate; candidates are de-duplicated, dropped when the agent
already did what they suggest, and rate-limited so the agent is never flooded.
Lower-priority candidates that do not fit wait a few segments, then expire.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from assist.grounding import evidence as seg_evidence
from assist.grounding import evidence_dicts
from assist.playbooks import HintRule, Playbook
from assist.tracker import CallTracker
from assist.types import Evidence

MAX_PER_SEGMENT = 2  # new hints per segment; one more only if it is urgent
WINDOW_S = 20.0  # at most MAX_IN_WINDOW non-urgent hints in any such window
MAX_IN_WINDOW = 3
PENDING_TTL = 4  # segments a rate-limited hint may wait before it is stale


class FormValueLike(Protocol):
    field: str
    value: str
    evidence: list[Evidence]
    correction: bool
    replaces: str | None


@dataclass
class HintInput:
    """What the engine knows after one segment, handed to the hint rules."""

    tracker: CallTracker
    new_values: Sequence[FormValueLike] = ()
    values: Mapping[str, FormValueLike] = field(default_factory=dict)
    field_since: Mapping[str, int] = field(default_factory=dict)  # field -> segment index first filled
    sentiment: float | None = None  # score of this segment if the customer spoke it
    field_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Candidate:
    rule: HintRule
    key: str
    index: int
    evidence: list[Evidence]
    strength: float
    fmt: dict[str, str]


@dataclass
class ShownHint:
    event: dict[str, Any]
    rule: HintRule | None
    index: int
    time: float
    done: bool = False


class HintEngine:
    def __init__(self, playbook: Playbook, language: str = "en"):
        self.playbook = playbook
        self.language = language
        self.shown: dict[str, ShownHint] = {}  # hint id -> shown hint
        self._keys: set[str] = set()  # rule/field keys already shown
        self._pending: list[Candidate] = []
        self._counter = 0
        # supervisor controls (assist.controls): (rule id, playbook, strength) -> may it be shown?
        # A candidate it stops is not marked shown, so the rule fires again once allowed.
        self.allow: Callable[[str, str, float], bool] = lambda rule, playbook, strength: True

    # ------------------------------------------------------------ public

    def on_segment(self, inp: HintInput) -> list[dict[str, Any]]:
        """New Hint events for this segment, plus 'done' updates for shown hints."""
        tr = inp.tracker
        events = self._mark_done(tr)
        fresh = [c for rule in self.playbook.hints for c in self._evaluate(rule, inp)]
        self._pending = [c for c in self._pending if tr.index - c.index <= PENDING_TTL]
        pool = {c.key: c for c in self._pending + fresh
                if c.key not in self._keys and self.allow(c.rule.id, c.rule.playbook, c.strength)}
        ordered = sorted(pool.values(), key=lambda c: (c.rule.priority, c.index, c.rule.id))
        now = tr.segments[-1].end
        shown_now = 0
        waiting = []
        for cand in ordered:
            if self._already_done(cand, tr):
                self._keys.add(cand.key)  # the agent did it; never show it later either
                continue
            urgent = cand.rule.priority == 1
            limited = shown_now >= MAX_PER_SEGMENT or self._recent(now) >= MAX_IN_WINDOW
            if (limited and not urgent) or shown_now >= MAX_PER_SEGMENT + 1:
                waiting.append(cand)
                continue
            events.append(self._show(cand, now))
            shown_now += 1
        self._pending = waiting
        return events

    def add_external(self, text: str, why: str, evidence: list[Evidence], confidence: float,
                     index: int, time: float, source: str = "llm") -> dict[str, Any] | None:
        """Show a hint that did not come from a playbook (the LLM), same de-dup rules."""
        key = "ext:" + " ".join(text.lower().split())
        if key in self._keys or not evidence or not self.allow("llm", source, confidence):
            return None
        self._keys.add(key)
        self._counter += 1
        hid = f"hint-{self._counter}"
        event = {"type": "Hint", "id": hid, "rule": "llm", "playbook": source, "text": text,
                 "why": why, "priority": 3, "confidence": round(confidence, 3),
                 "evidence": evidence_dicts(evidence), "status": "shown", "supervisor": False,
                 "language": self.language, "source": source}
        self.shown[hid] = ShownHint(event, None, index, time)
        return event

    def rule_of(self, hint_id: str) -> str | None:
        shown = self.shown.get(hint_id)
        return shown.event["rule"] if shown else None

    # ------------------------------------------------------------ internals

    def _show(self, cand: Candidate, now: float) -> dict[str, Any]:
        self._keys.add(cand.key)
        self._counter += 1
        hid = f"hint-{self._counter}"
        lang = self.language if self.language in cand.rule.text else "en"
        event = {
            "type": "Hint",
            "id": hid,
            "rule": cand.rule.id,
            "playbook": cand.rule.playbook,
            "text": _format(cand.rule.text[lang], cand.fmt),
            "why": _format(cand.rule.why.get(lang, ""), cand.fmt),
            "priority": cand.rule.priority,
            "confidence": round(cand.strength, 3),
            "evidence": evidence_dicts(cand.evidence),
            "status": "shown",
            "supervisor": cand.rule.supervisor,
            "language": lang,
            "source": "playbook",
        }
        self.shown[hid] = ShownHint(event, cand.rule, cand.index, now)
        return event

    def _recent(self, now: float) -> int:
        return sum(1 for s in self.shown.values()
                   if s.rule is not None and s.rule.priority > 1 and now - s.time <= WINDOW_S)

    def _already_done(self, cand: Candidate, tr: CallTracker) -> bool:
        since = cand.index if cand.rule.done_since == "trigger" else 0
        return any(tr.done(a, since) for a in cand.rule.done_by)

    def _mark_done(self, tr: CallTracker) -> list[dict[str, Any]]:
        """A shown hint whose action the agent now performed is ticked off."""
        out = []
        seg = tr.segments[-1]
        if seg.speaker != "agent":
            return out
        for shown in self.shown.values():
            rule = shown.rule
            if shown.done or rule is None or not rule.done_by:
                continue
            hits = [d for a in rule.done_by for d in tr.actions.get(a, []) if d.index == tr.index]
            if hits and tr.index > shown.index:
                shown.done = True
                out.append({**shown.event, "status": "done",
                            "evidence": evidence_dicts([hits[0].evidence])})
        return out

    def _evaluate(self, rule: HintRule, inp: HintInput) -> list[Candidate]:
        res = _check(rule.when, inp)
        if res is None:
            return []
        ev, strength, fmt = res
        templated = any("{field" in t for t in rule.text.values())
        key = rule.id + (f":{fmt['field']}" if templated and "field" in fmt else "")
        if key in self._keys:
            return []
        return [Candidate(rule, key, inp.tracker.index, ev, strength, fmt)]


def _format(template: str, fmt: Mapping[str, str]) -> str:
    try:
        return template.format(**fmt)
    except (KeyError, IndexError):
        return template


# ---------------------------------------------------------------- conditions


def _check(when: Mapping[str, Any], inp: HintInput) -> tuple[list[Evidence], float, dict[str, str]] | None:
    """All conditions of `when` hold -> (evidence, strength, format values), else None.

    Evidence comes from the most specific condition that held: a cue or form
    value in this segment beats an intent said earlier, which beats the segment.
    """
    tr = inp.tracker
    seg = tr.segments[-1]
    idx = tr.index
    evidence: list[Evidence] = []
    strength = 0.6
    fmt: dict[str, str] = {}

    speaker = when.get("speaker")
    if speaker and seg.speaker != speaker:
        return None
    if idx < int(when.get("min_segment", 0)):
        return None
    if "min_words" in when and len(seg.text.split()) < int(when["min_words"]):
        return None
    if "intents" in when:
        dets = [tr.intents[i] for i in when["intents"] if i in tr.intents]
        if not dets:
            return None
        evidence = [min(dets, key=lambda d: d.index).evidence]
        strength = 0.75
    if any(i in tr.intents for i in when.get("not_intents", [])):
        return None
    if "only_intents" in when:
        allowed = set(when["only_intents"])
        if not tr.intents or not set(tr.intents) <= allowed:
            return None
        evidence = evidence or [next(iter(tr.intents.values())).evidence]
        strength = max(strength, 0.7)
    if any(not tr.done(a) for a in when.get("actions_done", [])):
        return None
    if any(tr.done(a) for a in when.get("not_done", [])):
        return None
    if "actions_done" in when and not evidence:
        last = max((d for a in when["actions_done"] for d in tr.actions[a]), key=lambda d: d.index)
        evidence = [last.evidence]
    if "cue" in when:
        m = tr.cue(when["cue"])
        if m is None:
            return None
        evidence = [seg_evidence(seg, m.start, m.end)]
        strength = 0.9
    if "customer_negative" in when:
        if seg.speaker != "customer" or inp.sentiment is None or inp.sentiment > float(when["customer_negative"]):
            return None
        evidence = evidence or [seg_evidence(seg)]
        strength = max(strength, 0.7)
    if "fields_filled" in when:
        found = _value_trigger([v for v in inp.new_values if v.field in when["fields_filled"]], inp)
        if found is None:
            return None
        evidence, fmt, strength = found
    if "fields_present" in when and not all(f in inp.values for f in when["fields_present"]):
        return None
    if any(f in inp.values for f in when.get("missing_fields", [])):
        return None
    if "segments_since_field" in when:
        firsts = [inp.field_since[f] for f in when.get("fields_present", []) if f in inp.field_since]
        if not firsts or idx - max(firsts) < int(when["segments_since_field"]):
            return None
        v = inp.values[when["fields_present"][0]]
        evidence = list(v.evidence) or evidence
    if when.get("correction") is False and any(v.correction or v.replaces for v in inp.new_values):
        return None  # the correction hint covers it
    if when.get("correction"):
        found = _value_trigger([v for v in inp.new_values if v.correction or v.replaces], inp)
        if found is None:
            return None
        evidence, fmt, strength = found
    if "any" in when:
        alternatives = [r for r in (_check(sub, inp) for sub in when["any"]) if r is not None]
        if not alternatives:
            return None
        best = max(alternatives, key=lambda r: r[1])
        if best[0]:
            evidence = best[0]
        strength = max(strength, best[1])
        fmt = {**fmt, **best[2]}
    if not evidence:
        evidence = [seg_evidence(seg)]
    return evidence, strength, fmt


def _value_trigger(values: Sequence[FormValueLike], inp: HintInput
                   ) -> tuple[list[Evidence], dict[str, str], float] | None:
    """A form value said in this segment: its evidence, and its field for the hint text."""
    vals = [v for v in values if v.evidence]
    if not vals:
        return None
    v = vals[0]
    label = inp.field_labels.get(v.field, v.field.replace("_", " "))
    return list(v.evidence), {"field": v.field, "field_label": label}, 0.85
