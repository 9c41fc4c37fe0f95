"""What the dialogue says around a value: whose it is, whether it is secret, old or a
correction, and whether the agent asks, confirms or reads back.

Cue patterns and the word lists several families share, plus `prepare_turn`, which
works out once per turn where each cue governs, so families only ask "is this
position inside a secret/relation/stale scope?".
"""

from __future__ import annotations

import re

from assist.autofill.base import Turn
from assist.spoken import fold, tokenize
from assist.types import Segment


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


REPEAT_RE = _rx(r"\b(?:spell|repeat|again|say that|once more|slowly|pardon|nog een keer|nog eens|"
                r"herhalen|spellen|langzaam|sorry\?)")
# What may come before a name or a street in an answer ("yes, it's ...", "met ...").
NAME_INTRO_RE = _rx(
    r"(?:\W*(?:yes|yeah|yep|sure|of course|ok(?:ay)?|right|hi|hello|hiya|morning|good "
    r"(?:morning|afternoon|evening)|ja|jazeker|hoi|hallo|goedemorgen|goedemiddag|goedenavond|"
    r"dag|uh|um|eh|er|erm|well|so|it's|it is|its|that's|that is|this is|my name is|my name's|"
    r"the name is|the name's|name's|i'?m|i am|het is|dat is|mijn naam is|ik ben|ik heet|met|"
    r"u spreekt met|je spreekt met|you'?re speaking (?:to|with)|speaking|mister|mr|mrs|ms|miss|"
    r"dr|doctor|professor|prof|sir|dokter|meneer|mevrouw|mevr|dhr|trouwens|eigenlijk|overigens|"
    r"actually|by the way|btw)\b[\s,.:]*)*")


# Word lists shared by the name, street and city families.
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


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; a dash also ends one ("It's mine—his is ...")."""
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


def prepare_turn(seg: Segment) -> Turn:
    """A segment with its tokens and the scopes of its cues."""
    text = seg.text
    sentences = _sentence_spans(text)
    return Turn(
        seg=seg, toks=tokenize(text), low=fold(text), word_spans=_align_words(seg),
        sentences=sentences,
        secret=_scopes(text, SECRET_RE, sentences),
        relation=_scopes(text, RELATION_RE, sentences, SELF_RE),
        stranger=_scopes(text, STRANGER_RE, sentences, SELF_RE),
        stale=_scopes(text, STALE_RE, sentences, clause=True),
        corrections=[m.start() for m in CORRECTION_RE.finditer(text)],
    )
