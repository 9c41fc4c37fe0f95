"""Form autofill from the live transcript: rules first, every value with its evidence.

Values are taken where the dialogue makes their meaning clear: the caller's
answer to the agent's question ("Can I take your postcode?" -> next customer
turn), a field word right before the value ("BSN is ..."), or an unmistakable
shape (a valid IBAN, an e-mail address). Anything said about someone else, or
after a passcode/PIN cue, is not the caller's form. The agent is in charge: an
accepted or edited value is never overwritten, a dismissed one never re-proposed.

This module is the state machine: what the agent asked for (expectations), what
the caller confirmed or denied after a read-back, corrections, and which
suggestions stand. Reading values out of a turn is the field families' job
(`FAMILIES`, one module each).
"""

from __future__ import annotations

import datetime as dt
import re

from assist.autofill.addresses import ADDRESS_FAMILY, CityFamily, StreetFamily
from assist.autofill.alternatives import CHECKSUMMED, DISPLAY_THRESHOLD, SINGLE_HEARING
from assist.autofill.base import (
    Cand,
    Extractor,
    FormValue,
    Pending,
    Scan,
    Turn,
    evidence_at,
    inside,
)
from assist.autofill.builders import validate
from assist.autofill.corrections import CorrectionFamily, patched
from assist.autofill.cues import (
    AFFIRM_RE,
    AGENT_NAME_RE,
    BACKCHANNEL_RE,
    BELGIUM_RE,
    BEREAVEMENT_RE,
    CONFIRM_RE,
    NEGATE_RE,
    REPEAT_RE,
    REQUEST_RE,
    THIRD_PRONOUN_RE,
    prepare_turn,
)
from assist.autofill.dates import DateFamily
from assist.autofill.emails import EmailFamily
from assist.autofill.names import NameFamily, name_at
from assist.autofill.numbers import NumbersFamily
from assist.autofill.proposals import find_in_transcript, normalise
from assist.autofill.redecode import CONFIRMED_FLOOR, RedecodeMixin
from assist.forms import FieldSpec, FormSpec, load_form
from assist.grounding import span_confidence
from assist.spoken import SEP_WORDS, fold, spoken_alnum
from assist.types import Evidence, Segment

# The field families, in the order they read a turn. Order matters: e-mail addresses,
# dates, partial corrections and streets claim their tokens first, so the number
# family does not read a house number or a birth year as a dictated code; names use
# the runs left after that; the city family reads on from a postcode or street.
FAMILIES: tuple[Extractor, ...] = (
    EmailFamily(), DateFamily(), CorrectionFamily(), StreetFamily(), NumbersFamily(),
    NameFamily(), CityFamily(),
)


