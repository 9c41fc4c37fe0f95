"""Form autofill from the live transcript: rules first, every value with its evidence.

Values are taken where the dialogue makes their meaning clear: the caller's
answer to the agent's question ("Can I take your postcode?" -> next customer
turn), a field word right before the value ("BSN is ..."), or an unmistakable
shape (a valid IBAN, an e-mail address). Anything said about someone else, or
after a passcode/PIN cue, is not the caller's form. The agent is in charge: an
accepted or edited value is never overwritten, a dismissed one never re-proposed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from assist.forms import FieldSpec, FormSpec, load_form
from assist.grounding import span_confidence
from assist.spoken import (
    FILLERS,
    SEP_WORDS,
    Item,
    Run,
    Token,
    find_dates,
    find_emails,
    fold,
    read_number,
    spoken_alnum,
    tokenize,
    value_runs,
)
from assist.types import Evidence, Segment
from assist.validators import (
    IBAN_BBAN,
    IBAN_LENGTHS,
    bsn_valid,
    email_valid,
    iban_valid,
    luhn_valid,
    phone_e164,
    postcode_normalise,
)


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
        }


# ----------------------------------------------------------------------------- cue patterns

def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# Secrets are never form values: the caller may start to say them anyway.
SECRET_RE = _rx(
    r"\b(?:pass ?codes?|pin(?: ?code| number)?|pincode|passwords?|wachtwoord|security (?:code|number)|"
    r"beveiligingscode|cvv|cvc|cv2|card verification|verification code|verificatiecode|"
    r"one[- ]time (?:code|password)|eenmalige code|toegangscode|inlogcode|memorable word|"
    r"activation code|activeringscode|sms[- ]code|card number|kaartnummer|pasnummer|"
    r"long number on (?:the|your|my) card|(?:three|3) digits on the back|geheime code|"
    r"(?<!postal )(?<!post )(?<!zip )(?<!area )(?<!country )(?<!sort )(?<!pac )code)\b")
_REL_EN = (r"wife|husband|partner|son|daughter|mother|mum|mom|father|dad|brother|sister|child|"
           r"kid|kids|children|friend|neighbou?r|colleague|boss|employer|landlord|landlady|"
           r"tenant|grand(?:mother|father|ma|pa|son|daughter)|gran|nan|aunt|uncle|cousin|"
           r"nephew|niece|fianc[eé]e?|boyfriend|girlfriend|spouse|flatmate|housemate|"
           r"(?:mother|father|son|daughter|brother|sister)-in-law|step(?:son|daughter|mother|"
           r"father)|carer|client|employee|lodger")
_REL_NL = (r"vrouw|man|partner|echtgeno(?:ot|te)|zoon|dochter|moeder|vader|mama|papa|mam|pap|"
           r"broer|zus|zuster|kind|kinderen|vriend|vriendin|buurman|buurvrouw|collega|baas|"
           r"werkgever|huisbaas|oma|opa|tante|oom|neef|nicht|verloofde|schoon(?:moeder|vader|"
           r"zoon|dochter)|huisgenoot|huisgenote|stief(?:zoon|dochter|moeder|vader)|cli[eë]nt")
_FIELD_NOUNS = (r"(?:full )?name|\w*number|date of birth|birthday|e-?mail(?: address)?|phone|"
                r"mobile|address|details|bsn|iban|policy|account|naam|\w*nummer|geboortedatum|"
                r"e-?mailadres|adres|gegevens|mobiele nummer|postcode|polis|rekening|kenteken")
RELATION_RE = _rx(
    rf"\b(?:(?:my|our|your|his|her|their|the|a)\s+(?:late\s+|ex-?\s*|former\s+|elderly\s+)?"
    rf"(?:{_REL_EN})\b|"
    rf"(?:{_REL_EN})'s\b|(?:his|her|their)\s+(?:{_FIELD_NOUNS})\b|"
    rf"(?:mijn|onze|uw|je|jouw|zijn|haar|hun|de|het)\s+(?:overleden\s+|ex-?\s*|oude\s+)?"
    rf"(?:{_REL_NL})\b|(?:zijn|haar|hun)\s+(?:{_FIELD_NOUNS})\b)")
STRANGER_RE = _rx(
    r"\b(?:(?:the )?other (?:driver|party|person|car|vehicle)|third party|tegenpartij|"
    r"wederpartij|andere (?:bestuurder|partij|auto)|derde partij)\b")
SELF_RE = _rx(r"\b(?:and mine|mine is|my own|for me|en die van mij|en de mijne|die van mij|"
              r"mijn eigen|van mijzelf|myself)\b")
BEREAVEMENT_RE = _rx(
    r"\b(?:passed away|died|has died|death|deceased|bereavement|funeral|my late|"
    r"overleden|overlijden|nabestaande|nabestaanden|begrafenis|uitvaart|is gestorven)\b")
BELGIUM_RE = _rx(r"\b(?:belgi[eë]|belgium|belgian|belgisch[e]?|vlaanderen|flanders|wallonie|"
                 r"brussel|antwerpen|gent|leuven|brugge|li[eè]ge|luik|mechelen|hasselt)\b")
# Numbers that have a name of their own and are not on the identity form.
OTHER_NUMBER_RE = _rx(
    r"\b(?:sort ?code|(?:claim|complaint|case|order|invoice|ticket|booking|tracking|serial|"
    r"dispute|incident|crime|report|flight|meter|registration|pac|fraud)"
    r"(?: number| no\.?| code| reference)?|reference(?: number)?|readings?|"
    r"klachtnummer|zaaknummer|dossiernummer|ordernummer|bestelnummer|factuurnummer|"
    r"referentie(?:nummer)?|kenteken|serienummer|meterstand(?:en)?|aangiftenummer|"
    r"schadenummer|meldingsnummer|ticketnummer|vluchtnummer|boekingsnummer|"
    r"fraudemelding)\b")
THIRD_PRONOUN_RE = _rx(r"\s*(?:he|she|they|his|her|their|him|hij|zij|ze|zijn|haar|hun|hem)\b")
STALE_RE = _rx(
    r"\b(?:(?:old|previous|former|oude|vorige|voormalige|vroegere)\s+(?:\w+\s+)?"
    r"(?:number|address|email|e-mail|phone|mobile|account|one|nummer|adres|e-?mailadres|"
    r"telefoonnummer|rekening(?:nummer)?|postcode)|used to (?:be|have)|was vroeger|"
    r"vroeger had ik)\b")
CORRECTION_RE = _rx(
    r"(?:^\W*(?:no|nope|nee|nou nee)\b|\b(?:no,?\s+sorry|sorry,?\s+no|no,?\s+wait|wait,?\s+no|"
    r"no\s+no|i mean|i meant|correction|let me correct|scratch that|my mistake|my bad|oops|"
    r"sorry,?\s+(?:it'?s|it is|that'?s|that should be|i said)|actually,?\s+(?:it'?s|it is|no)|"
    r"hang on,?\s+(?:it'?s|no)|nee,?\s+wacht|nee,?\s+sorry|sorry,?\s+nee|wacht,?\s+nee|"
    r"ik bedoel|nee\s+nee|correctie|oh\s+nee|foutje|nee,?\s+het is|sorry,?\s+het is|"
    r"wacht,?\s+het is|not\s+[\w-]+(?:\s+[\w-]+)?,\s*(?:it'?s|but)|niet\s+[\w-]+(?:\s+[\w-]+)?,?"
    r"\s+maar|sorry|pardon|excuus|wrong|verkeerd|(?:oh\s+)?wait|wacht))")
AFFIRM_RE = _rx(
    r"^\W*(?:yes|yeah|yep|yup|correct|that'?s (?:right|correct|it|the one)|right|exactly|"
    r"spot on|perfect|ja|jazeker|jawel|klopt|dat klopt|correct|precies|helemaal goed|"
    r"inderdaad|ja hoor|that is (?:right|correct)|mm-?hm|uh-?huh)\b")
NEGATE_RE = _rx(r"^\W*(?:no|nope|nee|not quite|that'?s not|dat klopt niet|niet helemaal)\b")
REQUEST_RE = _rx(
    r"\b(?:can i|could i|may i|could you|can you|please|what'?s|what is|confirm|spell|tell me|"
    r"give me|need|mag ik|kunt u|kun je|wilt u|wil je|wat is|graag|noemen|geven|doorgeven|"
    r"spellen|bevestigen|nodig|which|welk|welke)\b")
CONFIRM_RE = _rx(
    r"\b(?:so that'?s|so it'?s|let me repeat|let me read|read that back|to confirm|just to confirm|"
    r"i have|i'?ve got|is it still|is that|dus|even herhalen|ter controle|klopt dat|is dat|"
    r"correct)\b")
BACKCHANNEL_RE = _rx(
    r"^\W*(?:yes|yeah|yep|ok(?:ay)?|right|go on|go ahead|mm-?hm|uh-?huh|sure|got it|thanks|"
    r"thank you|ja|oké|oke|prima|ga door|ga maar door|hm-?hm|ja\?|top|en verder)\W*$")
AGENT_NAME_RE = _rx(
    r"\b(?:am i speaking (?:to|with)|is this|are you|spreek ik met|bent u|ben jij|spreek ik|"
    r"(?:(?:your|uw|je|the|de)\s+)?(?:full\s+|volledige\s+)?(?:name|naam)\s+is)\s+"
    r"(?:(?:mr|mrs|ms|miss|dr|meneer|mevrouw)\.?\s+)?(?=[A-Z])")
_PARTICLES_RE = r"(?:van|de|der|den|el|al|da|di|du|le|la|von|ter|ten)\s+"
_NAME_WORDS = rf"((?:{_PARTICLES_RE})*[A-Z][\w'’-]+(?:\s+(?:{_PARTICLES_RE})*[A-Z][\w'’-]+)*)"
FIRST_NAME_RE = re.compile(r"\b(?i:first name|christian name|voornaam)(?i:\s+is|'s)?[,:]?\s+([A-Z][\w'’-]+)")
SURNAME_RE = re.compile(rf"\b(?i:surname|last name|family name|achternaam)(?i:\s+is|'s)?[,:]?\s+"
                        rf"{_NAME_WORDS}")
REPEAT_RE = _rx(r"\b(?:spell|repeat|again|say that|once more|slowly|pardon|nog een keer|nog eens|"
                r"herhalen|spellen|langzaam|sorry\?)")
NAME_INTRO_RE = _rx(
    r"(?:\W*(?:yes|yeah|yep|sure|of course|ok(?:ay)?|right|hi|hello|hiya|morning|good "
    r"(?:morning|afternoon|evening)|ja|jazeker|hoi|hallo|goedemorgen|goedemiddag|goedenavond|"
    r"dag|uh|um|eh|er|erm|well|so|it's|it is|its|that's|that is|this is|my name is|my name's|"
    r"the name is|the name's|name's|i'?m|i am|het is|dat is|mijn naam is|ik ben|ik heet|met|"
    r"u spreekt met|je spreekt met|you'?re speaking (?:to|with)|speaking|mister|mr|mrs|ms|miss|"
    r"dr|doctor|professor|prof|sir|dokter|meneer|mevrouw|mevr|dhr|trouwens|eigenlijk|overigens|"
    r"actually|by the way|btw)\b[\s,.:]*)*")
NAME_CUE_RE = _rx(r"\b(?:my name is|my name's|the name is|name's|this is|i'?m|i am|mijn naam is|"
                  r"ik ben|ik heet|u spreekt met|je spreekt met)\s+(?=[A-Z])|^\W*(?:\w+,\s*)?met\s+"
                  r"(?=[A-Z])")
ADDRESS_CUE_RE = _rx(
    r"\b(?:i live (?:at|on|in)|live at|address is|adres is|ik woon (?:op|aan|in)|we wonen (?:op|"
    r"aan)|moved to|verhuisd naar|new address|nieuwe adres|woonadres)\b")
HOUSE_NO_RE = _rx(r"^(?:number|no\.?|nummer|huisnummer|nr\.?|house number)$")

PARTICLES = {"van", "de", "der", "den", "ter", "ten", "te", "el", "al", "da", "dos", "das", "di",
             "du", "le", "la", "von", "bin", "ibn", "'t", "op", "mac", "af"}
NAME_STOP = {
    "yes", "yeah", "yep", "no", "hi", "hello", "morning", "thanks", "thank", "it's", "its", "it",
    "that's", "my", "the", "and", "so", "well", "oh", "uh", "um", "sure", "okay", "ok", "right",
    "sorry", "ja", "nee", "dat", "het", "mijn", "goedemorgen", "goedemiddag", "hoi", "dag", "met",
    "ik", "en", "dus", "postcode", "bsn", "iban", "i", "i'm", "please", "just", "but",
    "born", "geboren", "that", "this", "is", "a", "an", "op", "in", "at", "of", "for",
    "mr", "mrs", "ms", "miss", "dr", "meneer", "mevrouw", "mevr", "dhr", "sir", "madam", "hey",
    "good", "great", "fine", "cheers", "klopt", "correct", "email", "e-mail", "phone", "number",
    "address", "street", "road", "dear", "god", "yes,", "spelled", "spelt", "spell", "double",
    "capital", "nummer", "straat", "hallo", "goedenavond", "naam", "name", "surname", "date",
    "dob", "customer", "account", "policy", "we", "you", "they", "he", "she", "me", "us",
    "hoe", "wat", "waar", "what", "where", "when", "how", "why", "who",
}
MONTH_WORDS = {"january", "february", "march", "april", "may", "june", "july", "august",
               "september", "october", "november", "december", "januari", "februari", "maart",
               "mei", "juni", "juli", "augustus", "oktober", "monday", "tuesday", "wednesday",
               "thursday", "friday", "saturday", "sunday", "maandag", "dinsdag", "woensdag",
               "donderdag", "vrijdag", "zaterdag", "zondag"}
NL_STREET_SUFFIXES = (
    "straatweg", "straat", "laan", "weg", "gracht", "plein", "kade", "singel", "dijk", "pad",
    "hof", "dreef", "steeg", "markt", "plantsoen", "ring", "baan", "wal",
    "erf", "zijde", "allee", "lei", "steenweg", "kaai", "vest", "akker", "kamp", "weide", "poort",
    "vliet", "boulevard", "promenade", "dwarsstraat", "burgwal", "kanaal", "gaarde", "stede",
    "veste", "dries")
NL_STREET_WORDS = {"laan", "plein", "kade", "singel", "dreef", "markt", "weg", "straat", "dijk",
                   "boulevard", "plantsoen", "steenweg", "hof", "gracht", "wal"}
EN_STREET_SUFFIXES = {
    "road", "rd", "street", "st", "lane", "ln", "avenue", "ave", "drive", "dr", "close", "way",
    "crescent", "place", "pl", "court", "ct", "gardens", "terrace", "grove", "hill", "square",
    "row", "walk", "mews", "park", "parade", "rise", "view", "boulevard", "blvd", "parkway",
    "circle", "green", "vale", "wharf", "quay", "embankment", "broadway", "highway", "hwy",
    "approach", "gate", "yard", "passage", "path", "brow", "end"}
STREET_LEFT_STOP = {"ja", "nee", "dus", "het", "ik", "mijn", "dat", "op", "in", "aan", "naar",
                    "nou", "oh", "en", "my", "the", "it's", "it", "i", "yes", "yeah", "at", "on",
                    "so", "and", "new", "nieuwe", "is", "adres", "address", "we", "wij", "to",
                    "of", "uh", "um", "eh", "sure", "well", "wel", "woon", "live", "nu"}
CITY_STOP = NAME_STOP | {"klopt", "dat", "is", "right", "correct", "thanks", "please", "and",
                         "top", "brilliant", "great", "perfect", "prima", "oke", "super", "fijn",
                         "lovely", "cheers", "nice", "mooi", "goed", "helemaal", "precies",
                         "exactly", "bedankt", "dank", "yep", "yup", "nope", "sorry", "hang",
                         "netherlands", "nederland", "uk", "england", "belgium", "belgie"}

ADDRESS_FAMILY = {"street_address", "postcode", "city"}
UNIT_WORDS = {
    "pounds", "pound", "quid", "euros", "euro", "dollars", "dollar", "cents", "cent", "pence", "p",
    "percent", "procent", "%", "minutes", "minuten", "hours", "hour", "uur", "days", "dagen", "day",
    "weeks", "weken", "months", "maanden", "years", "jaar", "jaren", "kwh", "kilowatt", "gb", "mb",
    "kilometres", "kilometers", "km", "miles", "times", "keer", "items", "stuks"}
SHAPE_TYPES = ("iban", "phone", "postcode")


# ----------------------------------------------------------------------------- internal types


@dataclass
class _Cand:
    field: str
    value: str
    conf: float
    pos: int
    evidence: list[Evidence]
    correction: bool = False
    patch: tuple | None = None  # deferred partial correction: (x, y, symbolic, span)
    asked: bool = False  # the agent asked for this field (or the caller named it)


@dataclass
class _Pending:
    """An incomplete value (IBAN in parts, street without its number) waiting for more."""

    field: str
    items: list[Item]
    evidence: list[Evidence]
    age: int = 0
    street: str = ""


@dataclass
class _Turn:
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


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in spans)


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for m in re.finditer(r"[.?!;]+(?=\s|$)|—", text):
        out.append((start, m.end()))
        start = m.end()
    if start < len(text):
        out.append((start, len(text)))
    return out or [(0, len(text))]


def _scopes(text: str, rx: re.Pattern[str], sentences: list[tuple[int, int]],
            reset: re.Pattern[str] | None = None, clause: bool = False) -> list[tuple[int, int]]:
    """Text ranges a cue governs: from the cue to the end of its sentence (or clause, or a
    reset phrase such as "and mine is")."""
    out = []
    for m in rx.finditer(text):
        k = next((k for k, (a, b) in enumerate(sentences) if a <= m.start() < b), None)
        end = sentences[k][1] if k is not None else len(text)
        # "... naar mijn zoon? Hij is geboren op ...": the next sentence goes on about them
        while reset is not None and k is not None and k + 1 < len(sentences) and \
                THIRD_PRONOUN_RE.match(text, sentences[k + 1][0]):
            k += 1
            end = sentences[k][1]
        if clause:
            c = re.search(r"[,;]|\b(?:but|maar|and the new|het nieuwe|de nieuwe|the new)\b",
                          text[m.end():end])
            if c:
                end = m.end() + c.start()
        if reset is not None:
            r = reset.search(text, m.end(), end)
            if r:
                end = r.start()
        out.append((m.start(), end))
    return out


def _align_words(seg: Segment) -> list[tuple[int, int] | None]:
    """Char offsets of each recognised word in the segment text (None when not found)."""
    out: list[tuple[int, int] | None] = []
    low, pos = seg.text.lower(), 0
    for w in seg.words:
        wt = w.text.strip().lower().strip(".,!?;:\"'()")
        k = low.find(wt, pos) if wt else -1
        if k < 0 or k - pos > 60:
            out.append(None)
            continue
        out.append((k, k + len(wt)))
        pos = k + len(wt)
    return out


# ----------------------------------------------------------------------------- the filler


class FormFiller:
    """Turns a call's segments into form suggestions; one instance per call."""

    MIN_CONFIDENCE = 0.5  # below this a suggestion is shown but not part of `values()`

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
        self._turns: list[_Turn] = []
        self._expected: list[str] = []
        self._expected_age = 0
        self._expect_third = False
        self._expect_secret = False
        self._pending: _Pending | None = None
        self._agent_pending: list[_Cand] = []
        self._read_back: list[FormValue] = []  # values the agent just read back
        self._answered: set[str] = set()  # field types the caller's last turn gave
        self._blocked_recent: dict[str, int] = {}
        self._last_customer_fields: list[str] = []
        self._stranger_topic = 0  # turns left in which "his"/"her" may mean a stranger
        self._bereavement = False  # the call is about a deceased person's accounts
        self._country = "NL"  # where a national phone number is read: NL unless the call says
        self._by_type: dict[str, list[FieldSpec]] = {}
        for f in self.form.fields:
            self._by_type.setdefault(f.type, []).append(f)
        self._cue_rx = self._compile_cues()

    # ------------------------------------------------------------------ public API

    def on_segment(self, segment: Segment) -> list[FormValue]:
        """Process one final segment; returns new or changed suggestions only."""
        turn = self._prepare(segment)
        self._turns.append(turn)
        self._stranger_topic = 4 if turn.stranger else max(0, self._stranger_topic - 1)
        self._bereavement = self._bereavement or bool(BEREAVEMENT_RE.search(segment.text))
        if segment.speaker == "customer" and BELGIUM_RE.search(segment.text):
            self._country = "BE"  # "ik woon in België": 04.. is then a Belgian mobile
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
        norm = self._normalise(spec, value)
        if norm is None or (field, norm) in self._dismissed:
            return None
        evidence = self._find_in_transcript(spec, norm)
        if not evidence:
            return None
        conf = max(0.0, min(float(confidence), 0.9))
        cand = _Cand(field, norm, conf, 0, evidence)
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
            norm = self._normalise(spec, value) if spec else None
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
        return dict(self._current)

    def suggestions(self) -> list[FormValue]:
        """Every suggestion made in this call, in order (replaced ones included)."""
        return list(self._all.values())

    # ------------------------------------------------------------------ turn preparation

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

    def _prepare(self, seg: Segment) -> _Turn:
        text = seg.text
        sentences = _sentence_spans(text)
        return _Turn(
            seg=seg, toks=tokenize(text), low=fold(text), word_spans=_align_words(seg),
            sentences=sentences,
            secret=_scopes(text, SECRET_RE, sentences),
            relation=_scopes(text, RELATION_RE, sentences, SELF_RE),
            stranger=_scopes(text, STRANGER_RE, sentences, SELF_RE),
            stale=_scopes(text, STALE_RE, sentences, clause=True),
            corrections=[m.start() for m in CORRECTION_RE.finditer(text)],
        )

    def _cue_hits(self, text: str, lo: int = 0, hi: int | None = None) -> list[tuple[int, int, str]]:
        """Field cues in text[lo:hi], longest first, without overlaps: (start, end, field)."""
        hi = len(text) if hi is None else hi
        rx, names = self._cue_rx
        return [(m.start(), m.end(), names[m.lastgroup or ""]) for m in rx.finditer(text, lo, hi)]

    def _evidence(self, turn: _Turn, a: int, b: int) -> Evidence:
        seg = turn.seg
        start, end = seg.start, seg.end
        hits = [(w.start, w.end) for w, sp in zip(seg.words, turn.word_spans, strict=True)
                if sp is not None and sp[0] < b and a < sp[1]]
        if hits:
            start, end = min(h[0] for h in hits), max(h[1] for h in hits)
        return Evidence(seg.segment_id, seg.speaker, seg.text[a:b], a, b, start, end)

    def _fid(self, ftype: str) -> str | None:
        specs = self._by_type.get(ftype)
        return specs[0].id if specs else None

    def _ftype(self, fid: str) -> str:
        spec = self.form.field(fid)
        return spec.type if spec else ""

    # ------------------------------------------------------------------ agent turns

    def _agent_turn(self, turn: _Turn) -> list[FormValue]:
        out: list[FormValue] = []
        self._agent_pending = []
        self._read_back = []
        text = turn.seg.text
        confirm_style = "?" in text or bool(CONFIRM_RE.search(text))
        cued = {fid for _, _, fid in self._cue_hits(text)}
        if self._fid("street_address") in cued:  # "Is your address still ..., Bristol, BS8 1AB?"
            cued |= {self._fid("postcode"), self._fid("city")}
        cands = self._extract(turn, agent=True)
        # a "no" answers the end of the agent's turn: the read-back there, or the one just before
        # a short "Is that right?"
        sents = turn.sentences
        tail = sents[-1][0]
        if len(sents) > 1 and len(text[sents[-1][0]:sents[-1][1]].split()) <= 4 and \
                not self._cue_hits(text, sents[-1][0], sents[-1][1]):
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
                  and (c.field in cued or readback or self._ftype(c.field) in ("email", "iban")
                       or (self._ftype(c.field) in ADDRESS_FAMILY
                           and self._answered & ADDRESS_FAMILY))
                  and (c.field, c.value) not in self._dismissed):
                # the agent says a value the caller has not: it counts once the caller agrees
                self._agent_pending.append(c)
        name_f = self._fid("person_name")
        m = AGENT_NAME_RE.search(text)
        if m and name_f and name_f not in self._current and name_f not in self._locked:
            got = self._name_at(turn, m.end())  # "Am I speaking with Mr Nathan Greaves?"
            if got is not None:
                words, a, b = got
                self._agent_pending.append(_Cand(name_f, " ".join(words), 0.8, a,
                                                 [self._evidence(turn, a, b)]))
        for fid, cur in list(self._current.items()):  # literal read-backs: names, cities
            if self._ftype(fid) in ("person_name", "city") and len(cur.value) > 2:
                k = turn.low.find(fold(cur.value))
                if k >= 0 and not any(e.segment_id == turn.seg.segment_id for e in cur.evidence):
                    self._add_evidence(cur, [self._evidence(turn, k, k + len(cur.value))], 0.05)
                    out.append(cur)
        self._update_expectation(turn)
        for fv in self._read_back:  # "So that's 5192 0374?" - "No, 0375": the field is open again
            if fv.field not in self._expected:
                self._expected.append(fv.field)
                self._expected_age = 0
        return out

    def _update_expectation(self, turn: _Turn) -> None:
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
            for _, _, fid in self._cue_hits(text, a, b):
                if fid not in fields:
                    fields.append(fid)
            if _inside(a, turn.relation) or any(a <= x < b for x, _ in turn.relation):
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
            p = self._pending
            if p is not None and p.field not in fields and not (
                    p.field == "street" and self._fid("street_address") in fields):
                self._pending = None  # the agent moved on to another field
        elif asks and not BACKCHANNEL_RE.match(text) and len(text.split()) > 6:
            self._expected, self._expect_third, self._expect_secret = [], False, False

    # ------------------------------------------------------------------ customer turns

    def _customer_turn(self, turn: _Turn) -> list[FormValue]:
        out: list[FormValue] = []
        text = turn.seg.text
        had_pending = bool(self._agent_pending)
        if self._agent_pending:
            if AFFIRM_RE.match(text) and not NEGATE_RE.match(text):
                m = AFFIRM_RE.match(text)
                yes = self._evidence(turn, m.start(), m.end()) if m else None
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
        self._answered = {self._ftype(f) for f in answered}
        self._last_customer_fields = [fid for _, _, fid in self._cue_hits(text)]
        if len(text.split()) > 4 or any(c.isdigit() for c in text):
            self._expect_secret = False  # the answer to a secret question has been given
        self._expected_age += 1
        if self._expected_age >= 2:
            self._expected, self._expect_third, self._expect_secret = [], False, False
        if self._pending is not None:
            self._pending.age += 1
            if self._pending.age > 2:
                self._pending = None
        for k in list(self._blocked_recent):
            self._blocked_recent[k] -= 1
            if self._blocked_recent[k] <= 0:
                del self._blocked_recent[k]
        return out

    # ------------------------------------------------------------------ extraction

    def _allowed(self, turn: _Turn, fid: str, pos: int, agent: bool) -> bool:
        """Context filter: secrets, other people's details, old values."""
        if _inside(pos, turn.secret) or (not agent and self._expect_secret):
            return False
        ftype = self._ftype(fid)
        if _inside(pos, turn.stranger):
            return False
        # other people's details are not the caller's form; only in a bereavement call is the
        # deceased relative's bank account the account the call is about
        exempt = self._bereavement and ftype in ("iban", "reference") and not self._stranger_topic
        if not exempt and (_inside(pos, turn.relation) or (not agent and self._expect_third)):
            return False
        if self._stranger_topic and not agent:  # "He said Beacon as well, policy C A R ..."
            sent = next((a for a, b in turn.sentences if a <= pos < b), 0)
            if THIRD_PRONOUN_RE.match(turn.seg.text, sent):
                return False
        return not _inside(pos, turn.stale)

    def _extract(self, turn: _Turn, agent: bool) -> list[_Cand]:
        toks, text = turn.toks, turn.seg.text
        cands: list[_Cand] = []
        used: set[int] = set()
        expected = [] if agent else list(self._expected)

        email_f = self._fid("email")
        for em in find_emails(toks):
            used.update(range(em.i0, em.i1))
            if email_f and self._allowed(turn, email_f, em.start, agent):
                cands.append(_Cand(email_f, em.value, 0.9, em.start,
                                   [self._evidence(turn, em.start, em.end)]))

        dob_f = self._fid("date_of_birth")
        for d in find_dates(toks, text, self.today):
            used.update(range(d.i0, d.i1))
            if not dob_f or not self._allowed(turn, dob_f, d.start, agent):
                continue
            sent = next((s for s in turn.sentences if s[0] <= d.start < s[1]), (0, len(text)))
            cue = any(fid == dob_f for _, _, fid in self._cue_hits(text, sent[0], d.start))
            if not (cue or dob_f in expected or agent):
                continue
            year = int(d.iso[:4])
            if not (self.today.year - 110 <= year <= self.today.year - 12):
                continue
            cands.append(_Cand(dob_f, d.iso, 0.88 if cue or dob_f in expected else 0.6,
                               d.start, [self._evidence(turn, d.start, d.end)]))

        if not agent:
            cands.extend(self._patches(turn, used))
        cands.extend(self._streets(turn, used, expected, agent))
        runs = value_runs(toks, used)
        cands.extend(self._from_runs(turn, runs, expected, agent))
        if not agent:
            cands.extend(self._names(turn, runs, expected))
        cands.extend(self._cities(turn, cands, expected, agent))
        for c in cands:
            c.asked = c.asked or c.field in expected
        self._mark_corrections(turn, cands)
        return cands

    def _mark_corrections(self, turn: _Turn, cands: list[_Cand]) -> None:
        """A value after a correction cue ("no sorry, ...") that differs from the value
        before it is a self-correction."""
        if turn.seg.speaker != "customer" or not turn.corrections:
            return
        prev_pos: dict[str, int] = {}
        for c in sorted(cands, key=lambda c: c.pos):
            before = prev_pos.get(c.field, 0)
            had_value = c.field in prev_pos or c.field in self._current or (
                c.field in self._blocked_recent)
            if c.patch is not None or (had_value and any(before <= p < c.pos
                                                         for p in turn.corrections)):
                c.correction = True
            prev_pos[c.field] = c.pos

    # ------------------------------------------------------------------ runs -> fields

    def _keyword_fields(self, turn: _Turn, run: Run) -> list[str] | None:
        """Fields named right before the run in the same sentence ("BSN is ..."); None when
        the run is named as some other number ("the claim reference is ...")."""
        text = turn.seg.text
        sent = next((s for s in turn.sentences if s[0] <= run.start < s[1]), (0, len(text)))
        hits = self._cue_hits(text, sent[0], run.start)
        other = list(OTHER_NUMBER_RE.finditer(text, sent[0], run.start))
        if other and (not hits or other[-1].start() >= hits[-1][1]):
            gap = text[other[-1].end():run.start]
            if len(gap.split()) <= 6 and not re.search(r"\d", gap):
                return None
        if not hits:
            return []
        a, b, fid = hits[-1]
        gap = text[b:run.start]
        if len(gap.split()) > 6 or re.search(r"\d", gap):
            return []
        return [fid]

    def _from_runs(self, turn: _Turn, runs: list[Run], expected: list[str],
                   agent: bool) -> list[_Cand]:
        out: list[_Cand] = []
        for run in runs:
            nxt = turn.toks[run.i1].low if run.i1 < len(turn.toks) else ""
            prv = turn.toks[run.i0 - 1].low if run.i0 > 0 else ""
            if nxt in UNIT_WORDS or prv in ("€", "$", "£"):
                continue  # an amount or a duration, not a dictated value
            kw = self._keyword_fields(turn, run)
            if kw is None:
                continue  # a reference, meter reading, sort code...: not a form value
            items = list(run.items)
            if self._pending is not None and not agent and self._pending.field != "street":
                got = self._extend_pending(turn, items)
                if got is not None:
                    cand, k = got
                    out.append(cand)
                    items = items[k:]
                    if not items:
                        continue
            # "Can you call me on my US number? It's 312-555-0162.": a field the caller named
            # earlier in the same turn
            sent0 = next((a for a, b in turn.sentences if a <= run.start < b), 0)
            local = [fid for _, _, fid in self._cue_hits(turn.seg.text, 0, sent0)]
            fields = kw or list(dict.fromkeys(local + list(expected)))
            if agent:
                fields = kw + [f for f in self._current if f not in kw]
            out.extend(self._assign(turn, items, fields, agent))
        return out

    def _assign(self, turn: _Turn, items: list[Item], fields: list[str],
                agent: bool) -> list[_Cand]:
        """Find the best field and sub-range for these pieces; leftovers are tried again."""
        if not items:
            return []
        plus = self._plus_before(turn, items[0])
        shape = [f.id for t in SHAPE_TYPES for f in self._by_type.get(t, [])]
        order = [(f, False) for f in fields] + [(f, True) for f in shape]
        iban_f = self._fid("iban")
        if iban_f:  # a valid IBAN is unmistakable, whatever was asked
            order.insert(0, (iban_f, True))
        for fid, strict in order:
            ftype = self._ftype(fid)
            best = self._best_subrange(items, ftype, strict, plus)
            if best is None:
                continue
            a, b, value, conf = best
            pos = items[a].start
            if value == "":  # incomplete: remember the prefix for the next turn
                if not strict and not agent and self._allowed(turn, fid, pos, agent):
                    self._pending = _Pending(fid, items[a:b], [self._ev_items(turn, items[a:b])])
                    return []
                continue
            if value is None:  # complete but invalid (bad checksum)
                if not strict and not agent:
                    self._blocked_recent[fid] = 2
                    return []
                continue
            if not self._allowed(turn, fid, pos, agent):
                return []
            cand = _Cand(fid, value, conf * (0.85 if strict and fid not in fields else 1.0), pos,
                         [self._ev_items(turn, items[a:b])], asked=fid in fields)
            rest_fields = [f for f in fields if f != fid]
            return ([cand] + self._assign(turn, items[:a], rest_fields, agent)
                    + self._assign(turn, items[b:], rest_fields, agent))
        return []

    def _ev_items(self, turn: _Turn, items: list[Item]) -> Evidence:
        return self._evidence(turn, items[0].start, items[-1].end)

    def _plus_before(self, turn: _Turn, item: Item) -> bool:
        k = item.i0 - 1
        return k >= 0 and turn.toks[k].low in ("+", "plus")

    def _best_subrange(self, items: list[Item], ftype: str, strict: bool, plus: bool):
        """Widest sub-range of items that builds a value of this type.

        Returns (a, b, value, conf); value "" marks a valid prefix (more to come) and
        None a complete value that failed its checksum."""
        n = len(items)
        prefix = invalid = None
        for width in range(n, 0, -1):
            for a in range(0, n - width + 1):
                b = a + width
                # only cut where the caller paused: "00900" is not a ZIP inside a phone number
                if (a and not items[a].gap_before) or (b < n and not items[b].gap_before):
                    continue
                res = _build(ftype, items[a:b], strict, plus and a == 0, self._country)
                if res is None:
                    continue
                value, conf = res
                if ftype == "postcode" and value and value[:5].isdigit() and (a or b < n):
                    continue  # "13, 15, 4, 1, 8": do not carve a ZIP out of other digits
                if value == "":
                    if b == n and prefix is None:
                        prefix = (a, b, "", 0.0)
                    continue
                if value is False:
                    if invalid is None:
                        invalid = (a, b, None, 0.0)
                    continue
                return a, b, value, conf
        return prefix or invalid

    def _extend_pending(self, turn: _Turn, items: list[Item]) -> tuple[_Cand, int] | None:
        """Join the pending prefix with the first pieces of this turn."""
        p = self._pending
        assert p is not None
        ftype = self._ftype(p.field)
        for k in range(len(items), 0, -1):
            res = _build(ftype, p.items + items[:k], False, False, self._country)
            if res is None:
                continue
            value, conf = res
            if value == "":
                if k == len(items):
                    p.items = p.items + items
                    p.evidence.append(self._ev_items(turn, items))
                    p.age = 0
                    return None
                continue
            if value is False:
                self._blocked_recent[p.field] = 2
                self._pending = None
                return None
            self._pending = None
            if not self._allowed(turn, p.field, items[0].start, False):
                return None
            ev = p.evidence + [self._ev_items(turn, items[:k])]
            return _Cand(p.field, value, conf * 0.95, items[0].start, ev), k
        return None

    # ------------------------------------------------------------------ partial corrections

    def _patches(self, turn: _Turn, used: set[int]) -> list[_Cand]:
        """ "the last two digits are twenty, not oh two", "het eind is twintig",
        "not underscore, it's a dot": edit the caller's latest value instead of restating it."""
        text = turn.seg.text
        out: list[_Cand] = []
        if not turn.corrections and not re.search(r"\b(?:last|laatste|eind|ends?)\b", text, re.I):
            return out
        pats = [
            (r"\b(?:the\s+)?(?:last|final|laatste)\s+(?:(\w+)\s+)?(?:digits?|numbers?|cijfers?|"
             r"getallen|letters?)\s+(?:are|is|should be|zijn|moeten zijn|moet zijn)\s+"
             r"(?P<x>[^.;!?]+?)(?:,?\s+(?:not|niet)\s+(?P<y>[^.;!?,]+))?(?=[.;!?]|$)", False),
            (r"\b(?:(?:i mean|i meant|ik bedoel|sorry|no|nee|wait|wacht)[,:]?\s+)+(?P<x4>(?:[\w-]+[\s,]*)"
             r"{1,4}?)(?=[.;!?]|$)", False),
            (r"\b(?:het\s+)?eind(?:e)?\s+is\s+(?P<x>[^.;!?]+?)(?=[.;!?]|$)|\b(?:it\s+)?ends?\s+"
             r"(?:in|with|on)\s+(?P<x2>[^.;!?]+?)(?=[.;!?]|$)|\beindigt\s+(?:op|met)\s+"
             r"(?P<x3>[^.;!?]+?)(?=[.;!?]|$)", False),
            (r"\b(?:not|niet)\s+(?:an?\s+|een\s+)?(?P<y>[\w -]+?),?\s+(?:it'?s|it is|but|maar|"
             r"het is)\s+(?:an?\s+|een\s+)?(?P<x>[\w -]+?)(?=[.;!?]|$)", True),
        ]
        runs = value_runs(turn.toks)
        for k, t in enumerate(turn.toks):  # "fifty, not fifteen", "R J, not R G"
            if t.low not in ("not", "niet") or not any(p < t.start for p in turn.corrections):
                continue
            before = [r for r in runs if r.i1 <= k and all(
                tk.kind == "punct" for tk in turn.toks[r.i1:k])]
            after = [r for r in runs if r.i0 == k + 1]
            if before and after and len(before[-1].text()) <= 4 and len(after[0].text()) <= 4:
                x, y = before[-1], after[0]
                span = (x.start, x.end)
                out.append(_Cand("", "", 0.0, x.start, [], correction=True,
                                 patch=(text[x.start:x.end], text[y.start:y.end], True, span)))
                for i in range(x.i0, y.i1):
                    used.add(i)
        for pat, swap in pats:
            for m in re.finditer(pat, text, re.I):
                gd = m.groupdict()
                xg = next(g for g in ("x", "x2", "x3", "x4") if gd.get(g))
                x_text, y_text = gd[xg], gd.get("y")
                if xg == "x4" and not _short_digits(x_text):
                    continue  # "I mean, five two nine": only a short run of digits
                xs, xe = m.start(xg), m.end(xg)
                spec = (x_text.strip(), (y_text or "").strip(), swap, (xs, xe))
                out.append(_Cand("", "", 0.0, xs, [], correction=True, patch=spec))
                for i, t in enumerate(turn.toks):
                    if m.start() <= t.start < m.end():
                        used.add(i)
        return out

    def _apply_patch(self, turn: _Turn, x: str, y: str, symbolic: bool,
                     span: tuple[int, int]) -> _Cand | None:
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
            new = _patched(spec.type, old, xs, ys, symbolic)
            if new is None or new == old or _validate(spec.type, new) is None:
                continue
            ev = [self._evidence(turn, *span)]
            return _Cand(fv.field, _validate(spec.type, new), 0.8, span[0], ev, correction=True)
        return None

    # ------------------------------------------------------------------ names

    def _names(self, turn: _Turn, runs: list[Run], expected: list[str]) -> list[_Cand]:
        name_f = self._fid("person_name")
        if not name_f:
            return []
        text = turn.seg.text
        out = []
        starts: list[int] = []
        clause: set[int] = set()
        if name_f in expected:
            starts = [a for a, _ in turn.sentences]
            clause = {m.end() for m in re.finditer(r",\s*", text)}  # "Mitchell, Sarah Mitchell"
            starts += sorted(clause)
        starts += [m.end() for m in NAME_CUE_RE.finditer(text)]
        spelled = [r for r in runs if r.n_digits == 0 and r.n_letters >= 2]
        for s in sorted(set(starts)):
            m = NAME_INTRO_RE.match(text, s)
            p = m.end() if m else s
            got = self._name_at(turn, p)
            if got is None:
                continue
            words, a, b = got
            if not self._allowed(turn, name_f, a, False):
                continue
            if s in clause and not re.match(r"\s*(?:[,.;!?]|$)", text[b:]):
                continue
            conf = 0.82 if name_f in expected else 0.75
            ev = [self._evidence(turn, a, b)]
            for r in spelled:  # "Greaves, G-R-E-A-V-E-S" confirms (or fixes) the spelling
                letters = r.text(zero_as_letter=True)
                for k, w in enumerate(words):
                    if w.lower() == letters.lower():
                        conf = min(0.95, conf + 0.1)
                        ev.append(self._evidence(turn, r.start, r.end))
                        break
                    if len(letters) >= 3 and _close(w.lower(), letters.lower()):
                        words[k] = letters.capitalize()
                        ev.append(self._evidence(turn, r.start, r.end))
                        break
            out.append(_Cand(name_f, " ".join(words), conf, a, ev, asked=True))
            break
        if not out:  # "First name Nathan, surname Greaves"
            first = FIRST_NAME_RE.search(text)
            last = SURNAME_RE.search(text)
            if first and last and self._allowed(turn, name_f, first.start(1), False):
                value = f"{first.group(1)} {last.group(1)}"
                ev = [self._evidence(turn, first.start(1), first.end(1)),
                      self._evidence(turn, last.start(1), last.end(1))]
                out.append(_Cand(name_f, value, 0.75, min(first.start(1), last.start(1)), ev))
        return out

    def _name_at(self, turn: _Turn, p: int) -> tuple[list[str], int, int] | None:
        toks = turn.toks
        i = next((k for k, t in enumerate(toks) if t.start >= p), None)
        if i is None:
            return None
        words: list[str] = []
        a = b = None
        while i < len(toks):
            t = toks[i]
            w = t.low
            if t.kind != "word":
                break
            if w in PARTICLES and words:  # "van der Linden", "el Amrani"
                k = i
                while k < len(toks) and toks[k].low in PARTICLES and k - i < 3:
                    k += 1
                if k < len(toks) and toks[k].kind == "word" and toks[k].text[:1].isupper():
                    words.extend(tk.text for tk in toks[i:k])
                    i = k
                    continue
                break
            if not t.text[0].isupper() or w in NAME_STOP or w in MONTH_WORDS:
                break
            if len(t.text) == 1 or read_number(toks, i, ordinals=True) is not None:
                break
            if not words and w in PARTICLES:
                break
            words.append(t.text.capitalize() if t.text.isupper() and len(t.text) > 1 else t.text)
            a = t.start if a is None else a
            b = t.end
            i += 1
            if len(words) >= 5:
                break
        while words and words[-1].lower() in PARTICLES:
            words.pop()
        real = [w for w in words if w.lower() not in PARTICLES]
        if len(real) < 2 or a is None or b is None:
            return None
        return words, a, b

    # ------------------------------------------------------------------ street addresses

    def _streets(self, turn: _Turn, used: set[int], expected: list[str],
                 agent: bool) -> list[_Cand]:
        street_f = self._fid("street_address")
        if not street_f:
            return []
        text = turn.seg.text
        cue = bool(ADDRESS_CUE_RE.search(text)) or any(
            fid == street_f for _, _, fid in self._cue_hits(text))
        want = agent or cue or street_f in expected
        toks = turn.toks
        out: list[_Cand] = []
        pend = self._pending if self._pending and self._pending.field == "street" else None
        if pend is not None and not agent:  # "Biltstraat." ... "Honderdvijfenveertig."
            k = next((k for k in range(len(toks)) if k not in used), None)
            first_only = True
            while k is not None and k < len(toks):
                num = _house_number(toks, k, used)
                if num is None or (first_only and num[2] > 3):
                    if first_only:
                        break
                    k += 1
                    continue
                value, i1, skipped = num
                self._pending = None
                a, b = toks[k + skipped].start, toks[i1 - 1].end
                used.update(range(k, i1))
                ev = pend.evidence + [self._evidence(turn, a, b)]
                out.append(_Cand(street_f, _street_value(pend.street, value), 0.8, a, ev))
                if not turn.corrections:
                    break
                first_only, k = False, i1  # "forty-two, no sorry, twenty-four"
            if out:
                return out
        if not want:
            return out
        if street_f in expected and not agent and not any(
                _street_name_at(toks, i) for i in range(len(toks))):
            got = self._plain_street(turn, used)
            if got is not None:
                return [got]
        for i, t in enumerate(toks):
            if i in used or t.kind != "word":
                continue
            got = _street_name_at(toks, i)
            if got is None:
                continue
            name, s0, s1, dutch = got
            if not self._allowed(turn, street_f, toks[s0].start, agent):
                continue
            if dutch:
                num = _house_number(toks, s1, used)
                if num is not None:
                    value, i1, _ = num
                    used.update(range(s0, i1))
                    a, b = toks[s0].start, toks[i1 - 1].end
                    out.append(_Cand(street_f, _street_value(name, value), 0.85, a,
                                     [self._evidence(turn, a, b)]))
                    continue
                before = _house_number_before(toks, s0, used)
                if before is not None:  # "forty-seven Wilhelminastraat": written Dutch order
                    value, i0 = before
                    used.update(range(i0, s1))
                    a, b = toks[i0].start, toks[s1 - 1].end
                    out.append(_Cand(street_f, _street_value(name, value), 0.8, a,
                                     [self._evidence(turn, a, b)]))
                    continue
            else:
                num = _house_number_before(toks, s0, used)
                if num is not None:
                    value, i0 = num
                    used.update(range(i0, s1))
                    a, b = toks[i0].start, toks[s1 - 1].end
                    out.append(_Cand(street_f, f"{value} {name}", 0.85, a,
                                     [self._evidence(turn, a, b)]))
                    continue
            if not agent and not out and street_f in expected:  # number still to come
                used.update(range(s0, s1))
                ev = [self._evidence(turn, toks[s0].start, toks[s1 - 1].end)]
                self._pending = _Pending("street", [], ev, street=name if dutch else "|" + name)
                return out
        return out

    def _plain_street(self, turn: _Turn, used: set[int]) -> _Cand | None:
        """An answer to "what's your address?" whose street has no street-type word:
        "Damrak 1" (name then number) or "12 Kingsway" (number then name)."""
        street_f = self._fid("street_address")
        toks, text = turn.toks, turn.seg.text
        for a, _ in turn.sentences:
            m = NAME_INTRO_RE.match(text, a)
            p = m.end() if m else a
            i = next((k for k, t in enumerate(toks) if t.start >= p), None)
            if i is None or i in used:
                continue
            j = i
            while j < len(toks) and j - i < 3 and _is_name_word(toks[j]) and \
                    toks[j].low not in CITY_STOP and read_number(toks, j) is None:
                j += 1
            if j > i:
                num = _house_number(toks, j, used)
                if num is not None and num[2] <= 2 and (
                        num[1] == len(toks) or toks[num[1]].kind == "punct"):
                    name = " ".join(t.text for t in toks[i:j])
                    a0, b0 = toks[i].start, toks[num[1] - 1].end
                    used.update(range(i, num[1]))
                    return _Cand(street_f, f"{name} {num[0]}", 0.7, a0,
                                 [self._evidence(turn, a0, b0)])
            num = _house_number(toks, i, used, english=True)
            if num is not None and num[2] == 0:
                j = num[1]
                k = j
                while k < len(toks) and k - j < 3 and _is_name_word(toks[k]) and \
                        toks[k].low not in CITY_STOP:
                    k += 1
                if k > j and (k == len(toks) or toks[k].kind == "punct"):
                    name = " ".join(t.text for t in toks[j:k])
                    a0, b0 = toks[i].start, toks[k - 1].end
                    used.update(range(i, k))
                    return _Cand(street_f, f"{num[0]} {name}", 0.7, a0,
                                 [self._evidence(turn, a0, b0)])
        return None

    # ------------------------------------------------------------------ cities

    def _cities(self, turn: _Turn, cands: list[_Cand], expected: list[str],
                agent: bool) -> list[_Cand]:
        city_f = self._fid("city")
        if not city_f:
            return []
        _text, toks = turn.seg.text, turn.toks
        starts: list[int] = []
        pc_f = self._fid("postcode")
        street_f = self._fid("street_address")
        for c in cands:
            if c.field in (pc_f, street_f) and c.evidence and \
                    c.evidence[-1].segment_id == turn.seg.segment_id:
                starts.append(c.evidence[-1].char_end)
        starts.sort()
        if city_f in expected and not agent:
            starts.append(0)
        for s in starts:
            i = next((k for k, t in enumerate(toks) if t.start >= s), None)
            if i is None:
                continue
            while i < len(toks) and (toks[i].text in (",", "-") or toks[i].low in (
                    "in", "te", "and", "en", "uh", "um", "eh", "it's", "het", "is", "yes", "ja",
                    "city", "town", "woonplaats", "plaats", "stad", "the", "de", "that's", "thats",
                    "dat", "which", "that", "dus", "so", "called")):
                i += 1
            words, a, b = [], None, None
            while i < len(toks) and len(words) < 4:
                t = toks[i]
                if t.kind != "word":
                    break
                if t.low in ("op", "aan", "upon", "on", "de", "den", "'s") and words and \
                        i + 1 < len(toks) and toks[i + 1].text[:1].isupper():
                    words.append(t.text)
                    i += 1
                    continue
                if not _capitalised(t) or t.low in CITY_STOP or t.low in MONTH_WORDS:
                    break
                if read_number(toks, i) is not None:
                    break
                words.append(t.text)
                a = t.start if a is None else a
                b = t.end
                i += 1
            if words and a is not None and b is not None:
                if not self._allowed(turn, city_f, a, agent):
                    continue
                conf = 0.8 if s != 0 else 0.75
                return [_Cand(city_f, " ".join(words), conf, a, [self._evidence(turn, a, b)])]
            if s and i < len(toks) and toks[i].kind == "word" and not _capitalised(toks[i]):
                # "Van Baerlestraat 112, second floor. Amsterdam.": the town on its own
                nxt = next((sa for sa, _ in turn.sentences if sa > s), None)
                k = next((k for k, t in enumerate(toks) if nxt is not None and t.start >= nxt), None)
                j = k
                while j is not None and j < len(toks) and _capitalised(toks[j]) and \
                        toks[j].kind == "word" and toks[j].low not in CITY_STOP and j - k < 3:
                    j += 1
                if k is not None and j is not None and j > k and (
                        j == len(toks) or toks[j].text in ".!"):
                    a, b = toks[k].start, toks[j - 1].end
                    if self._allowed(turn, city_f, a, agent):
                        return [_Cand(city_f, " ".join(t.text for t in toks[k:j]), 0.7, a,
                                      [self._evidence(turn, a, b)])]
        return []

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
                fv.confidence = min(0.99, fv.confidence + boost)

    def _commit(self, c: _Cand, source: str = "rules") -> FormValue | None:
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
        fv = FormValue(
            id=self._next_id(), field=c.field, value=c.value,
            confidence=round(max(0.0, min(0.99, c.conf * (0.6 + 0.4 * seg_conf))), 3),
            evidence=list(c.evidence), replaces=cur.id if cur is not None else None,
            correction=c.correction and (cur is not None or c.field in self._blocked_recent),
            source=source, label=spec.label_for(self.language))
        self._all[fv.id] = fv
        self._current[c.field] = fv
        return fv

    def _span_conf(self, e: Evidence) -> float:
        """ASR confidence of the words the value was read from (segment's if no words)."""
        for t in reversed(self._turns):
            if t.seg.segment_id == e.segment_id:
                if t.seg.words:
                    return span_confidence(t.seg, e.char_start, e.char_end)
                return t.seg.confidence
        return 1.0

    # ------------------------------------------------------------------ LLM path helpers

    def _normalise(self, spec: FieldSpec, value: str) -> str | None:
        v = value.strip()
        if not v:
            return None
        if spec.type in ("person_name", "city", "street_address", "text"):
            return re.sub(r"\s+", " ", v)
        if spec.type == "date_of_birth":
            try:
                return dt.date.fromisoformat(v).isoformat()
            except ValueError:
                toks = tokenize(v)
                ds = find_dates(toks, v, self.today)
                return ds[0].iso if ds else None
        if spec.type == "phone":
            d = re.sub(r"[^\d+]", "", v)
            return phone_e164(d, self._country) if d else None
        if spec.type == "email":
            return v.lower() if email_valid(v.lower()) else None
        return _validate(spec.type, re.sub(r"[\s.-]", "", v).upper())

    def _find_in_transcript(self, spec: FieldSpec, value: str) -> list[Evidence]:
        """Evidence for an LLM-proposed value: where it is said, in any spoken form."""
        out: list[Evidence] = []
        for turn in self._turns:
            text = turn.seg.text
            if spec.type in ("person_name", "city", "street_address", "text"):
                k = turn.low.find(fold(value))
                if k >= 0:
                    out.append(self._evidence(turn, k, k + len(value)))
                    continue
                if spec.type == "street_address":
                    for c in self._streets(turn, set(), [], True):
                        if c.value == value:
                            out.extend(c.evidence)
                continue
            if spec.type == "email":
                out.extend(self._evidence(turn, m.start, m.end)
                           for m in find_emails(turn.toks) if m.value == value)
                continue
            if spec.type == "date_of_birth":
                out.extend(self._evidence(turn, d.start, d.end)
                           for d in find_dates(turn.toks, text, self.today) if d.iso == value)
                continue
            for run in value_runs(turn.toks):
                items = list(run.items)
                best = None
                for a in range(len(items)):
                    for b in range(len(items), a, -1):
                        res = _build(spec.type, items[a:b], False,
                                     a == 0 and self._plus_before(turn, items[0]), self._country)
                        if res is not None and res[0] == value:
                            best = (a, b)
                            break
                    if best:
                        break
                if best:
                    out.append(self._ev_items(turn, items[best[0]:best[1]]))
        return out


