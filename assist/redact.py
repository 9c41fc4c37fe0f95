"""PII redaction for everything Souffleur stores or exports.

The live overlay shows the authorised agent what was said; everything persisted
(Redis, files, batch outputs, the audit trail) holds this redacted form. What is
removed, in spoken and written forms, English and Dutch:

* e-mail addresses ("nathan dot greaves at example dot com", "a@b.nl");
* dictated numbers of four digits or more: phone, card (Luhn or not), IBAN and
  account numbers, BSN, customer numbers ("five one nine two, oh three seven
  four", "5-1-9-2", "NL21 HRBB 0001...");
* dates with a year (dates of birth: "the 29th of February 2000");
* the values the call's form captured (names, addresses...), wherever they recur.

* what no form has to capture first (`assist.pii`): personal names (after a cue,
  as addressed, from lexicons, misheard ones too), spelled-out runs of letters
  (also in spelling alphabets), street addresses with house numbers, postcodes.

It reuses the autofill's spoken-form readers, so whatever the form can read, the
redactor can remove. Over-redaction (a meter reading) is accepted; a leak is not.
Each removal leaves its kind in brackets ("[name]", "[spelled]", "[address]",
"[postcode]", "[email]", "[number]", "[date]", "[iban]", "[secret]", "[pii]" for a
captured form value), so a reader of the stored log still follows the call.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from .autofill.cues import PARTICLES
from .pii import CallMemory, find_pii
from .spoken import find_dates, find_emails, tokenize, value_runs
from .spoken.emails import AT_WORDS, DOT_WORDS, SEP_WORDS, TLDS, _domain_at
from .spoken.tokens import Token, fold

_TLD = "(?:" + "|".join(sorted(TLDS)) + ")"
WRITTEN = [
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    # an address whose "at" the ASR heard as a dot: "nathan.grees.example.com",
    # "nathan.grees.com"; three labels or more, not a web address ("www.", "help.", "co.uk")
    ("email", re.compile(r"(?<![\w.@/-])(?!(?:www|mail|help|support|my|app|login|secure|online|shop|web|m|en|nl)\.)"
                         r"(?![A-Za-z][\w-]*\.(?:co|com|org|ac|gov|net)\.[a-z]{2}\b(?![.@-]?\w))"
                         r"[A-Za-z][\w-]*(?:\.[A-Za-z][\w-]*){1,}\." + _TLD + r"\b(?![.@-]?\w)")),
    # ... or glued to both halves: "hyphenavernathyatexample.org" (c-abernathy@example.org)
    ("email", re.compile(r"(?<![\w.@/-])[A-Za-z][\w-]{2,}at[A-Za-z][\w-]*\." + _TLD + r"\b(?![.@-]?\w)")),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{2,4}){3,8}\b")),
    ("number", re.compile(r"\+?\d[\d\s().,\-/]{4,}\d")),  # commas too: "1, 2, 3, 4"
    ("date", re.compile(r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}\b")),
]
# after these, even one or two digits are a secret being said ("my passcode is one nine—")
SECRET_CUES = re.compile(
    r"(?i)\b(pass ?code|pin(?: ?code)?|password|security code|cvv|cvc|wachtwoord|pincode|"
    r"beveiligingscode|toegangscode|verification code|one-time code)\b")
# what an agent asks for, so the bare answer that follows is read as one ("And your name?"
# "Olumide Adebayo."): the next two transcript events, whoever says them
NAME_QUESTION = re.compile(
    r"(?i)\b(?:your (?:full |first |last |sur)?name|who am i (?:speaking|talking) (?:to|with)|"
    r"(?:take|have|get) (?:the|a) name|(?:uw|je|jouw) (?:volledige |voor|achter)?naam|"
    r"met wie spreek ik|hoe heet u|spell (?:that|it|your)|spellen)\b")
HOUSE_QUESTION = re.compile(r"(?i)\b(?:house number|huisnummer|which number|welk nummer)\b[^.!]*\?")
PARTIAL_CUES = re.compile(r"(?i)\b(digits?|cijfers?|numbers?|nummers?|i mean|ik bedoel|eindigt op|ends in)\b")
# keys whose strings are structure, never what a caller said
STRUCTURAL = {
    "type", "id", "call_id", "segment_id", "field", "label", "status", "speaker", "kind", "subkind",
    "rule", "playbook", "doc", "title", "heading", "source", "code", "level", "action",
    "suggestion_id", "suggestion_type", "language", "languages", "request_id", "sha256", "created",
    "models", "model_info", "metadata", "replaces", "key", "passage_id", "disposition", "owner",
    "audience", "severity", "direction", "node", "encoding", "transaction_key", "priority", "ts",
    "record_id", "segment_ids",
}
KINDS = frozenset({"name", "spelled", "address", "postcode", "email", "number", "secret", "date",
                   "iban", "pii"})
# Deepgram's `redact` values -> our kinds. Anything else (`true`, `pii`, `phi`, an entity
# name we do not know) removes everything: redacting more than asked is safe, less is not.
DEEPGRAM_KINDS = {
    "pci": frozenset({"number", "secret", "iban"}),
    "numbers": frozenset({"number", "secret", "iban", "date", "postcode"}),
    "ssn": frozenset({"number"}),
    "name": frozenset({"name", "spelled"}),
}
PII_FIELDS = {"full_name", "date_of_birth", "phone_number", "email", "account_number", "iban",
              "street_address", "postcode", "bsn", "customer_number", "policy_number"}


# where the words of a misheard local part stop, going back from its "at"
_LOCAL_BOUNDARY = {"is", "it's", "its", "still", "my", "email", "e-mail", "email's", "e-mail's", "address", "adres",
                   "that's", "to", "yes", "yeah", "so", "and", "please", "was", "the", "mijn",
                   "naar", "ja", "dus", "en", "het", "via", "on", "new", "nieuwe", "use", "sure"}


_WEB_BEFORE_AT = {"look", "looking", "us", "online", "website", "site", "visit", "page", "kijk", "kijken"}


def _heard_emails(tokens: list[Token]) -> list[tuple[int, int]]:
    """An e-mail address whose local part the ASR broke into words ("grace dot a day me at
    example dot net" for grace.adeyemi@...): the autofill's reader, which must be exact,
    finds no address there, but "at" before a dictated domain is one. Everything back to
    the clause's start or a word that opens the address ("is", "my", "still") goes, at
    most eight words."""
    out = []
    for a, t in enumerate(tokens):
        if t.low not in AT_WORDS or a == 0 or tokens[a - 1].low in _WEB_BEFORE_AT:
            continue  # "look at example dot com": a web site
        dom = _domain_at(tokens, a + 1)
        if dom is None:
            continue
        k, words = a - 1, 0
        while k >= 0 and words < 8 and tokens[k].low not in _LOCAL_BOUNDARY and (
                tokens[k].kind != "punct" or tokens[k].text in "-_"):
            words += tokens[k].kind != "punct"
            k -= 1
        if k + 1 < a:
            out.append((tokens[k + 1].start, tokens[dom[1] - 1].end))
    # no "at" heard at all, but a local part with a separator before a dictated domain:
    # "underscore W79 example dot net" (lukasz_w79@example.net); most texts say no separator
    said = [k for k, t in enumerate(tokens) if t.kind == "word" and (t.low in SEP_WORDS or t.low in DOT_WORDS)]
    for j in range(2, len(tokens)) if said else ():
        if tokens[j - 1].low in AT_WORDS or tokens[j - 1].low in DOT_WORDS or tokens[j].kind != "word":
            continue  # (after a dot the domain is part of a longer written or dictated host)
        dom = _domain_at(tokens, j)
        if dom is None or not any(t.low in DOT_WORDS for t in tokens[j:dom[1]]):
            continue
        seps = [k for k in said if j - 3 <= k < j]  # said, not written
        if seps:
            k = seps[0]
            while k > 0 and tokens[k - 1].low not in _LOCAL_BOUNDARY and tokens[k - 1].kind != "punct" \
                    and seps[0] - k < 3:
                k -= 1
            out.append((tokens[k].start, tokens[dom[1] - 1].end))
    return out


def _folded(text: str) -> tuple[str, list[int]]:
    """`text` folded as `fold` folds it (lower case, no accents), and for each folded
    character the index of the character of `text` it came from."""
    out: list[str] = []
    where: list[int] = []
    for i, c in enumerate(text):
        f = fold(c)
        out.append(f)
        where += [i] * len(f)
    return "".join(out), where


def redaction_kinds(values: Iterable[str]) -> frozenset[str]:
    """The kinds a client's `redact=` values ask for (`StreamOptions.redact`)."""
    out: set[str] = set()
    for v in values:
        out |= DEEPGRAM_KINDS.get(v.strip().lower(), KINDS)
    return frozenset(out)


class Redactor:
    """One call's redactor. It learns as the call goes on (form values, names it found,
    spellings), so keep one per call; `kinds` limits what it removes (default: all)."""

    def __init__(self, values: Iterable[str] = (), min_digits: int = 4,
                 kinds: Iterable[str] | None = None) -> None:
        self.min_digits = min_digits
        self.kinds = KINDS if kinds is None else frozenset(kinds)
        self._values: set[str] = set()
        self.memory = CallMemory()
        self._reported: set[str] = set()
        self._expect: tuple[str | None, int] = (None, 0)  # (what was asked, events left)
        self._asked: OrderedDict[int, str | None] = OrderedDict()  # event (hash) -> expect
        self.add_values(values)

    def learned(self) -> list[str]:
        """Names found since the last call of this method (folded): what earlier stored
        events may mention, to be redacted again (`streaming/service/redis_redaction.py`)."""
        new = sorted(self.memory.names - self._reported)
        self._reported |= self.memory.names
        return new

    def capture(self, field: str, values: Iterable[str]) -> None:
        """Values the form captured for `field`; a name's words are names of this call on
        their own too ("Quorvath" after "Olumide Quorvath" was captured), reported by
        `learned` for the retroactive pass."""
        values = [v for v in values if v]
        self.add_values(values)
        if field == "full_name":
            self.memory.names.update(t.low for v in values for t in tokenize(v)
                                     if t.kind == "word" and len(t.low) >= 2 and t.low not in PARTICLES)

    def add_values(self, values: Iterable[str]) -> None:
        """Form values the call captured: removed wherever they recur."""
        for v in values:
            v = (v or "").strip()
            if len(v) >= 3:
                self._values.add(v)

    # -- text ------------------------------------------------------------------
    def spans(self, text: str, expect: str | None = None) -> list[tuple[int, int, str]]:
        """(start, end, kind) of everything to remove, merged and sorted; `expect` is what
        the other side just asked for ("name", "house")."""
        out: list[tuple[int, int, str]] = []
        tokens = tokenize(text)
        for m in find_emails(tokens):
            out.append((m.start, m.end, "email"))
        try:
            for d in find_dates(tokens, text):
                out.append((d.start, d.end, "date"))
        except (ValueError, IndexError):  # a malformed date is not worth failing a redaction
            pass
        secrets = [m.end() for m in SECRET_CUES.finditer(text)]
        partial = [m.end() for m in PARTIAL_CUES.finditer(text)]
        runs = value_runs(tokens)
        long_number = any(r.n_digits >= self.min_digits for r in runs)
        for run in runs:
            after_secret = any(0 <= run.start - c <= 40 for c in secrets)
            # a correction of part of a number said in the same breath ("…, I mean five
            # two nine", "the last two digits are fifty") is part of that number
            fragment = run.n_digits >= 2 and (long_number or any(0 <= run.start - c <= 40 for c in partial))
            if (run.n_digits >= self.min_digits or (run.n_digits >= 2 and run.n_letters >= 2)
                    or fragment or (after_secret and run.n_digits >= 1)):
                out.append((run.start, run.end, "secret" if after_secret else "number"))
        words = [t for t in tokens if t.kind != "punct"]
        if words and sum(r.n_digits for r in runs) >= 2 and all(
                any(r.start <= t.start and t.end <= r.end for r in runs) for t in words):
            # a final or record that is only a few digits ("6 1 7", "5 5 5") is a piece of a
            # number dictated with pauses, each piece too short for the number rule
            out.append((words[0].start, words[-1].end, "number"))
        for kind, pat in WRITTEN:
            for m in pat.finditer(text):
                if kind != "number" or sum(c.isdigit() for c in m.group()) >= self.min_digits:
                    out.append((m.start(), m.end(), kind))
        out += [(a, b, "email") for a, b in _heard_emails(tokens)]
        low, where = _folded(text)
        for v in self._values:  # accents aside: a form's "José" is the transcript's "Jose"
            for m in re.finditer(re.escape(fold(v)), low):
                out.append((where[m.start()], where[m.end() - 1] + 1, "pii"))
        out += find_pii(text, tokens, runs, self.memory, expect)
        return _merge([s for s in out if s[2] in self.kinds], text)

    def text(self, text: str, expect: str | None = None) -> str:
        if not text:
            return text
        parts, pos = [], 0
        for a, b, kind in self.spans(text, expect):
            parts.append(text[pos:a])
            parts.append(f"[{kind}]")
            pos = b
        parts.append(text[pos:])
        return "".join(parts)

    # -- events ------------------------------------------------------------------
    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        """A redacted deep copy of one bus event (the original is left alone)."""
        e = copy.deepcopy(event)
        if e.get("type") in ("Results", "Record"):  # live pieces and the transcript of record
            alts = e.get("channel", {}).get("alternatives", [])
            expect = self._expected(e, alts[0].get("transcript", "")) if alts else None
            for alt in alts:
                self._results_alt(alt, expect)
            return e
        values = form_values(e)
        if values:
            # the other readings and the words heard are the same value, misheard: as personal
            self.capture(str(e["field"]), values)
            e["value"] = "[pii]"
            if len(values) > 1:
                e["alternatives"] = ["[pii]"] * (len(values) - 1)
            if e.get("heard"):
                e["heard"] = "[pii]"
        return self._walk(e)

    def again(self, stored: Any) -> Any:
        """Something already stored (redacted) redacted again with what this redactor knows
        now: its strings only (structure as `event` reads it), nothing learnt from its shape.
        The retroactive pass over stored records (`RedactingAuditStore`)."""
        return self._walk(copy.deepcopy(stored))

    def _expected(self, e: dict[str, Any], transcript: str) -> str | None:
        """What the transcript event `e` answers, if the one before asked for a name or a
        house number. Remembered per event, so an event redacted again later (the
        retroactive pass) is read the same way."""
        key = hash((e.get("type"), e.get("start"), tuple(e.get("channel_index") or ()), transcript))
        if key in self._asked:
            return self._asked[key]
        kind, left = self._expect
        expect = kind if left > 0 else None
        self._expect = (kind, left - 1)
        if NAME_QUESTION.search(transcript):
            self._expect = ("name", 2)
        elif HOUSE_QUESTION.search(transcript):
            self._expect = ("house", 2)
        self._asked[key] = expect
        while len(self._asked) > 300:  # the retroactive pass looks back 300 events at most
            self._asked.popitem(last=False)
        return expect

    def _results_alt(self, alt: dict[str, Any], expect: str | None = None) -> None:
        transcript = alt.get("transcript", "")
        spans = self.spans(transcript, expect)
        if not spans:
            return
        # words overlapping a redacted span are blanked too
        pos = 0
        for w in alt.get("words", []):
            pw = w.get("punctuated_word") or w.get("word", "")
            i = transcript.find(pw, pos)
            if i < 0:
                continue
            j = i + len(pw)
            pos = j
            if any(a < j and i < b for a, b, _ in spans):
                w["word"] = "[redacted]"
                w["punctuated_word"] = "[redacted]"
        alt["transcript"] = self.text(transcript, expect)

    def _walk(self, obj: Any, key: str | None = None) -> Any:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k in STRUCTURAL:
                    continue
                obj[k] = self._walk(v, k)
            return obj
        if isinstance(obj, list):
            return [self._walk(v, key) for v in obj]
        if isinstance(obj, str):
            return self.text(obj)
        return obj


def _merge(spans: list[tuple[int, int, str]], text: str) -> list[tuple[int, int, str]]:
    """Overlapping spans become one (the first one's kind); spans of one kind with only
    spaces and commas between them too ("S van Simon, I van Izaak" is one "[spelled]")."""
    out: list[tuple[int, int, str]] = []
    for a, b, kind in sorted(spans):
        if out and (a <= out[-1][1] or (kind == out[-1][2] and not text[out[-1][1]:a].strip(" ,-"))):
            pa, pb, pk = out[-1]
            out[-1] = (pa, max(pb, b), min(pk, kind, key=_PRIORITY.index))
        else:
            out.append((a, b, kind))
    return out


# which kind names a merged span: the most specific one ("Sierra India" is spelled even
# though "India" could start a name; "SW1A 1AA" is a postcode, not a number)
_PRIORITY = ["email", "iban", "secret", "date", "address", "postcode", "spelled", "number", "pii",
             "name"]


class RedactingAuditStore:
    """An AuditStore wrapper: the audit trail on disk holds no PII.

    The report only needs what a suggestion was about (field, rule, document)
    and what the agent did with it, so values and quoted speech are redacted
    before they are written. One Redactor per call remembers the values the
    form captured, so later mentions of them are removed too; and when it learns a
    value or a name (from a later record, or from the call's stored event log through
    `learn`), the call's records written before are redacted again in the inner store
    (`rewrite`): a name the form captures at the end of the call is not left in clear in
    the suggestions shown before it.
    """

    def __init__(self, inner: Any, max_calls: int = 1000) -> None:
        self.inner = inner
        self.max_calls = max_calls
        self._redactors: dict[str, Redactor] = {}
        self._passed: dict[str, set[str]] = {}  # per call: needles its records were redacted of
        # one at a time: redact-then-write and learn-then-rewrite must not interleave (a
        # record redacted before a name was learnt, written after its rewrite, would keep it)
        self._lock = threading.RLock()
        self.rewritten = 0  # records redacted again (tests, benchmarks)

    def _for(self, call_id: str) -> Redactor:
        if call_id not in self._redactors:
            if len(self._redactors) >= self.max_calls:
                oldest = next(iter(self._redactors))
                self._redactors.pop(oldest)
                self._passed.pop(oldest, None)
            self._redactors[call_id] = Redactor()
        return self._redactors[call_id]

    def append(self, record: dict[str, Any]) -> None:
        call_id = str(record.get("call_id", ""))
        with self._lock:
            r = self._for(call_id)
            rec = copy.deepcopy(record)
            values: list[str] = []
            if isinstance(rec.get("event"), dict):
                values = form_values(rec["event"])
                rec["event"] = r.event(rec["event"])
            pii_field = rec.get("suggestion_type") == "FormValue" and rec.get("key") in PII_FIELDS
            for k in ("value", "suggested"):
                if isinstance(rec.get(k), str):
                    if pii_field:
                        values.append(rec[k])
                    rec[k] = "[pii]" if pii_field else r.text(rec[k])
            self.inner.append(rec)
            r.add_values(values)
            self._again(call_id, r, [*r.learned(), *values])

    def learn(self, call_id: str, names: Iterable[str] = (), values: Iterable[str] = ()) -> int:
        """What the call's stored event log taught its own redactor (names it recognised,
        values the form captured): removed from this call's records written so far and
        from those to come. Returns how many records were redacted again."""
        names, values = [n for n in names if n], [v for v in values if v]
        if not names and not values:
            return 0
        with self._lock:
            r = self._for(call_id)
            r.memory.names.update(n.lower() for n in names)
            r.add_values(values)
            r.learned()  # reported here: the next append need not look for them again
            return self._again(call_id, r, [*names, *values])

    def _again(self, call_id: str, r: Redactor, needles: list[str]) -> int:
        """The retroactive pass: records of the call that mention a needle, redacted again."""
        passed = self._passed.setdefault(call_id, set())
        needles = [n for n in dict.fromkeys(x.strip().lower() for x in needles if x)
                   if len(n) >= 2 and n not in passed]  # later records are redacted on write
        rewrite = getattr(self.inner, "rewrite", None)
        if not needles or rewrite is None:
            return 0
        passed.update(needles)

        def again(rec: dict[str, Any]) -> dict[str, Any]:
            if not any(n in json.dumps(rec, ensure_ascii=False).lower() for n in needles):
                return rec
            out = dict(rec)
            for k in ("event", "value", "suggested"):
                if k in out:
                    out[k] = r.again(out[k])
            return out

        n = int(rewrite(call_id, again))
        self.rewritten += n
        return n

    def records(self, call_id: str | None = None) -> list[dict[str, Any]]:
        return self.inner.records(call_id)


def form_values(event: dict[str, Any]) -> list[str]:
    """A PII FormValue's value and its other readings (as said): what the redactor learns."""
    if event.get("type") != "FormValue" or event.get("field") not in PII_FIELDS or not event.get("value"):
        return []
    return [str(v) for v in [event["value"], *(event.get("alternatives") or [])] if v]
