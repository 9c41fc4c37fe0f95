"""Read recordings from disk: WAV, FLAC, OGG, MP3 and headerless G.711.

soundfile (libsndfile) reads the container formats, MP3 included. Raw telephony
dumps have no header, so their format comes from the extension (`.ulaw`,
`.mulaw`, `.alaw`: 8 kHz mono by default; `.raw` is read as µ-law, the common
case for call recorders) or from explicit arguments.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from streaming.audio.codecs import decode_samples

RAW_ENCODINGS = {".ulaw": "mulaw", ".mulaw": "mulaw", ".mu": "mulaw", ".raw": "mulaw", ".alaw": "alaw"}
AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"} | set(RAW_ENCODINGS)


class AudioFileError(ValueError):
    pass


def load_audio(
    path: str | Path,
    *,
    raw_encoding: str | None = None,
    raw_rate: int = 8000,
    raw_channels: int = 1,
) -> tuple[np.ndarray, int]:
    """Return (samples x channels float32 in [-1, 1], sample rate)."""
    p = Path(path)
    enc = raw_encoding or RAW_ENCODINGS.get(p.suffix.lower())
    if enc is not None:
        data = p.read_bytes()
        x = decode_samples(data[: len(data) - len(data) % raw_channels], enc)
        return x.reshape(-1, raw_channels), raw_rate
    try:
        x, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioFileError(f"cannot read {p.name}: {e}") from None
    return np.ascontiguousarray(x), int(rate)
