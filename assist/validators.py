"""Checksums and shapes of the values callers dictate.

A spoken value that fails its checksum is far more likely misheard than real, so
the autofill uses these to block or down-weight values instead of trusting parses.
"""

from __future__ import annotations

import re

# IBAN lengths per country (SEPA area and neighbours a Benelux contact centre meets).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GI": 23, "GL": 18, "GR": 27,
    "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19,
    "SK": 24, "SM": 27, "TR": 26,
}

# Country-specific BBAN shapes where the bank code is letters: these let a parser place
# letters/digits ("O" vs "oh") and reject garbage early.
IBAN_BBAN = {
    "NL": re.compile(r"[A-Z]{4}\d{10}"),
    "GB": re.compile(r"[A-Z]{4}\d{14}"),
    "IE": re.compile(r"[A-Z]{4}\d{14}"),
    "BE": re.compile(r"\d{12}"),
    "DE": re.compile(r"\d{18}"),
    "LU": re.compile(r"\d{3}[A-Z0-9]{13}"),
    "FR": re.compile(r"\d{10}[A-Z0-9]{11}\d{2}"),
}

EMAIL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._%+-]*[a-z0-9])?@(?:[a-z0-9-]+\.)+[a-z]{2,}$")
E164_RE = re.compile(r"^\+[1-9]\d{7,14}$")

POSTCODE_PATTERNS = {
    "NL": re.compile(r"^[1-9]\d{3} (?!SA|SD|SS)[A-Z]{2}$"),
    "UK": re.compile(r"^(?:[A-Z]{1,2}\d[A-Z\d]?|GIR) \d[ABD-HJLNP-UW-Z]{2}$"),
    "US": re.compile(r"^\d{5}(?:-\d{4})?$"),
    "BE": re.compile(r"^[1-9]\d{3}$"),
}


def iban_valid(iban: str) -> bool:
    """ISO 13616: known country length and mod-97 == 1."""
    iban = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{8,30}", iban):
        return False
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    shape = IBAN_BBAN.get(iban[:2])
    if shape and not shape.fullmatch(iban[4:]):
        return False
    return iban_mod97(iban) == 1


# Dutch bank codes (the 4 letters after NL##): a misheard code ("RIBO") is repaired only to
# one of these, and only when the repaired IBAN passes mod-97 (`iban_repairs`).
NL_BANK_CODES = (
    "ABNA", "ADYB", "AEGO", "ANDL", "ARBN", "ARSN", "ASNB", "ATBA", "BCDM", "BCIT", "BICK",
    "BINK", "BKCH", "BKMG", "BLGW", "BMEU", "BNDA", "BNGH", "BNPA", "BOFA", "BOFS", "BOTK",
    "BUNQ", "CHAS", "CITC", "CITI", "COBA", "DEUT", "DHBN", "DLBK", "DNIB", "FBHL", "FLOR",
    "FRGH", "FTSB", "FVLB", "GILL", "HAND", "HHBA", "HSBC", "ICBK", "INGB", "ISAE", "ISBK",
    "KABA", "KASA", "KNAB", "KOEX", "KRED", "LOCY", "LOYD", "LPLN", "MHCB", "MOYO", "NNBA",
    "NWAB", "PCBC", "RABO", "RBRB", "SNSB", "SOGE", "TEBU", "TRIO", "UBSW", "UGBI", "VOWA",
    "ZWLB")


def iban_repairs(raw: str, limit: int = 3) -> list[str]:
    """Valid IBANs one misheard bank code away from a Dutch IBAN that fails its checksum:
    the code replaced by a known one at one or two letters' distance. Digits are not
    "repaired": a tenth of single-digit changes pass mod-97 by chance, so that would invent
    numbers. What survives is never filled on its own: the agent is asked to check it
    (assist.autofill.redecode)."""
    raw = raw.replace(" ", "").upper()
    if not re.fullmatch(r"NL\d{2}[A-Z]{4}\d{10}", raw):
        return []
    head, code, account = raw[:4], raw[4:8], raw[8:]
    out = [head + known + account for known in NL_BANK_CODES
           if known != code and sum(a != b for a, b in zip(known, code, strict=True)) <= 2
           and iban_valid(head + known + account)]
    return out if len(out) <= limit else []


def iban_mod97(iban: str) -> int:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97


def bsn_valid(bsn: str) -> bool:
    """Dutch 11-proef: sum(d_i * (9..2)) - d_9 is a multiple of 11."""
    if not re.fullmatch(r"\d{9}", bsn) or bsn == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(bsn[:8], range(9, 1, -1), strict=True)) - int(bsn[8])
    return total % 11 == 0


