"""Field-aware decoding: what to ask the recogniser again, and how to choose among its answers.

Whisper mishears exactly what forms need (digits in groups, spelled letters, e-mail
addresses, postcodes) and has no idea what the agent just asked for. When a caller's
utterance holds a value the form wants, the service decodes that utterance again
(`FieldRequest`): once as the record was decoded and once behind a prompt that shows
the field's written shape, each keeping its n best hypotheses. The field validators
then choose (`choose`): every hypothesis is read by the same families that read the
record, only values that pass their field's checks count, and each value's support is
the probability mass of the hypotheses that give it. A value no hypothesis makes valid
is never filled; confidence comes from that support and from whether the record agrees
(`calibrated`), so a value shown as filled means what it says.

Pure text in and out: the audio and the model stay in `streaming/` (the service's
`LiveCall.redecode`); this module only says what to ask for and what the answers mean.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

# A written example per field type: the prompt is earlier "context" Whisper continues in
# the same style (digits in groups, a postcode in capitals, letters with hyphens). The
# example values are deliberately unlike any test or dev call value: a prompt that holds
# the answer would be a leak, not a method.
FIELD_PROMPTS: dict[str, dict[str, str]] = {
    "en": {
        "phone": "My phone number is 07700 900123.",
        "reference": "My number is 5031 2764, that's HB 77 4410.",
        "iban": "My IBAN is NL20 INGB 0001 2345 67.",
        "bsn": "My BSN is 111 222 333.",
        "postcode": "My postcode is BS8 1AB.",
        "date_of_birth": "I was born on the 14th of March 1986, 14/03/1986.",
        "email": "It's anna dot devries at example dot org.",
        "person_name": "My name is Anna de Vries, that's D-E V-R-I-E-S.",
        "street_address": "I live at 12 Station Road.",
        "city": "I live in Zwolle.",
    },
    "nl": {
        "phone": "Mijn telefoonnummer is 06 12345678.",
        "reference": "Mijn klantnummer is 5031 2764.",
        "iban": "Mijn IBAN is NL20 INGB 0001 2345 67.",
        "bsn": "Mijn BSN is 111 222 333.",
        "postcode": "Mijn postcode is 1012 AB.",
        "date_of_birth": "Ik ben geboren op 14 maart 1986.",
        "email": "Het is anna punt devries apenstaartje voorbeeld punt nl.",
        "person_name": "Mijn naam is Anna de Vries, D van Dirk, E van Eduard.",
        "street_address": "Ik woon op de Stationsweg 12.",
        "city": "Ik woon in Zwolle.",
    },
}
# Types worth a second decode: their values are dictated, spelled or checked.
DECODED_TYPES = frozenset(FIELD_PROMPTS["en"])
# Checksummed types: a wrong hearing almost never passes, so a valid value is strong.
CHECKSUMMED = frozenset({"iban", "bsn"})
# From audio, a value is heard once by the caller's turn, however many hypotheses agree:
# on held-out calls every hypothesis shared one mishearing as often as not ("N2 1TW" for
# "BN2 1TW", a first name misheard beside a correctly spelled surname, a date from garbled
# audio), and only a checksum told. So every type but the checksummed ones is scaled below
# the display threshold until a second, independent hearing agrees: the agent's read-back
# gives the same value and the caller confirms it (assist.autofill.filler, `confirmed`).
SINGLE_HEARING = 0.78

DISPLAY_THRESHOLD = 0.8  # at or above: shown as filled; below: "please check" (FormValue.display)


@dataclass
class FieldRequest:
    """Decode this caller utterance again for these fields (the service's job)."""

    segment_id: str
    fields: list[str]  # form field ids
    ftypes: list[str]  # their types, in the same order
    prompt: str  # written example(s) of the expected value(s)
    language: str = "en"


@dataclass
class Choice:
    """What the n best hypotheses say about one field of one utterance."""

    field: str
    support: dict[str, float] = field(default_factory=dict)  # valid value -> probability mass
    heard: str = ""  # the best hypothesis' text (what the overlay shows with "please check")
    texts: list[tuple[str, float]] = field(default_factory=list)  # every hypothesis, with its mass
    suspect: set[str] = field(default_factory=set)  # values read from part of a longer dictated run

    def ranked(self) -> list[tuple[str, float]]:
        """Valid values, best first, each with its share of the valid readings' mass."""
        total = sum(self.support.values())
        return sorted(((v, m / total) for v, m in self.support.items()), key=lambda kv: (-kv[1], kv[0]))

    @property
    def coverage(self) -> float:
        return min(1.0, sum(self.support.values()))


def field_prompt(ftypes: list[str], language: str) -> str:
    """The prompt for a decode expecting these field types (at most two examples)."""
    table = FIELD_PROMPTS.get(language[:2], FIELD_PROMPTS["en"])
    out: list[str] = []
    for t in ftypes:
        p = table.get(t)
        if p and p not in out:
            out.append(p)
    return " ".join(out[:2])


def posteriors(hyps: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """(text, whole-sequence log-probability) -> (text, share of the n-best's mass).

    The n best of one beam are a sample of what the model finds likely; their softmax is
    a usable, if overconfident, posterior. Identical texts are merged."""
    if not hyps:
        return []
    top = max(lp for _, lp in hyps)
    mass: dict[str, float] = {}
    for text, lp in hyps:
        mass[text] = mass.get(text, 0.0) + math.exp(lp - top)
    total = sum(mass.values())
    return [(t, m / total) for t, m in mass.items()]


def calibrated(share: float, record_agrees: bool, ftype: str, second: float = 0.0,
               coverage: float = 1.0) -> float:
    """Confidence of a value chosen from the n best.

    `share`: the value's part of the mass of hypotheses that gave any valid value;
    `second`: the best other valid value's part; `coverage`: how much of the n-best's mass
    gave a valid value at all. Agreement of the record and the field-aware n-best raises it;
    a checksum that passes makes a chance mishearing unlikely, so only checksummed values
    are trusted from a minority of the hypotheses and only they may be shown as filled on
    one hearing (`SINGLE_HEARING`); a close runner-up means the audio is ambiguous."""
    conf = 0.72 + 0.25 * share if record_agrees else 0.45 + 0.35 * share
    if ftype in CHECKSUMMED:
        conf += 0.05
    elif coverage < 0.3:
        conf -= 0.1
    if second > 0.2:
        conf -= 0.15 * min(1.0, second / max(share, 1e-6))
    conf = max(0.05, min(0.97, conf))
    if ftype not in CHECKSUMMED:
        conf *= SINGLE_HEARING
    return round(conf, 3)


_ALNUM = re.compile(r"[A-Za-z0-9]")


def looks_like_value(text: str) -> bool:
    """Enough digits or spelled letters that "please check" has something to show."""
    digits = sum(c.isdigit() for c in text)
    spelled = len(re.findall(r"\b[A-Za-z]\b", text))
    return digits + spelled >= 4 and bool(_ALNUM.search(text))
