"""Smart format's wait for an entity to be finished in a live stream, as Deepgram's.

Deepgram: "When using Smart Format with streaming audio, Deepgram will attempt to format
entities as they are spoken. For entities that seem like they may be incomplete, our system
will wait until the speaker continues to non-entity speech, OR finalize the transcript after
3 seconds of silence", and "`no_delay=true` forces immediate finalization".

A channel's finals are cut by pauses and by early commits, so "my number is 0 6 1 2 ...
3 4 5 6 7 8" can come as two finals: formatted one by one, and on an overlay, two half
numbers. `EntityHold` stands between one channel's `ChannelTranscriber` and the session
(`session.py`, with `smart_format` or `numerals` and without `no_delay`): a final whose text
ends in what may be an unfinished entity (`open_entity`: a digit or number word, spelled
letters, an e-mail address at "at" or "dot", a "+") is held back, and

* the channel's next final, when it goes on with the entity (`goes_on`) and its first word
  starts within `HOLD_S` of audio after the held final's last word, is merged into it: one
  final from the first word to the last, the words of both, the later one's `speech_final`
  and `from_finalize`. The merge may be held again ("0 6" + "1 2" + "3 4" ...);
* a next final that does not go on with it (non-entity speech) releases the held one as it
  was, first;
* without a next final, the held one goes out as it was once the channel's audio is
  `HOLD_S` past its last word and no speech that began within that time is still to be
  finalized; and at once on `flush` (Finalize, CloseStream, end of stream) when the channel
  has nothing left to finalize, or when holding is switched off (`Configure`).

What the channel says after a held final waits behind it, in order: an empty `speech_final`,
`UtteranceEnd`, `Record`. When the speech went on (a merge) the `speech_final` and
`UtteranceEnd` of the held part are dropped (the utterance did not end: the channel sends
both again after the words that followed) and the `Record`s follow the merged final (a
record names the pieces it replaces, so they must be out first). Interim results still flow,
with the held words before their own (they are not final yet). Pure: times are audio
seconds of the channel; no clock, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import replace

from streaming.asr.base import HypWord
from streaming.live.channel import Output, RecordUpdate, TranscriptUpdate, UtteranceEnd

HOLD_S = 3.0  # Deepgram's: an entity that may go on waits this long (audio) for more

_EDGE = ".,?!;:…\"“”«»¿¡()–—‘’'"
_UNITS = {"zero", "oh", "nought", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
_WEAK = {"one", "oh", "nought"}  # words too: a digit only after another number ("no one")
_NUMBER_WORDS = _UNITS | {
    "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
    "ninety", "hundred", "thousand", "million", "double", "triple"}
# an e-mail address being said, or a "+" before a number: something must follow
_OPENERS = {"at", "dot", "underscore", "dash", "hyphen", "@", "plus", "+"}
# words that finish an entity a number began ("25" + "dollars", "3:30" + "pm")
_UNITS_AFTER = {"dollars", "dollar", "euros", "euro", "cents", "percent", "am", "pm", "a.m",
                "p.m", "point", "hundred", "thousand", "million", "and"}
_SPELLED = re.compile(r"^[a-z0-9](?:-[a-z0-9])+$")  # "s-m-i-t-h", Whisper's spelling


def _core(w: HypWord) -> str:
    return w.word.strip().strip(_EDGE).lower()


def _numberish(core: str) -> bool:
    """A digit, a number word, or number words joined by hyphens ("twenty-four")."""
    if any(c.isdigit() for c in core) or core in _NUMBER_WORDS:
        return True
    parts = core.split("-")
    return len(parts) > 1 and all(p in _NUMBER_WORDS for p in parts)


def _letter(core: str) -> bool:
    return len(core) == 1 and core.isalnum()


def open_entity(words: list[HypWord]) -> bool:
    """Whether a final's last words may be an entity the speaker has not finished: a digit
    or number (not a lone "one" / "oh"), spelled letters ("A B", "S-M-I-T-H"), or an e-mail
    address or "+" at a word that needs more ("... smith at", "... dot"). A final ending in
    "?" or "!" is finished."""
    if not words:
        return False
    last = words[-1].word.strip()
    if last.endswith(("?", "!")):
        return False
    core = _core(words[-1])
    prev = _core(words[-2]) if len(words) > 1 else ""
    if not core:
        return False
    if core in _OPENERS or core.endswith("@"):
        return True
    if core in _WEAK:
        return _numberish(prev)
    if _numberish(core) or _SPELLED.match(core):
        return True
    return _letter(core) and (_letter(prev) or _numberish(prev))


def goes_on(held: list[HypWord], words: list[HypWord]) -> bool:
    """Whether `words` (the next final) go on with the entity `held` ends in: more digits or
    number words, more spelled letters, what follows "at" / "dot" / "+", or the unit after
    a number ("dollars", "pm")."""
    if not held or not words:
        return False
    last, first = _core(held[-1]), _core(words[0])
    if last in _OPENERS or last.endswith("@"):
        return True
    if not first:
        return False
    if _numberish(first) or first in _OPENERS:
        return True
    if _letter(last) or _SPELLED.match(last):
        return _letter(first) or bool(_SPELLED.match(first))
    return first in _UNITS_AFTER


def merge(a: TranscriptUpdate, b: TranscriptUpdate) -> TranscriptUpdate:
    """One final of `a` and the `b` that went on with its entity. The full stop Whisper wrote
    at the end of `a` (it ended a decode, not a sentence) is dropped, and the capital of a
    number word after it ("0 6 1 2. Three" -> "0 6 1 2 three"), so the numerals read one run."""
    words = list(a.words)
    lead = list(b.words)
    tail = words[-1].word.rstrip()
    if tail.endswith((".", ",")) and not tail.endswith(".."):
        words[-1] = replace(words[-1], word=tail[:-1])
        first = lead[0].word
        if _core(lead[0]) in _NUMBER_WORDS:
            lead[0] = replace(lead[0], word=first.lower())
    return TranscriptUpdate(
        a.channel, words + lead, a.start, b.end, True, speech_final=b.speech_final,
        from_finalize=b.from_finalize, language=b.language)


class EntityHold:
    """One channel's held final (see the module's doc)."""

    def __init__(self, window_s: float = HOLD_S) -> None:
        self.window = window_s
        self.held: TranscriptUpdate | None = None
        self.behind: list[Output] = []  # the channel's messages after the held final, in order
        self.flushing = False  # Finalize / close: nothing more is held until the channel is idle

    def flush(self) -> None:
        self.flushing = True

    def feed(self, items: list[Output], *, on: bool, now: float, speech_from: float | None) -> list[Output]:
        """The channel's outputs as the client should get them. `on`: hold at all (the
        stream's formatting asks for it); `now`: the channel's audio clock; `speech_from`:
        where the channel's speech not yet finalized began (None: there is none)."""
        out: list[Output] = []
        for it in items:
            if isinstance(it, TranscriptUpdate):
                if not it.is_final:
                    out.append(self._interim(it))
                elif it.words:
                    out += self._final(it, on)
                elif self.held is not None and not it.from_finalize:
                    self.behind.append(it)  # the held utterance's speech_final
                else:
                    out += self.release() + [it]
            elif self.held is not None and isinstance(it, UtteranceEnd | RecordUpdate):
                self.behind.append(it)
            else:
                out.append(it)
        return out + self._expire(on, now, speech_from)

    def release(self) -> list[Output]:
        """The held final, as it is, and what waited behind it."""
        if self.held is None:
            return []
        out: list[Output] = [self.held, *self.behind]
        self.held, self.behind = None, []
        return out

    def _interim(self, it: TranscriptUpdate) -> TranscriptUpdate:
        h = self.held
        if h is None:
            return it
        words = merge(h, it).words if goes_on(h.words, it.words) else h.words + it.words
        return replace(it, words=words, start=h.start)

    def _final(self, it: TranscriptUpdate, on: bool) -> list[Output]:
        out: list[Output] = []
        records: list[Output] = []
        h = self.held
        if h is not None:
            if it.start - h.end <= self.window and goes_on(h.words, it.words):
                records = [b for b in self.behind if isinstance(b, RecordUpdate)]
                self.held, self.behind = None, []
                it = merge(h, it)
            else:
                out += self.release()
        if on and not self.flushing and not it.from_finalize and open_entity(it.words):
            self.held, self.behind = it, records
            return out
        return out + [it] + records

    def _expire(self, on: bool, now: float, speech_from: float | None) -> list[Output]:
        h = self.held
        idle = speech_from is None
        if h is None:
            if idle:
                self.flushing = False
            return []
        deadline = h.end + self.window
        in_time = speech_from is not None and speech_from <= deadline  # speech that may go on with it
        if not on or (self.flushing and idle) or (now >= deadline and not in_time):
            if idle:
                self.flushing = False
            return self.release()
        return []
