"""Spoken forms of numbers, letters, e-mail addresses and dates, English and Dutch.

Callers dictate values in pieces ("five one nine two, oh three seven four",
"N L eenentwintig, H R B B", "S E fifteen, four R J"), and an ASR may write the
same thing as numerals ("5192 0374"). Everything here works on tokens that keep
their character offsets, so every parsed value can point back at the exact text
it came from (the evidence).

One module per job: `words` (number words), `tokens`, `numbers` (one number said
in one breath), `runs` (dictated digits and letters), `emails`, `dates`. The names
are re-exported here so callers import from `assist.spoken` alone.
"""

from __future__ import annotations

from assist.spoken.dates import MONTHS, DateMatch, find_dates
from assist.spoken.emails import (
    AT_WORDS,
    DOT_WORDS,
    SEP_WORDS,
    TLDS,
    TWO_WORD_SEPS,
    WEAK_AT_WORDS,
    EmailMatch,
    find_emails,
)
from assist.spoken.numbers import Number, read_number
from assist.spoken.runs import LETTER_STOPWORDS, Item, Run, spoken_alnum, value_runs
from assist.spoken.tokens import Token, edit_distance, fold, tokenize
from assist.spoken.words import (
    DASH_WORDS,
    EN_ORDINALS,
    EN_TEENS,
    EN_TENS,
    EN_UNITS,
    FILLERS,
    MULTIPLIERS,
    NL_ORD_SPECIAL,
    NL_TEENS,
    NL_TENS,
    NL_UNITS,
    WEAK_NUMBER_WORDS,
    nl_number,
)

__all__ = [
    "AT_WORDS", "DASH_WORDS", "DOT_WORDS", "EN_ORDINALS", "EN_TEENS", "EN_TENS", "EN_UNITS",
    "FILLERS", "LETTER_STOPWORDS", "MONTHS", "MULTIPLIERS", "NL_ORD_SPECIAL", "NL_TEENS",
    "NL_TENS", "NL_UNITS", "SEP_WORDS", "TLDS", "TWO_WORD_SEPS", "WEAK_AT_WORDS",
    "WEAK_NUMBER_WORDS", "DateMatch", "EmailMatch", "Item", "Number", "Run", "Token",
    "edit_distance", "find_dates", "find_emails", "fold", "nl_number", "read_number", "spoken_alnum",
    "tokenize", "value_runs",
]
