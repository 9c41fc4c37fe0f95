"""What Deepgram's `numerals`, `smart_format` and `punctuate` change in a client's text.

Applied to the `Results` and `Record` messages one client receives and to a pre-recorded
answer, after its redaction, never to what the call's feed, the assistant and the stored
log read: those keep the words as the model wrote them (the assistant has its own reading
of spoken numbers). Pure: message dicts in, new message dicts out.

* `numerals=true` (or `smart_format=true`): numbers said as words are written as digits,
  as Deepgram's numerals do ("nine hundred" -> "900"). A run of digits said one by one
  becomes one number ("five one nine two", Whisper's "5-1-9-2" or "5 1 9 2" -> "5192";
  "double five" -> "55"; "oh" and "zero" inside a run -> 0); a cardinal said in one breath
  becomes its value ("twenty three" -> "23", "two thousand and one" -> "2001"). "one" and
  "oh" alone stay words ("no one", "oh, right"); punctuation ends a number, except the
  commas Whisper writes between dictated digits ("5, 1, 9, 2" -> "5192").
  Ordinals, decimals, currency, dates and times are left as the model wrote them
  (Whisper writes most of them with digits already).
* `smart_format=true`: numerals, and also e-mail addresses, money, times with am/pm, dates
  with a month name, ordinals from 11th and "+" before a dictated international number, as
  Deepgram's smart format writes them ("john dot smith at example dot com" ->
  "john.smith@example.com", "twenty five dollars" -> "$25", "three thirty pm" -> "3:30 PM",
  "november second" -> "November 2"): `streaming/live/smart_format.py`, which lists what it
  leaves alone.
* `punctuate=false`: no punctuation and no capitals, as Deepgram's (one switch for both):
  punctuation at the edges of each word is removed (inside a word it stays: "3.5",
  "don't", "e-mail"), and everything is lower-cased. `smart_format=true` keeps
  punctuation, as Deepgram's does.

A merged number (or e-mail, amount, ...) is one entry of `words` (start of its first word,
end of its last, mean confidence), so `transcript` stays the words' `punctuated_word`s
joined by spaces.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from streaming.asr.textnorm import number_words
from streaming.live.smart_format import smart_spans

_UNITS = {number_words(n): n for n in range(10)} | {"oh": 0, "nought": 0}
_TEENS = {number_words(n): n for n in range(10, 20)}
_TENS = {number_words(n): n for n in range(20, 100, 10)}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_REPEAT = {"double": 2, "triple": 3}
# number words that are ordinary words too: "oh" and "nought" are digits only inside a run
# of digits, "one" only inside a longer number
_ZEROS = {"oh", "nought"}
_WEAK = _ZEROS | {"one"}
_SMALL = _TEENS.keys() | _TENS.keys() | (_UNITS.keys() - _ZEROS)  # what may follow "and"
# stripped from the edges of words with punctuate=false; square brackets stay: they mark
# redacted words ("[redacted]", "[pci]")
_EDGE = ".,?!;:…\"“”«»¿¡()-–—‘’'"
_DIGIT_RUN = re.compile(r"^\d(?:-\d)+$")


@dataclass(frozen=True)
class TextFormat:
    """How one client wants its text: `numerals`, `punctuate` and `smart` (smart_format's
    e-mails, money, times, dates; smart_format also turns the other two on)."""

    numerals: bool = False
    punctuate: bool = True
    smart: bool = False

    @classmethod
    def of(cls, *, numerals: bool, smart_format: bool, punctuate: bool) -> TextFormat:
        return cls(numerals=numerals or smart_format, punctuate=punctuate or smart_format, smart=smart_format)

    @property
    def changes_text(self) -> bool:
        return self.numerals or self.smart or not self.punctuate

    def message(self, msg: dict[str, Any]) -> dict[str, Any]:
        """A formatted copy of a `Results` or `Record` message (others are returned as they are)."""
        if not self.changes_text or msg.get("type") not in ("Results", "Record"):
            return msg
        out = dict(msg)
        out["channel"] = copy.deepcopy(msg["channel"])
        for alt in out["channel"].get("alternatives", []):
            alt["transcript"] = self.text(alt.get("transcript", ""))
            alt["words"] = self.words(alt.get("words", []))
        return out

    def spans(self, tokens: list[str]) -> list[tuple[int, int, str, str | None]]:
        """What to rewrite in `tokens` (written words): (first, after the last, new text,
        new `word` or None for a number's digits), none overlapping, in order."""
        spans = [(a, b, new, None) for a, b, new in numeral_spans(tokens)] if self.numerals else []
        if not self.smart:
            return spans
        # smart_format reads the text as numerals wrote it; its spans are mapped back onto
        # the written words, so a span over a merged number takes that number's words
        merged = _apply(tokens, spans, lambda _, span: span[2])
        origin = _apply([(i, i + 1) for i in range(len(tokens))], spans,
                        lambda items, _: (items[0][0], items[-1][1]))
        numbers = {s[0]: s for s in spans}
        smart = {s[0]: s for s in smart_spans([_split(t) for t in merged])}
        out, i = [], 0
        while i < len(merged):
            if i in smart:
                _, j, new, word = smart[i]
                out.append((origin[i][0], origin[j - 1][1], new, word))
                i = j
                continue
            number = numbers.get(origin[i][0])
            if number is not None and number[1] == origin[i][1]:
                out.append(number)
            i += 1
        return out

    def text(self, text: str) -> str:
        tokens = text.split()
        if self.numerals or self.smart:
            tokens = _apply(tokens, self.spans(tokens), lambda _, span: span[2])
        if not self.punctuate:
            tokens = [p for p in (_plain(t) for t in tokens) if p]
        return " ".join(tokens)

    def words(self, words: list[dict[str, Any]]) -> list[dict[str, Any]]:
        tokens = [w.get("punctuated_word") or w.get("word", "") for w in words]
        if self.numerals or self.smart:
            words = _apply(words, self.spans(tokens), lambda items, span: _merge(items, span[2], span[3]))
        if not self.punctuate:
            out = []
            for w in words:
                plain = _plain(w.get("punctuated_word") or w.get("word", ""))
                if plain:
                    out.append({**w, "punctuated_word": plain})
            words = out
        return words


def _apply(items: list, spans: list[tuple], make) -> list:
    """`items` with each span (a, b, ...) replaced by `make(items[a:b], span)`."""
    out, i = [], 0
    for span in spans:
        a, b = span[0], span[1]
        out.extend(items[i:a])
        out.append(make(items[a:b], span))
        i = b
    out.extend(items[i:])
    return out


def _merge(words: list[dict[str, Any]], text: str, word: str | None = None) -> dict[str, Any]:
    """One word entry for a number (e-mail, amount, ...) said in several words; `word` is
    the entry's `word`, a number's digits when None."""
    first = words[0]
    conf = sum(float(w.get("confidence", 0.0)) for w in words) / len(words)
    word = word if word is not None else re.sub(r"\D", "", text) or text
    return {**first, "word": word, "start": first["start"],
            "end": words[-1]["end"], "confidence": round(conf, 4), "punctuated_word": text}


def _plain(token: str) -> str:
    return token.strip(_EDGE).lower()


def _split(token: str) -> tuple[str, str, str]:
    """(leading punctuation, core, trailing punctuation) of a written word."""
    core = token.strip(_EDGE)
    if not core:
        return token, "", ""
    a = token.index(core)
    return token[:a], core, token[a + len(core):]


def _atoms(core: str) -> list[str] | None:
    """The number words (or single digits) a word is made of, or None if it is no number:
    "twenty-four" -> [twenty, four]; "5-1-9-2" -> [5, 1, 9, 2]; "Five" -> [five]."""
    low = core.lower()
    if len(low) == 1 and low.isdigit():
        return [low]
    if _DIGIT_RUN.match(low):
        return low.split("-")
    parts = low.split("-")
    if all(p in _UNITS or p in _TEENS or p in _TENS or p in _SCALES or p in _REPEAT or p in ("a", "and")
           for p in parts):
        return parts
    return None


def numeral_spans(tokens: list[str]) -> list[tuple[int, int, str]]:
    """Where numbers are said as words in `tokens` (written words, with their punctuation):
    (first token, token after the last, the number as written with its outer punctuation)."""
    parsed = [_split(t) for t in tokens]
    atoms = [_atoms(core) if core else None for _, core, _ in parsed]
    spans: list[tuple[int, int, str]] = []
    i = 0
    while i < len(tokens):
        found = _digit_run(_flat(parsed, atoms, i, commas=True)) or _cardinal(_flat(parsed, atoms, i))
        if found is None:
            i += 1
            continue
        j, digits = found
        prev = spans[-1] if spans else None
        if prev and prev[1] == i and _pair(prev, digits, parsed):
            # "nineteen eighty five", "twenty twenty": two-digit numbers said as one (years)
            i = prev[0]
            digits = prev[2].strip(_EDGE) + digits
            spans.pop()
        spans.append((i, j, parsed[i][0] + digits + parsed[j - 1][2]))
        i = j
    return spans


def _pair(prev: tuple[int, int, str], digits: str, parsed: list[tuple[str, str, str]]) -> bool:
    """Two numbers of two digits said one after the other, nothing between them."""
    a = prev[2].strip(_EDGE)
    return (len(a) == 2 and a[0] != "0" and len(digits) == 2 and digits[0] != "0"
            and not parsed[prev[1] - 1][2] and not any(c.isdigit() for c in parsed[prev[0]][1]))


def _flat(parsed: list[tuple[str, str, str]], atoms: list[list[str] | None], i: int,
          commas: bool = False) -> list[tuple[str, int, bool]]:
    """The atoms of the words from i on that may form one number, each with its word's
    index and whether a comma came before that word: up to a word that is no number or
    punctuation between two words (a comma only ends it unless `commas`)."""
    out: list[tuple[str, int, bool]] = []
    j = i
    while j < len(parsed) and atoms[j] is not None:
        between = parsed[j - 1][2] + parsed[j][0] if j > i else ""
        if between and not (commas and between == ","):
            break
        out += [(a, j, bool(between)) for a in atoms[j]]  # type: ignore[union-attr]
        j += 1
    return out


def _word_ends(flat: list[tuple[str, int, bool]], k: int) -> bool:
    return k + 1 == len(flat) or flat[k + 1][1] != flat[k][1]


def _digit_run(flat: list[tuple[str, int, bool]]) -> tuple[int, str] | None:
    """Two or more digits said (or written) one by one: "five one nine", "double five";
    Whisper writes dictated digits with commas too ("5, 1, 9, 2"): a run with commas
    needs three digits ("two, one" stays two numbers)."""
    digits, repeat, commas, best = "", 1, False, None
    for k, (a, word, comma) in enumerate(flat):
        if a in _REPEAT and repeat == 1:
            repeat = _REPEAT[a]
        else:
            d = int(a) if a.isdigit() else _UNITS.get(a)
            if d is None or (a in _ZEROS and not digits):  # a run does not start with "oh"
                break
            digits, repeat = digits + str(d) * repeat, 1
        commas = commas or comma
        if _word_ends(flat, k) and repeat == 1 and len(digits) >= (3 if commas else 2):
            best = (word + 1, digits)
    return best


def _cardinal(flat: list[tuple[str, int, bool]]) -> tuple[int, str] | None:
    """A number said in one breath: "twenty three", "nine hundred", "two thousand and one"."""
    total, group, state, scale = 0, 0, "start", 10**12
    said, best = 0, None
    for k, (a, word, _) in enumerate(flat):
        nxt = flat[k + 1][0] if k + 1 < len(flat) else ""
        if a == "a" and state == "start" and nxt in _SCALES:
            group, state = 1, "unit"
        elif a == "and" and state in ("hundred", "scale") and nxt in _SMALL:
            pass
        elif a in _UNITS and a not in _ZEROS and (
                state in ("start", "hundred", "scale") or (state == "tens" and _UNITS[a])):
            group, state, said = group + _UNITS[a], "unit", said + 1
        elif a in _TEENS and state in ("start", "hundred", "scale"):
            group, state, said = group + _TEENS[a], "teen", said + 1
        elif a in _TENS and state in ("start", "hundred", "scale"):
            group, state, said = group + _TENS[a], "tens", said + 1
        elif a == "hundred" and state in ("unit", "teen", "tens") and 0 < group < 100:
            group, state, said = group * 100, "hundred", said + 1
        elif a in ("thousand", "million") and state not in ("start", "scale") and group and _SCALES[a] < scale:
            total, group, state, scale, said = total + group * _SCALES[a], 0, "scale", _SCALES[a], said + 1
        else:
            break
        if _word_ends(flat, k) and said:
            best = (word + 1, total + group, said, a)
    if best is None:
        return None
    end, value, said, last = best
    if said == 1 and last in _WEAK:
        return None  # "one" alone is a word
    return end, str(value)
