"""Value builders: dictated pieces -> a typed, validated field value.

Pure functions, one per field type (IBAN, BSN, phone, postcode, reference, numeric
birth date), so the number family can try every type on every sub-range of a run
and the LLM path can check a proposed value the same way the rules would.
"""

from __future__ import annotations

import datetime as dt
import re

from assist.spoken import Item
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

# (value, confidence); value "" is a valid prefix of a longer value, False a complete
# value that failed its checksum. None: not a value of this type.
Built = tuple[str | bool, float] | None


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
    """Every reading of the lone "O"s (letter or zero), at most 16."""
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


def validate(ftype: str, raw: str) -> str | None:
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


def build(ftype: str, items: list[Item], strict: bool, plus: bool,
          country: str = "NL") -> Built:
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


def _build_reference(items: list[Item]) -> Built:
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


def _build_postcode(items: list[Item], strict: bool) -> Built:
    for s in _o_variants(items):
        got = postcode_normalise(s)
        if got is None:
            continue
        pc, country = got
        if country in ("NL", "UK"):
            return pc, 0.88
        if not strict and country == "US":  # a bare Belgian 4-digit code is too ambiguous
            return pc, 0.7  # a bare ZIP: only as the whole answer (see numbers._best_subrange)
    return None


def _build_iban(items: list[Item], strict: bool) -> Built:
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


def _numeric_dob(digits: str) -> Built:
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