# ----------------------------------------------------------------------------- value builders


def _resolve_o(items: list[Item], prefer_letter: bool = False) -> str:
    """Text of the pieces; a lone "O" is zero between digits and the letter next to letters."""
    out = []
    for k, it in enumerate(items):
        if not it.zero_or_o:
            out.append(it.text)
            continue
        prev = items[k - 1] if k else None
        letter = prefer_letter or (prev is not None and prev.kind == "l" and not prev.zero_or_o)
        out.append("O" if letter else "0")
    return "".join(out)


def _o_variants(items: list[Item]) -> list[str]:
    amb = [k for k, it in enumerate(items) if it.zero_or_o]
    if not amb or len(amb) > 4:
        return [_resolve_o(items)]
    out = []
    for mask in range(1 << len(amb)):
        parts = [it.text for it in items]
        for bit, k in enumerate(amb):
            parts[k] = "O" if mask >> bit & 1 else "0"
        out.append("".join(parts))
    return out


def _patched(ftype: str, old: str, xs: str, ys: str, symbolic: bool) -> str | None:
    """`old` with the caller's partial correction applied: Y replaced by X ("twenty, not oh
    two"), the last digits replaced ("het eind is twintig"), or a birth year replaced."""
    if ys and ys in old and ys != xs:
        k = old.rfind(ys)
        return old[:k] + xs + old[k + len(ys):]
    if symbolic or ys or not xs.isdigit():
        return None
    if ftype == "date_of_birth":  # "..., nineteen ninety. Wait, no, nineteen ninety-one."
        return xs + old[4:] if len(xs) == 4 else None
    if ftype == "street_address":  # "Forty-two, no sorry, twenty-four": the house number
        return re.sub(r"\d+", xs, old, count=1)
    idx = [i for i, c in enumerate(old) if c.isdigit()]
    if len(idx) <= len(xs):
        return None
    chars = list(old)
    for i, c in zip(idx[-len(xs):], xs, strict=True):
        chars[i] = c
    return "".join(chars)