def luhn_valid(number: str) -> bool:
    """Payment card checksum; used to recognise (and refuse) card numbers."""
    if not number.isdigit() or len(number) < 12:
        return False
    total = 0
    for i, c in enumerate(reversed(number)):
        v = int(c)
        if i % 2:
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return total % 10 == 0


def email_valid(email: str) -> bool:
    return bool(EMAIL_RE.match(email)) and ".." not in email


def postcode_normalise(raw: str) -> tuple[str, str] | None:
    """Return (postcode, country) for a NL/UK/US/BE postcode in any spacing, else None.

    Shapes overlap (a 4-digit NL prefix is a Belgian postcode), so NL is tried first
    when letters follow, and bare 4 digits are Belgian.
    """
    s = re.sub(r"[\s-]", "", raw.upper())
    if re.fullmatch(r"[1-9]\d{3}[A-Z]{2}", s):
        cand = f"{s[:4]} {s[4:]}"
        return (cand, "NL") if POSTCODE_PATTERNS["NL"].match(cand) else None
    if re.fullmatch(r"[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}", s):
        cand = f"{s[:-3]} {s[-3:]}"
        return (cand, "UK") if POSTCODE_PATTERNS["UK"].match(cand) else None
    if re.fullmatch(r"\d{5}", s) or re.fullmatch(r"\d{9}", s):
        return (s if len(s) == 5 else f"{s[:5]}-{s[5:]}", "US")
    if re.fullmatch(r"[1-9]\d{3}", s):
        return s, "BE"
    return None


def postcode_valid(postcode: str) -> bool:
    return any(p.match(postcode) for p in POSTCODE_PATTERNS.values())


# National significant number lengths (after the trunk 0 is dropped).
_NSN = {"44": (10, 10), "31": (9, 9), "32": (8, 9), "49": (7, 11), "1": (10, 10)}
_COUNTRY_CODES = ("44", "31", "32", "49", "1")


def _nsn_ok(cc: str, nsn: str) -> bool:
    lo, hi = _NSN[cc]
    if not (lo <= len(nsn) <= hi) or nsn.startswith("0"):
        return False
    if cc == "1":
        return nsn[0] not in "01" and nsn[3] not in "01"
    if cc == "31":
        return True
    if cc == "32":
        return len(nsn) == 9 if nsn.startswith("4") else len(nsn) == 8
    if cc == "44":
        return nsn[0] in "123578"
    return True


def phone_e164(digits: str, default_country: str = "NL") -> str | None:
    """Normalise a dialled number to E.164, or None when it is not a plausible number.

    `digits` may start with "+" or the 00 international prefix. A national number
    (trunk 0) is read in the country its length and prefix fit best: 11 digits
    starting 07/01/02/03 is UK, 10 digits starting 06 is a Dutch mobile, 10 digits
    without a trunk 0 is North American; other lengths fall back on `default_country`.
    """
    d = digits.strip()
    plus = d.startswith("+")
    d = re.sub(r"\D", "", d)
    if not d:
        return None
    if d.startswith("00"):
        plus, d = True, d[2:]
    if plus:
        for cc in _COUNTRY_CODES:
            if d.startswith(cc):
                nsn = d[len(cc):]
                if nsn.startswith("0"):  # "+31 (0)6..." said with the trunk zero
                    nsn = nsn[1:]
                if _nsn_ok(cc, nsn):
                    return f"+{cc}{nsn}"
        return f"+{d}" if E164_RE.match(f"+{d}") and d[0] not in "0" else None
    if d.startswith("0"):
        nsn = d[1:]
        if len(d) == 11 and d[1] in "1237" and default_country != "DE" and _nsn_ok("44", nsn):
            return f"+44{nsn}"
        if len(d) == 10 and d.startswith("06"):
            return f"+31{nsn}"
        order = {"NL": ("31", "32", "49", "44"), "BE": ("32", "31", "49", "44"),
                 "DE": ("49", "31", "32", "44"), "UK": ("44", "31", "32", "49"),
                 "GB": ("44", "31", "32", "49"), "US": ("44", "31", "32", "49")}
        for cc in order.get(default_country, order["NL"]):
            if _nsn_ok(cc, nsn):
                return f"+{cc}{nsn}"
        return None
    if len(d) == 11 and d.startswith("1") and _nsn_ok("1", d[1:]):
        return f"+{d}"
    if len(d) == 10 and _nsn_ok("1", d):
        return f"+1{d}"
    return None
