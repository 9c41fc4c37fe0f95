"""The form state machine's half of field-aware decoding (`alternatives` has the why).

`FormFiller` mixes this in: after a caller's turn it knows which fields the turn may
hold (`field_request`); when the service has decoded that turn again and returns the n
best hypotheses (`on_alternatives`), every hypothesis is read by the same field
families, and what the validators accept decides the value and its confidence.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, replace

from assist.autofill.alternatives import (
    DECODED_TYPES,
    Choice,
    FieldRequest,
    calibrated,
    field_prompt,
    looks_like_value,
    posteriors,
)
from assist.autofill.base import FormValue, Pending, Scan, Turn, evidence_at
from assist.autofill.cues import prepare_turn
from assist.autofill.proposals import find_in_transcript
from assist.spoken import tokenize, value_runs
from assist.validators import iban_repairs, iban_valid

CONFIRMED_FLOOR = 0.93  # the agent read the value back and the caller said yes
REPAIRED_CONF = 0.45  # a checksum repaired by us: shown to check, never part of the form's values
SUSPECT_CAP = 0.7  # a reading that may have lost a digit or left one over: the agent checks it
LONGER_WINS = 0.3  # the longer reading's share at which it is offered instead
# Dictated values with no checksum: filled only when every valid reading agrees. A digit
# count or a postcode shape lets a misheard value through as easily as the right one.
UNANIMOUS = frozenset({"reference", "phone", "postcode"})
DIVIDED_CAP = 0.75  # another valid reading was heard: the agent chooses
# what "please check" may show for a dictated value no hypothesis made valid
CHECK_TYPES = frozenset({"reference", "iban", "bsn", "phone", "postcode"})
KEEP_TURNS = 8  # how far back an answer may still arrive (the decode is queued under load)


@dataclass
class _Before:
    """Call state just before a caller turn: an alternative hypothesis of that turn is
    read from the same starting point as the record was."""

    pending: Pending | None
    blocked: dict[str, int]
    expected: list[str]


class RedecodeMixin:
    """Field-aware decoding for `FormFiller` (see `assist.autofill.alternatives`). It uses
    the filler's state (`_turns`, `_current`, `_locked`, `_expected`, the families) and is
    a mixin, not a module of functions, so that state stays in one object."""

    def _init_redecode(self) -> None:
        self._before: dict[str, _Before] = {}
        self._asks: dict[str, FieldRequest] = {}

    def _remember_before(self, turn: Turn) -> None:
        sid = turn.seg.segment_id
        self._before[sid] = _Before(copy.deepcopy(self.pending), dict(self.blocked_recent),
                                    list(self._expected))
        for old in list(self._before)[:-KEEP_TURNS]:
            self._before.pop(old, None)

    def _plan_ask(self, turn: Turn, answered: set[str]) -> None:
        """Which fields this caller turn may hold: asked for, named in it, or read from it."""
        sid = turn.seg.segment_id
        before = self._before.get(sid)
        if before is None or self._expect_secret:
            return
        text = turn.seg.text
        fields = list(before.expected)
        fields += [fid for _, _, fid in self.cue_hits(text)]
        fields += sorted(answered)
        keep = [f for f in dict.fromkeys(fields)
                if f not in self._locked and self.ftype(f) in DECODED_TYPES]
        if not keep or not (answered or looks_like_value(text) or before.expected):
            return
        types = [self.ftype(f) for f in keep]
        self._asks[sid] = FieldRequest(sid, keep, types, field_prompt(types, self.language),
                                       self.language)
        for old in list(self._asks)[:-KEEP_TURNS]:
            self._asks.pop(old, None)

    def field_request(self, segment_id: str) -> FieldRequest | None:
        """What to decode again for this caller turn (None: nothing a form wants)."""
        return self._asks.get(segment_id)

    # ------------------------------------------------------------------ the answers

    def on_alternatives(self, segment_id: str,
                        decodes: list[list[tuple[str, float]]]) -> list[FormValue]:
        """The n best hypotheses of a caller turn (one list per decode, each (text,
        log-probability)); returns the suggestions it created or changed."""
        ask = self._asks.pop(segment_id, None)
        before = self._before.get(segment_id)
        turn = next((t for t in reversed(self._turns) if t.seg.segment_id == segment_id), None)
        if ask is None or before is None or turn is None or not any(decodes):
            return []
        choices = self._read_alternatives(turn, ask, before, [d for d in decodes if d])
        out: list[FormValue] = []
        for f in ask.fields:
            fv = self._settle(turn, f, choices[f], f in before.expected)
            if fv is not None:
                out.append(fv)
        return out

    def _read_alternatives(self, turn: Turn, ask: FieldRequest, before: _Before,
                           decodes: list[list[tuple[str, float]]]) -> dict[str, Choice]:
        choices = {f: Choice(f) for f in ask.fields}
        expected = list(dict.fromkeys(before.expected + ask.fields))
        saved = (self.pending, self.blocked_recent)
        try:
            # On speech it cannot hear, Whisper writes out its prompt: the field prompt's
            # example value ("Mijn postcode is 1012 AB.") is then a hypothesis. A decode that
            # gives a field the example value the record did not hear is reading the prompt,
            # not the caller, for that field, and says nothing about it.
            example = {f: v for f, (v, _) in self._read_text(turn, before, expected, ask.prompt)[1].items()}
            heard = self._read_text(turn, before, expected, turn.seg.text)[1]
            for d in decodes:
                readings = [(text, p, *self._read_text(turn, before, expected, text)) for text, p in posteriors(d)]
                copied = {f for _, _, _, got in readings for f, (v, _) in got.items()
                          if example.get(f) == v and heard.get(f, ("", 0))[0] != v}
                for text, p, alt, got in readings:
                    for f, (v, pos) in got.items():
                        if f not in choices or f in copied:
                            continue
                        choices[f].support[v] = choices[f].support.get(v, 0.0) + p / len(decodes)
                        if self.ftype(f) in ("postcode", "reference") and _leftover(alt, v, pos):
                            choices[f].suspect.add(v)
                    for f, ch in choices.items():
                        if f not in copied:
                            ch.heard = ch.heard or text
                            ch.texts.append((text, p / len(decodes)))
        finally:
            self.pending, self.blocked_recent = saved
        return choices

    def _read_text(self, turn: Turn, before: _Before, expected: list[str],
                   text: str) -> tuple[Turn, dict[str, tuple[str, int]]]:
        """One hypothesis of a caller turn, read from the state before that turn: field ->
        (value, where it starts); a self-correction gives the last value."""
        self.pending, self.blocked_recent = copy.deepcopy(before.pending), dict(before.blocked)
        alt = prepare_turn(replace(turn.seg, text=text, words=()))
        scan = Scan(alt, False, expected)
        for family in self.families:
            scan.cands.extend(family.extract(self, scan))
        got: dict[str, tuple[str, int]] = {}
        for c in sorted(scan.cands, key=lambda c: c.pos):
            if c.patch is None:
                got[c.field] = (c.value, c.evidence[0].char_start if c.evidence else c.pos)
        return alt, got

    def _settle(self, turn: Turn, f: str, choice: Choice,
                asked: bool) -> FormValue | None:
        """Decide one field from the record's value and the alternatives' support."""
        if f in self._locked:
            return None
        sid = turn.seg.segment_id
        ftype = self.ftype(f)
        cur = self._current.get(f)
        from_turn = cur is not None and cur.status == "proposed" and any(
            e.segment_id == sid for e in cur.evidence)
        ranked = choice.ranked()
        if not ranked:
            if from_turn and cur is not None:  # the record's value, and no hypothesis agrees
                cur.confidence = min(cur.confidence, 0.6)
                return cur
            if asked and ftype == "iban" and cur is None and (fixed := _repaired_ibans(choice)):
                return self._new_value(turn, f, fixed[0], REPAIRED_CONF, fixed[1:], None, choice.heard)
            if asked and ftype in CHECK_TYPES and cur is None and looks_like_value(choice.heard):
                return self._check_value(turn, f, choice.heard)
            return None
        best, w = ranked[0]
        # Whisper drops a digit far more often than it invents one ("double oh" heard once,
        # a repeated digit merged): a valid reading that holds the best one plus more
        # characters makes it suspect, and wins when it has a fair share of the mass.
        longer = next(((v, s) for v, s in ranked[1:] if _dropped_from(best, v, ftype)), None)
        # any longer valid reading (`longer` among them): it may hold what this one dropped
        # ("77749" / "61527749")
        suspect = best in choice.suspect or any(
            len(_key(v, ftype)) > len(_key(best, ftype)) for v, _ in ranked[1:])
        switched = longer is not None and longer[1] >= LONGER_WINS
        if switched and longer is not None:
            best, w = longer
        cap = SUSPECT_CAP if suspect else 1.0
        if ftype in UNANIMOUS and len(ranked) > 1:
            cap = min(cap, DIVIDED_CAP)  # another valid reading was heard: the agent chooses
        second = max((s for v, s in ranked if v != best), default=0.0)
        if cur is not None and cur.value == best:
            if cur.status != "proposed":
                return None
            conf = min(cap, calibrated(w, from_turn or cur.confirmed, ftype, second, choice.coverage))
            cur.confidence = max(conf, CONFIRMED_FLOOR) if cur.confirmed else conf
            cur.alternatives = [v for v, _ in ranked if v != best][:3]
            return cur
        if cur is not None and cur.confirmed:
            return None  # the caller confirmed the agent's read-back of it: that stands
        if from_turn and cur is not None:
            rec = choice.support.get(cur.value, 0.0)
            if w - rec < 0.2 and not switched:  # a close call: keep the record's value, ask the agent
                cur.confidence = min(cur.confidence, calibrated(rec, True, ftype, w, choice.coverage))
                cur.alternatives = [v for v, _ in ranked if v != cur.value][:3]
                return cur
        elif cur is not None and not asked:
            return None  # an earlier value stands unless this turn was asked for the field
        conf = min(cap, calibrated(w, False, ftype, second, choice.coverage))
        return self._new_value(turn, f, best, conf,
                               [v for v, _ in ranked if v != best][:3] + ([cur.value] if from_turn and cur else []),
                               cur, choice.heard)

    def _new_value(self, turn: Turn, f: str, value: str, conf: float,
                   alternatives: list[str], cur: FormValue | None, heard: str) -> FormValue | None:
        spec = self.form.field(f)
        if spec is None or (f, value) in self._dismissed:
            return None
        evidence = find_in_transcript(self, [turn], spec, value) or [
            evidence_at(turn, 0, len(turn.seg.text))]
        fv = FormValue(
            id=self._next_id(), field=f, value=value, confidence=conf, evidence=evidence,
            replaces=cur.id if cur is not None else None, label=spec.label_for(self.language),
            alternatives=list(dict.fromkeys(a for a in alternatives if a != value))[:3],
            heard="" if evidence[0].char_end - evidence[0].char_start < len(turn.seg.text) else heard)
        return self._store(fv)

    def _check_value(self, turn: Turn, f: str, heard: str) -> FormValue | None:
        """Nothing valid was heard where a dictated value was asked for: offer what was
        heard, marked invalid, so the agent asks again instead of typing it from memory."""
        spec = self.form.field(f)
        runs = value_runs(tokenize(heard))
        raw = max((r.text() for r in runs), key=len, default="")
        if spec is None or len(raw) < 4:
            return None
        fv = FormValue(
            id=self._next_id(), field=f, value=raw, confidence=0.2,
            evidence=[evidence_at(turn, 0, len(turn.seg.text))], label=spec.label_for(self.language),
            heard=heard, valid=False)
        return self._store(fv)


_IBAN_TAIL = re.compile(r"(\d{2})([A-Z]{3,5})(0?)(\d{10})(?!\d)")


def _repaired_ibans(choice: Choice) -> list[str]:
    """Dutch IBANs that a hypothesis misses by one piece ("an L56 RIBO 9990698929"), most
    supported first: offered to the agent to check, never filled (`iban_repairs`)."""
    mass: dict[str, float] = {}
    for text, p in choice.texts:
        squashed = re.sub(r"[^A-Z0-9]", "", text.upper())
        for m in _IBAN_TAIL.finditer(squashed):
            check, letters, zero, account = m.groups()
            if zero and len(letters) != 3:
                continue
            if zero:
                letters += "O"  # "RIB 0": the letter O heard as zero
            codes = {letters} if len(letters) == 4 else (
                {letters[:k] + letters[k + 1:] for k in range(len(letters))} if len(letters) == 5
                else {letters[:k] + c + letters[k:] for k in range(4) for c in "AEIOU"})
            for code in codes:
                raw = f"NL{check}{code}{account}"
                for v in ([raw] if iban_valid(raw) else iban_repairs(raw)):
                    mass[v] = mass.get(v, 0.0) + p
    return [v for v, _ in sorted(mass.items(), key=lambda kv: (-kv[1], kv[0]))][:3]


_COUNTRY_CODES = ("31", "32", "33", "34", "39", "44", "49", "1")


def _key(value: str, ftype: str) -> str:
    """The characters a caller dictated: a phone number without its country code."""
    v = re.sub(r"[^A-Z0-9]", "", value.upper())
    if ftype == "phone" and value.startswith("+"):
        v = next((v[len(c):] for c in _COUNTRY_CODES if v.startswith(c)), v)
    return v


def _dropped_from(short: str, long: str, ftype: str) -> bool:
    """`short` is `long` with characters missing (a proper subsequence)."""
    a, b = _key(short, ftype), _key(long, ftype)
    if len(a) >= len(b):
        return False
    it = iter(b)
    return all(c in it for c in a)


def _leftover(turn: Turn, value: str, pos: int) -> bool:
    """The dictated run the value was read from holds more than the value ("G 12 A Q Q" read
    as "G1 2AQ"): part of what was said is unaccounted for."""
    run = next((r for r in value_runs(turn.toks) if r.start <= pos < r.end), None)
    return run is not None and len(run.text()) > len(_key(value, ""))