def _validate(ftype: str, raw: str) -> str | None:
    """Normalise a complete written value of this type, None when it is not valid."""
    if ftype == "date_of_birth":
        try:
            return dt.date.fromisoformat(raw).isoformat()
        except ValueError:
            return None
    if ftype == "iban":
        return raw if iban_valid(raw) else None
    if ftype == "bsn":
        return raw if bsn_valid(raw) else None
    if ftype == "postcode":
        got = postcode_normalise(raw)
        return got[0] if got else None
    if ftype == "phone":
        return phone_e164(raw)
    if ftype == "email":
        return raw.lower() if email_valid(raw.lower()) else None
    if ftype == "reference":
        return raw if re.fullmatch(r"[A-Z0-9]{4,20}", raw) else None
    return raw


def _build(ftype: str, items: list[Item], strict: bool, plus: bool, country: str = "NL"):
    """Build a value of `ftype` from dictated pieces.

    Returns None (not this type), ("", 0) for a valid prefix of a longer value,
    (False, 0) for a complete value with a bad checksum, or (value, confidence).
    """
    if not items:
        return None
    if ftype == "iban":
        return _build_iban(items, strict)
    if any(it.kind == "l" and not it.zero_or_o for it in items):
        if ftype == "postcode":
            return _build_postcode(items, strict)
        if ftype == "reference" and not strict:
            return _build_reference(items)
        return None
    digits = _resolve_o(items)
    if ftype == "phone":
        e = phone_e164(("+" if plus else "") + digits, country)
        if e is not None and len(digits) >= 9:
            if strict and not (plus or re.match(r"^\+(?:447|316|324[6-9])", e)):
                return None
            if not plus and digits.startswith("0") and not digits.startswith("00"):
                # language-neutral trunk handling already done by phone_e164
                pass
            return e, 0.88
        if not strict and (digits.startswith("0") or plus) and 3 <= len(digits) < 10:
            return "", 0.0
        return None
    if strict:
        return None
    if ftype == "bsn":
        if len(digits) == 9:
            return (digits, 0.9) if bsn_valid(digits) else (False, 0.0)
        if len(digits) == 8 and bsn_valid("0" + digits):
            return "0" + digits, 0.75
        return ("", 0.0) if 3 <= len(digits) < 9 else None
    if ftype == "reference":
        return _build_reference(items)
    if ftype == "postcode":
        return _build_postcode(items, strict)
    if ftype == "date_of_birth":
        groups = _groups(items)
        if len(groups) == 3 and all(1 <= len(g) <= 4 for g in groups) and len(groups[2]) in (2, 4):
            return _numeric_dob(groups[0].zfill(2) + groups[1].zfill(2) + groups[2])
        if len(digits) in (6, 8):
            return _numeric_dob(digits)
    return None


