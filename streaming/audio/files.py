"""Read recordings from disk: WAV, FLAC, OGG, MP3 and headerless G.711.

soundfile (libsndfile) reads the container formats, MP3 included. Raw telephony
dumps have no header, so their format comes from the extension (`.ulaw`,
`.mulaw`, `.alaw`: 8 kHz mono by default; `.raw` is read as µ-law, the common
case for call recorders) or from explicit arguments.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from streaming.audio.codecs import BYTES_PER_SAMPLE, decode_samples

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


class AudioStream:
    """A recording read block by block, never whole: for uploads of any length.

    Containers (WAV, FLAC, OGG, MP3...) are decoded by soundfile, which finds the
    format from the header (no file extension needed), and come out as float32
    interleaved bytes; headerless audio (`raw_encoding`: linear16, mulaw, alaw,
    float32) comes out as the bytes it is, so a session decodes it exactly as it
    decodes a live stream. `frames` is known before any audio is decoded, so a
    caller can refuse an over-long recording first.
    """

    def __init__(self, path: str | Path, *, raw_encoding: str | None = None, raw_rate: int = 8000,
                 raw_channels: int = 1) -> None:
        self.path = Path(path)
        self.raw_encoding = raw_encoding
        if raw_encoding is not None:
            width = BYTES_PER_SAMPLE.get(raw_encoding)
            if width is None:
                raise AudioFileError(f"unsupported encoding {raw_encoding!r}")
            self.encoding, self.rate, self.channels = raw_encoding, raw_rate, raw_channels
            self.frames = self.path.stat().st_size // (width * raw_channels)
            self._sf = None
            return
        try:
            self._sf = sf.SoundFile(str(self.path))
        except (sf.LibsndfileError, RuntimeError) as e:
            why = str(e).replace(f"'{self.path}'", "the file").replace(str(self.path), "the file")
            raise AudioFileError(f"not audio soundfile can read (WAV, FLAC, OGG, MP3...): {why}") from None
        self.encoding, self.rate, self.channels = "float32", int(self._sf.samplerate), int(self._sf.channels)
        self.frames = int(self._sf.frames)

    @property
    def duration(self) -> float:
        return self.frames / self.rate if self.rate else 0.0

    def blocks(self, seconds: float = 0.5) -> Iterator[bytes]:
        """Interleaved sample frames in `self.encoding`, `seconds` at a time."""
        n = max(1, int(self.rate * seconds))
        if self._sf is None:
            step = n * BYTES_PER_SAMPLE[self.encoding] * self.channels
            with self.path.open("rb") as f:
                while chunk := f.read(step):
                    yield chunk[: len(chunk) - len(chunk) % (step // n)]
            return
        try:
            for x in self._sf.blocks(blocksize=n, dtype="float32", always_2d=True):
                yield np.ascontiguousarray(x, dtype="<f4").tobytes()
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioFileError(f"cannot decode the audio: {e}") from None

    def close(self) -> None:
        if self._sf is not None:
            self._sf.close()