class FormFiller(RedecodeMixin):
    """Turns a call's segments into form suggestions; one instance per call."""

    MIN_CONFIDENCE = 0.5  # below this a suggestion is shown but not part of `values()`
    families = FAMILIES
    # The segments come from speech recognition (a live call), not a written transcript: a
    # value without a checksum then needs a second hearing to be shown as filled.
    from_audio = False

    def __init__(self, form: FormSpec | None = None, language: str = "en",
                 today: dt.date | None = None) -> None:
        self.form = form or load_form()
        self.language = language
        self.today = today or dt.date.today()
        self._n = 0
        self._all: dict[str, FormValue] = {}
        self._current: dict[str, FormValue] = {}
        self._locked: set[str] = set()
        self._dismissed: set[tuple[str, str]] = set()
        self._turns: list[Turn] = []
        self._expected: list[str] = []
        self._expected_age = 0
        self._expect_third = False
        self._expect_secret = False
        self.pending: Pending | None = None  # families update it (see base.Context)
        self._agent_pending: list[Cand] = []
        self._read_back: list[FormValue] = []  # values the agent just read back
        self._answered: set[str] = set()  # field types the caller's last turn gave
        self.blocked_recent: dict[str, int] = {}  # field -> turns left; families set it
        self._last_customer_fields: list[str] = []
        self._stranger_topic = 0  # turns left in which "his"/"her" may mean a stranger
        self._bereavement = False  # the call is about a deceased person's accounts
        self.country = "NL"  # where a national phone number is read: NL unless the call says
        self._by_type: dict[str, list[FieldSpec]] = {}
        for f in self.form.fields:
            self._by_type.setdefault(f.type, []).append(f)
        self._cue_rx = self._compile_cues()
        self._init_redecode()

    # ------------------------------------------------------------------ public API

    def on_segment(self, segment: Segment) -> list[FormValue]:
        """Process one final segment; returns new or changed suggestions only."""
        turn = prepare_turn(segment)
        self._turns.append(turn)
        self._stranger_topic = 4 if turn.stranger else max(0, self._stranger_topic - 1)
        self._bereavement = self._bereavement or bool(BEREAVEMENT_RE.search(segment.text))
        if segment.speaker == "customer" and BELGIUM_RE.search(segment.text):
            self.country = "BE"  # "ik woon in België": 04.. is then a Belgian mobile
        out = self._agent_turn(turn) if segment.speaker == "agent" else self._customer_turn(turn)
        seen: dict[str, FormValue] = {}
        for fv in out:
            seen[fv.id] = fv
        return list(seen.values())

    def propose(self, field: str, value: str, confidence: float,
                source: str = "llm") -> FormValue | None:
        """For the LLM path: accept only if the value (in some spoken or written form) is
        found in the transcript so far; builds the evidence itself; returns None (dropped)
        otherwise, or if the field is locked by the agent."""
        spec = self.form.field(field)
        if spec is None or field in self._locked:
            return None
        norm = normalise(spec, value, self.today, self.country)
        if norm is None or (field, norm) in self._dismissed:
            return None
        evidence = find_in_transcript(self, self._turns, spec, norm)
        if not evidence:
            return None
        conf = max(0.0, min(float(confidence), 0.9))
        cand = Cand(field, norm, conf, 0, evidence)
        cur = self._current.get(field)
        if cur is not None and cur.value != norm and cur.confidence > conf:
            return None
        return self._commit(cand, source=source)

    def apply_feedback(self, suggestion_id: str, action: str,
                       value: str | None = None) -> FormValue | None:
        """The agent's verdict. accept/edit lock the field; dismiss blocks that value."""
        fv = self._all.get(suggestion_id)
        if fv is None:
            return None
        if action == "accept":
            fv.status = "accepted"
            self._locked.add(fv.field)
            self._current[fv.field] = fv
        elif action == "edit":
            if value is None:
                return None
            spec = self.form.field(fv.field)
            norm = normalise(spec, value, self.today, self.country) if spec else None
            fv.value = norm or value.strip()
            fv.status = "edited"
            fv.confidence = 1.0
            self._locked.add(fv.field)
            self._current[fv.field] = fv
        elif action == "dismiss":
            fv.status = "dismissed"
            self._dismissed.add((fv.field, fv.value))
            if self._current.get(fv.field) is fv:
                del self._current[fv.field]
        else:
            raise ValueError(f"unknown feedback action {action!r}")
        return fv

    def values(self) -> dict[str, str]:
        """Final value per field id (agent-confirmed values win)."""
        return {f: v.value for f, v in self._current.items()
                if v.status in ("accepted", "edited") or v.confidence >= self.MIN_CONFIDENCE}

    def current(self) -> dict[str, FormValue]:
        """The standing suggestion per field (agent-locked ones included)."""
        return dict(self._current)

    def suggestions(self) -> list[FormValue]:
        """Every suggestion made in this call, in order (replaced ones included)."""
        return list(self._all.values())

    # ------------------------------------------------------------------ what families may ask

    def _compile_cues(self) -> tuple[re.Pattern[str], dict[str, str]]:
        """One alternation of all field cues, longest first, so a single scan finds the
        longest cue at each place ("email address" before "address")."""
        cues = []
        for f in self.form.fields:
            for c in f.cues:
                body = r"[\s-]*".join(re.escape(p) for p in re.split(r"[\s-]+", c.strip()))
                cues.append((len(c), body, f.id))
        cues.sort(key=lambda x: -x[0])
        names = {f"c{k}": fid for k, (_, _, fid) in enumerate(cues)}
        alt = "|".join(f"(?P<c{k}>{body})" for k, (_, body, _) in enumerate(cues))
        return re.compile(rf"(?<![\w-])(?:{alt or '(?!)'})(?![\w-])", re.I), names

    def cue_hits(self, text: str, lo: int = 0, hi: int | None = None) -> list[tuple[int, int, str]]:
        """Field cues in text[lo:hi], longest first, without overlaps: (start, end, field)."""
        hi = len(text) if hi is None else hi
        rx, names = self._cue_rx
        return [(m.start(), m.end(), names[m.lastgroup or ""]) for m in rx.finditer(text, lo, hi)]

    def fid(self, ftype: str) -> str | None:
        """The form's (first) field of this type."""
        specs = self._by_type.get(ftype)
        return specs[0].id if specs else None

    def ftype(self, fid: str) -> str:
        """The type of a field ("" when the form has no such field)."""
        spec = self.form.field(fid)
        return spec.type if spec else ""

    def fields_of_type(self, ftype: str) -> list[str]:
        """Every field of this type, in form order."""
        return [f.id for f in self._by_type.get(ftype, [])]

    def allowed(self, turn: Turn, fid: str, pos: int, agent: bool) -> bool:
        """Context filter: secrets, other people's details, old values."""
        if inside(pos, turn.secret) or (not agent and self._expect_secret):
            return False
        ftype = self.ftype(fid)
        if inside(pos, turn.stranger):
            return False
        # other people's details are not the caller's form; only in a bereavement call is the
        # deceased relative's bank account the account the call is about
        exempt = self._bereavement and ftype in ("iban", "reference") and not self._stranger_topic
        if not exempt and (inside(pos, turn.relation) or (not agent and self._expect_third)):
            return False
        if self._stranger_topic and not agent:  # "He said Beacon as well, policy C A R ..."
            sent = next((a for a, b in turn.sentences if a <= pos < b), 0)
            if THIRD_PRONOUN_RE.match(turn.seg.text, sent):
                return False
        return not inside(pos, turn.stale)

    # ------------------------------------------------------------------ agent turns

    def _agent_turn(self, turn: Turn) -> list[FormValue]:
        out: list[FormValue] = []
        self._agent_pending = []
        self._read_back = []
        text = turn.seg.text
        confirm_style = "?" in text or bool(CONFIRM_RE.search(text))
        cued = {fid for _, _, fid in self.cue_hits(text)}
        if self.fid("street_address") in cued:  # "Is your address still ..., Bristol, BS8 1AB?"
            cued |= {self.fid("postcode"), self.fid("city")}
        cands = self._extract(turn, agent=True)
        # a "no" answers the end of the agent's turn: the read-back there, or the one just before
        # a short "Is that right?"
        sents = turn.sentences
        tail = sents[-1][0]
        if len(sents) > 1 and len(text[sents[-1][0]:sents[-1][1]].split()) <= 4 and \
                not self.cue_hits(text, sents[-1][0], sents[-1][1]):
            tail = sents[-2][0]
        readback = any(self._current.get(c.field) is not None
                       and self._current[c.field].value == c.value for c in cands)
        for c in cands:
            cur = self._current.get(c.field)
            if cur is not None and cur.value == c.value:
                self._add_evidence(cur, c.evidence, 0.08)
                if c.evidence[0].char_end >= tail:
                    self._read_back.append(cur)
                out.append(cur)
            elif (confirm_style and cur is None and c.field not in self._locked
                  and (c.field in cued or readback or self.ftype(c.field) in ("email", "iban")
                       or (self.ftype(c.field) in ADDRESS_FAMILY
                           and self._answered & ADDRESS_FAMILY))
                  and (c.field, c.value) not in self._dismissed):
                # the agent says a value the caller has not: it counts once the caller agrees
                self._agent_pending.append(c)
            elif (confirm_style and self.from_audio and cur is not None and cur.status == "proposed"
                  and c.value not in cur.alternatives and cur.display == "check"):
                # the agent's read-back was heard differently from the caller's words: one of
                # the two hearings is wrong, so the agent's goes beside it for the agent to pick
                cur.alternatives = [c.value, *cur.alternatives][:3]
                out.append(cur)
        name_f = self.fid("person_name")
        m = AGENT_NAME_RE.search(text)
        if m and name_f and name_f not in self._current and name_f not in self._locked:
            got = name_at(turn, m.end())  # "Am I speaking with Mr Nathan Greaves?"
            if got is not None:
                words, a, b = got
                self._agent_pending.append(Cand(name_f, " ".join(words), 0.8, a,
                                                 [evidence_at(turn, a, b)]))
        for fid, cur in list(self._current.items()):  # literal read-backs: names, cities
            if self.ftype(fid) in ("person_name", "city") and len(cur.value) > 2:
                k = turn.low.find(fold(cur.value))
                if k >= 0 and not any(e.segment_id == turn.seg.segment_id for e in cur.evidence):
                    self._add_evidence(cur, [evidence_at(turn, k, k + len(cur.value))], 0.05)
                    self._read_back.append(cur)  # heard the same from the agent: a "yes" confirms it
                    out.append(cur)
        self._update_expectation(turn)
        for fv in self._read_back:  # "So that's 5192 0374?" - "No, 0375": the field is open again
            if fv.field not in self._expected:
                self._expected.append(fv.field)
                self._expected_age = 0
        return out

    def _update_expectation(self, turn: Turn) -> None:
        """What the agent just asked for: those fields are what the caller's next turn holds."""
        text = turn.seg.text
        sents = turn.sentences
        asks = [s for s in sents if text[s[0]:s[1]].rstrip().endswith("?")]
        if not asks:
            asks = [s for s in sents if REQUEST_RE.search(text, s[0], s[1])]
        real_asks = list(asks)
        if not asks and len(text[sents[-1][0]:sents[-1][1]].split()) <= 12:
            asks = [sents[-1]]  # "And the postcode."
        fields: list[str] = []
        third = secret = False
        for a, b in asks:
            for _, _, fid in self.cue_hits(text, a, b):
                if fid not in fields:
                    fields.append(fid)
            if inside(a, turn.relation) or any(a <= x < b for x, _ in turn.relation):
                third = True
            if (a, b) in real_asks and any(a <= x < b for x, _ in turn.secret):
                secret = True  # "What's your PIN?", not "Your PIN stays the same."
        if asks and not fields and not secret and len(text) < 80:
            # "Could you spell that?" keeps the question open; "What's the new one?" refers
            # to what the caller just said they want to change
            if REPEAT_RE.search(text) and self._expected:
                fields, third = list(self._expected), self._expect_third
            else:
                fields = list(self._last_customer_fields)
        if fields or secret:
            self._expected, self._expect_third, self._expect_secret = fields, third, secret
            self._expected_age = 0
            p = self.pending
            if p is not None and p.field not in fields and not (
                    p.field == "street" and self.fid("street_address") in fields):
                self.pending = None  # the agent moved on to another field
        elif asks and not BACKCHANNEL_RE.match(text) and len(text.split()) > 6:
            self._expected, self._expect_third, self._expect_secret = [], False, False

    # ------------------------------------------------------------------ customer turns

    def _customer_turn(self, turn: Turn) -> list[FormValue]:
        out: list[FormValue] = []
        text = turn.seg.text
        self._remember_before(turn)
        had_pending = bool(self._agent_pending)
        if self._agent_pending:
            if AFFIRM_RE.match(text) and not NEGATE_RE.match(text):
                m = AFFIRM_RE.match(text)
                yes = evidence_at(turn, m.start(), m.end()) if m else None
                for c in self._agent_pending:
                    c.evidence = c.evidence + ([yes] if yes else [])
                    c.conf = min(0.9, c.conf)
                    fv = self._commit(c)
                    if fv is not None:
                        out.append(fv)
            self._agent_pending = []
        if self._read_back and NEGATE_RE.match(text) and not had_pending:
            # "So that's X?" - "No." : X was probably misheard; keep it shown, not final
            for fv in self._read_back:
                if fv.status == "proposed":
                    fv.confidence = min(fv.confidence, 0.4)
                    fv.confirmed = False
                    out.append(fv)
        elif self._read_back and AFFIRM_RE.match(text) and not had_pending:
            # "So that's X?" - "Yes.": the agent heard the same value and the caller agrees
            m = AFFIRM_RE.match(text)
            for fv in self._read_back:
                if fv.status == "proposed" and fv.valid and m is not None:
                    fv.confirmed = True
                    fv.confidence = max(fv.confidence, CONFIRMED_FLOOR)
                    self._add_evidence(fv, [evidence_at(turn, m.start(), m.end())], 0.0)
                    out.append(fv)
        self._read_back = []
        answered = set()
        for c in sorted(self._extract(turn, agent=False), key=lambda c: c.pos):
            if c.patch is not None:
                c = self._apply_patch(turn, *c.patch)
                if c is None:
                    continue
            fv = self._commit(c)
            if fv is not None:
                out.append(fv)
                answered.add(fv.field)
        # an answered question is closed: a later value for it needs its own cue
        self._expected = [f for f in self._expected if f not in answered]
        self._answered = {self.ftype(f) for f in answered}
        self._last_customer_fields = [fid for _, _, fid in self.cue_hits(text)]
        self._plan_ask(turn, answered)
        if len(text.split()) > 4 or any(c.isdigit() for c in text):
            self._expect_secret = False  # the answer to a secret question has been given
        self._expected_age += 1
        if self._expected_age >= 2:
            self._expected, self._expect_third, self._expect_secret = [], False, False
        if self.pending is not None:
            self.pending.age += 1
            if self.pending.age > 2:
                self.pending = None
        for k in list(self.blocked_recent):
            self.blocked_recent[k] -= 1
            if self.blocked_recent[k] <= 0:
                del self.blocked_recent[k]
        return out

    # ------------------------------------------------------------------ extraction

    def _extract(self, turn: Turn, agent: bool) -> list[Cand]:
        """Every family's candidates for this turn, in registry order."""
        scan = Scan(turn, agent, [] if agent else list(self._expected))
        for family in FAMILIES:
            if agent and not family.agent_turns:
                continue
            scan.cands.extend(family.extract(self, scan))
        for c in scan.cands:
            c.asked = c.asked or c.field in scan.expected
        self._mark_corrections(turn, scan.cands)
        return scan.cands

    def _mark_corrections(self, turn: Turn, cands: list[Cand]) -> None:
        """A value after a correction cue ("no sorry, ...") that differs from the value
        before it is a self-correction."""
        if turn.seg.speaker != "customer" or not turn.corrections:
            return
        prev_pos: dict[str, int] = {}
        for c in sorted(cands, key=lambda c: c.pos):
            before = prev_pos.get(c.field, 0)
            had_value = c.field in prev_pos or c.field in self._current or (
                c.field in self.blocked_recent)
            if c.patch is not None or (had_value and any(before <= p < c.pos
                                                         for p in turn.corrections)):
                c.correction = True
            prev_pos[c.field] = c.pos

    def _apply_patch(self, turn: Turn, x: str, y: str, symbolic: bool,
                     span: tuple[int, int]) -> Cand | None:
        """A partial correction applied to the caller's latest unlocked value it fits."""
        seps = {**SEP_WORDS, "dot": ".", "punt": ".", "point": ".", "at": "@"}
        if symbolic and fold(x) in seps and fold(y) in seps:
            xs, ys = seps[fold(x)], seps[fold(y)]
        else:
            xs, ys = spoken_alnum(x), spoken_alnum(y)
            if not xs or (symbolic and not ys):
                return None
        # the caller's latest value this can apply to
        for fv in sorted(self._current.values(), key=lambda v: int(v.id[3:]), reverse=True):
            if fv.field in self._locked:
                continue
            spec = self.form.field(fv.field)
            if spec is None:
                continue
            old = fv.value
            new = patched(spec.type, old, xs, ys, symbolic)
            if new is None or new == old or validate(spec.type, new) is None:
                continue
            ev = [evidence_at(turn, *span)]
            return Cand(fv.field, validate(spec.type, new), 0.8, span[0], ev, correction=True)
        return None

    # ------------------------------------------------------------------ commit

    def _next_id(self) -> str:
        self._n += 1
        return f"fv-{self._n}"

    def _add_evidence(self, fv: FormValue, evidence: list[Evidence], boost: float) -> None:
        have = {(e.segment_id, e.char_start, e.char_end) for e in fv.evidence}
        new = [e for e in evidence if (e.segment_id, e.char_start, e.char_end) not in have]
        if new:
            fv.evidence.extend(new)
            if fv.status == "proposed":
                fv.confidence = max(fv.confidence, min(self._ceiling(fv), fv.confidence + boost))

    def _ceiling(self, fv: FormValue) -> float:
        """How high more evidence may take a value: from audio, a value without a checksum
        stays below the display threshold until the caller confirms the agent's read-back of
        it (the agent merely repeating it may be misheard the same way)."""
        if self.from_audio and self.ftype(fv.field) not in CHECKSUMMED and not fv.confirmed:
            return DISPLAY_THRESHOLD - 0.01
        return 0.99

    def _commit(self, c: Cand, source: str = "rules") -> FormValue | None:
        spec = self.form.field(c.field)
        if spec is None or c.field in self._locked or (c.field, c.value) in self._dismissed:
            return None
        if not c.evidence:
            return None  # no value without evidence, ever
        cur = self._current.get(c.field)
        if cur is not None and cur.value == c.value:
            self._add_evidence(cur, c.evidence, 0.05)
            return cur
        if cur is not None and not c.correction and c.conf < cur.confidence - 0.15:
            return None
        if cur is not None and not c.correction and not c.asked and \
                spec.type in ("date_of_birth", "person_name", "bsn"):
            return None  # a second birth date nobody asked for is someone else's
        seg_conf = min((self._span_conf(e) for e in c.evidence), default=1.0)
        conf = c.conf * (0.6 + 0.4 * seg_conf)
        if self.from_audio and spec.type not in CHECKSUMMED:
            conf *= SINGLE_HEARING  # one hearing (alternatives.SINGLE_HEARING, `_ceiling`)
        fv = FormValue(
            id=self._next_id(), field=c.field, value=c.value,
            confidence=round(max(0.0, min(0.99, conf)), 3),
            evidence=list(c.evidence), replaces=cur.id if cur is not None else None,
            correction=c.correction and (cur is not None or c.field in self.blocked_recent),
            source=source, label=spec.label_for(self.language))
        return self._store(fv)

    def _store(self, fv: FormValue) -> FormValue:
        """A new suggestion: in the call's list, and the field's standing one."""
        self._all[fv.id] = fv
        self._current[fv.field] = fv
        return fv

    def _span_conf(self, e: Evidence) -> float:
        """ASR confidence of the words the value was read from (segment's if no words)."""
        for t in reversed(self._turns):
            if t.seg.segment_id == e.segment_id:
                if t.seg.words:
                    return span_confidence(t.seg, e.char_start, e.char_end)
                return t.seg.confidence
        return 1.0