def _groups(items: list[Item]) -> list[str]:
    """Digits grouped as the caller paused: "fourteen, three, eighty-five" -> 14|3|85."""
    out: list[str] = []
    for it in items:
        if it.gap_before or not out:
            out.append("")
        out[-1] += "0" if it.zero_or_o else it.text
    return out


def _build_reference(items: list[Item]):
    s = _resolve_o(items)
    n_digits = sum(c.isdigit() for c in s)
    if not (5 <= len(s) <= 20) or n_digits < 3 or len(s) - n_digits > 6:
        return None
    if s.isdigit() and 13 <= len(s) <= 19 and luhn_valid(s):
        return None  # a payment card number is never a reference
    if s[0].isalpha() and not any(it.kind == "l" and len(it.text) == 1 for it in items[:1]) \
            and len(items[0].text) > 3:
        return None
    return s, 0.8


def _build_postcode(items: list[Item], strict: bool):
    for s in _o_variants(items):
        got = postcode_normalise(s)
        if got is None:
            continue
        pc, country = got
        if country in ("NL", "UK"):
            return pc, 0.88
        if not strict and country == "US":  # a bare Belgian 4-digit code is too ambiguous
            return pc, 0.7  # a bare ZIP: only as the whole answer (see _best_subrange)
    return None


def _build_iban(items: list[Item], strict: bool):
    best_prefix = None
    for s in _o_variants(items):
        if len(s) < 4 or not re.match(r"[A-Z]{2}\d{2}", s):
            if not strict and re.fullmatch(r"[A-Z]{2}\d{0,2}", s) and s[:2] in IBAN_LENGTHS \
                    and len(items) > 1:
                best_prefix = ("", 0.0)
            continue
        length = IBAN_LENGTHS.get(s[:2])
        if length is None:
            continue
        if len(s) == length:
            if iban_valid(s):
                return s, 0.93
            continue
        if len(s) < length and not strict:
            shape = IBAN_BBAN.get(s[:2])
            if shape is None or _prefix_fits(shape.pattern, s[4:]):
                best_prefix = ("", 0.0)
    if best_prefix is not None:
        return best_prefix
    if not strict:
        for s in _o_variants(items):
            if re.match(r"[A-Z]{2}\d{2}", s) and IBAN_LENGTHS.get(s[:2]) == len(s):
                return False, 0.0
    return None


def _prefix_fits(pattern: str, s: str) -> bool:
    """Could `s` be the start of a BBAN of this shape? (only for the simple shapes we use)"""
    spec = re.findall(r"\[A-Z\]\{(\d+)\}|\\d\{(\d+)\}|\[A-Z0-9\]\{(\d+)\}", pattern)
    kinds = []
    for letters, digits, either in spec:
        if letters:
            kinds += ["L"] * int(letters)
        elif digits:
            kinds += ["D"] * int(digits)
        else:
            kinds += ["X"] * int(either)
    for c, k in zip(s, kinds, strict=False):
        if (k == "L" and not c.isalpha()) or (k == "D" and not c.isdigit()):
            return False
    return len(s) < len(kinds)


def _numeric_dob(digits: str):
    if len(digits) not in (6, 8):
        return None
    today = dt.date.today()
    d, m = int(digits[:2]), int(digits[2:4])
    y = int(digits[4:])
    if len(digits) == 6:
        y = 2000 + y if 2000 + y <= today.year - 12 else 1900 + y
    try:
        date = dt.date(y, m, d)
    except ValueError:
        return None
    if not (today.year - 110 <= date.year <= today.year - 12):
        return None
    return date.isoformat(), 0.7


# ----------------------------------------------------------------------------- street helpers


def _capitalised(t: Token) -> bool:
    """Upper-case initial, looking past a Dutch "'s-" / "'t " prefix ("'s-Hertogenbosch")."""
    text = re.sub(r"^['’][st]-", "", t.text)
    return text[:1].isupper()


def _is_name_word(t: Token) -> bool:
    return t.kind == "word" and t.text[:1].isupper() and t.low not in STREET_LEFT_STOP \
        and len(t.text) > 1


def _street_name_at(toks: list[Token], i: int) -> tuple[str, int, int, bool] | None:
    """A street name whose head is token i: (name, first, after-last, dutch order?)."""
    t = toks[i]
    w = t.low
    n = len(toks)
    if not t.text[:1].isupper() and not (w in NL_STREET_WORDS and i > 0):
        return None
    if w in MONTH_WORDS:
        return None
    # Dutch: "Biltstraat", "Laan van Meerdervoort", "Prins Hendrikkade"
    if any(w.endswith(s) for s in NL_STREET_SUFFIXES) and (len(w) > 5 or w in NL_STREET_WORDS):
        s0 = i
        while s0 - 1 >= 0 and toks[s0 - 1].space_before is not None and (
                _is_name_word(toks[s0 - 1]) or (toks[s0 - 1].low in PARTICLES and s0 - 2 >= 0
                                                 and _is_name_word(toks[s0 - 2]))):
            if toks[s0 - 1].low in MONTH_WORDS or read_number(toks, s0 - 1) is not None:
                break
            s0 -= 1
        s1 = i + 1
        if w in NL_STREET_WORDS:  # "Laan van Meerdervoort", "Plein 1944"
            while s1 < n and (toks[s1].low in PARTICLES or _is_name_word(toks[s1])) and \
                    read_number(toks, s1) is None:
                s1 += 1
            while s1 - 1 > i and toks[s1 - 1].low in PARTICLES:
                s1 -= 1
            if s1 == i + 1 and s0 == i:
                return None
        while s0 < i and toks[s0].low in ("de", "het", "the", "'t"):
            s0 += 1  # "De Biltstraat" at the start of a sentence: the article is not the name
        name = " ".join(tk.text for tk in toks[s0:s1])
        return name, s0, s1, True
    # English: "Kingsley Road", "North Clark Street"
    if w in EN_STREET_SUFFIXES and i > 0 and _is_name_word(toks[i - 1]):
        s0 = i
        while s0 - 1 >= 0 and _is_name_word(toks[s0 - 1]) and i - s0 < 3 and \
                read_number(toks, s0 - 1) is None:
            s0 -= 1
        name = " ".join(tk.text for tk in toks[s0:i + 1])
        return name, s0, i + 1, False
    return None


def _house_number(toks: list[Token], i: int, used: set[int],
                  english: bool = False) -> tuple[str, int, int] | None:
    """House number (with an addition letter) at or just after i: (value, after, skipped).

    Digits said singly are joined ("een vier vijf" -> 145), as are two pairs in English
    order ("fourteen twenty North Clark Street" -> 1420); a comma ends the number."""
    skipped = 0
    while i < len(toks) and (toks[i].text in (",", ":", "-") or HOUSE_NO_RE.match(toks[i].low)
                             or toks[i].low in FILLERS or toks[i].low in (
                                 "is", "het", "it's", "op", "at", "the", "de", "ja", "yes")):
        i += 1
        skipped += 1
    if i >= len(toks) or i in used:
        return None
    if toks[i].kind == "alnum":
        m = re.fullmatch(r"(\d{1,5})-?([A-Za-z])", toks[i].text)
        return (m.group(1) + m.group(2).upper(), i + 1, skipped) if m else None
    num = read_number(toks, i)
    if num is None or not 1 <= num.value <= 99999 or num.digits.startswith("0"):
        return None
    value, j = num.digits, num.i1
    if not num.numeral:
        while j < len(toks) and j not in used and toks[j].kind == "word" \
                and not toks[j - 1].text.endswith(","):
            nxt = read_number(toks, j)
            if nxt is None or nxt.numeral:
                break
            single = len(value) == 1 or all(len(c) == 1 for c in (value[-1:], nxt.digits))
            pairs = english and len(value) == 2 and len(nxt.digits) == 2
            if not (single and len(nxt.digits) == 1 or pairs) or len(value) + len(nxt.digits) > 4:
                break
            value, j = value + nxt.digits, nxt.i1
    if j < len(toks) and toks[j].kind == "word" and len(toks[j].text) == 1 and \
            toks[j].text.isalpha() and toks[j].text.upper() not in ("I", "O") and \
            toks[j].text.isupper():
        value += toks[j].text.upper()
        j += 1
    return value, j, skipped


def _house_number_before(toks: list[Token], s0: int, used: set[int]) -> tuple[str, int] | None:
    for i in range(max(0, s0 - 4), s0):
        if i in used or (i > 0 and read_number(toks, i - 1) is not None
                         and not toks[i - 1].text.endswith(",") and i - 1 >= s0 - 4):
            continue  # start at the first number word of the group
        num = _house_number(toks, i, used, english=True)
        if num is not None and num[1] == s0 and num[2] == 0:
            return num[0], i
    return None


def _street_value(street: str, number: str) -> str:
    if street.startswith("|"):  # English order remembered from the street turn
        return f"{number} {street[1:]}"
    return f"{street} {number}"


def _short_digits(text: str) -> bool:
    """Text that is nothing but 1-4 spoken digits ("five two nine", "twintig")."""
    toks = [t for t in tokenize(text) if t.kind != "punct"]
    return bool(toks) and all(t.kind == "num" or read_number([t], 0) is not None for t in toks) \
        and bool(re.fullmatch(r"\d{1,4}", spoken_alnum(text)))


def _close(a: str, b: str) -> bool:
    """Small edit distance: an ASR misspelling of the spelled-out name."""
    if abs(len(a) - len(b)) > 2:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] <= 2 and prev[-1] < len(b) // 2
