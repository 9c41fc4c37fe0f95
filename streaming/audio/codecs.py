"""Audio bytes in, 16 kHz float32 channels out.

Softphones send linear16, G.711 (mu-law, A-law) or float32 at any telephony or
wideband rate. Whisper wants 16 kHz mono float32, so every channel is decoded
and resampled here with soxr (a real polyphase resampler: dropping or repeating
samples would alias telephone audio badly). `StreamDecoder` keeps the resampler
state between websocket frames so frame boundaries leave no clicks.
"""

from __future__ import annotations

import numpy as np
import soxr

TARGET_RATE = 16000


def _mulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.float32) / 32768.0


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.float32) / 32768.0


MULAW = _mulaw_table()
ALAW = _alaw_table()
BYTES_PER_SAMPLE = {"linear16": 2, "mulaw": 1, "alaw": 1, "float32": 4}


class AudioFormatError(ValueError):
    """Bytes that cannot be audio in the declared format."""


def decode_samples(data: bytes, encoding: str) -> np.ndarray:
    """Decode interleaved bytes to float32 samples in [-1, 1]."""
    if encoding == "linear16":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if encoding == "mulaw":
        return MULAW[np.frombuffer(data, dtype=np.uint8)]
    if encoding == "alaw":
        return ALAW[np.frombuffer(data, dtype=np.uint8)]
    if encoding == "float32":
        x = np.frombuffer(data, dtype="<f4")
        if not np.all(np.isfinite(x)):
            raise AudioFormatError("float32 audio contains NaN or infinity")
        if x.size and float(np.max(np.abs(x))) > 64.0:
            raise AudioFormatError(
                "float32 samples far outside [-1, 1]: is this really float32 audio?"
            )
        return np.clip(x, -1.0, 1.0)
    raise AudioFormatError(f"unsupported encoding {encoding!r}")


def encode_samples(x: np.ndarray, encoding: str) -> bytes:
    """Encode float32 samples: the inverse of `decode_samples`, for clients and tests."""
    x = np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0)
    if encoding == "linear16":
        return (x * 32767.0).round().astype("<i2").tobytes()
    if encoding == "float32":
        return x.astype("<f4").tobytes()
    table = MULAW if encoding == "mulaw" else ALAW if encoding == "alaw" else None
    if table is None:
        raise AudioFormatError(f"unsupported encoding {encoding!r}")
    # Nearest code by value: the tables are small, so a sorted search is exact and fast.
    order = np.argsort(table)
    sorted_vals = table[order]
    idx = np.clip(np.searchsorted(sorted_vals, x), 1, 255)
    left, right = sorted_vals[idx - 1], sorted_vals[idx]
    idx = np.where(np.abs(x - left) <= np.abs(right - x), idx - 1, idx)
    return order[idx].astype(np.uint8).tobytes()


class StreamDecoder:
    """Stateful decoder for one connection: bytes -> per-channel 16 kHz float32.

    `separate` keeps channels apart (stereo calls: agent and customer); otherwise
    channels are mixed to mono before resampling.
    """

    def __init__(self, encoding: str, sample_rate: int, channels: int, separate: bool) -> None:
        if encoding not in BYTES_PER_SAMPLE:
            raise AudioFormatError(f"unsupported encoding {encoding!r}")
        self.encoding = encoding
        self.sample_rate = sample_rate
        self.channels = channels
        self.separate = separate and channels > 1
        self.frame_bytes = BYTES_PER_SAMPLE[encoding] * channels
        out_channels = channels if self.separate else 1
        self._resampler = (
            soxr.ResampleStream(sample_rate, TARGET_RATE, out_channels, dtype="float32", quality="HQ")
            if sample_rate != TARGET_RATE
            else None
        )
        self.input_frames = 0  # sample frames received (per channel)

    @property
    def output_channels(self) -> int:
        return self.channels if self.separate else 1

    def decode(self, data: bytes, last: bool = False) -> list[np.ndarray]:
        """Decode one websocket frame; returns one array per output channel."""
        if len(data) % self.frame_bytes:
            raise AudioFormatError(
                f"frame of {len(data)} bytes is not a whole number of {self.encoding} sample "
                f"frames ({self.frame_bytes} bytes each for {self.channels} channel(s)); "
                "check the encoding and channels parameters"
            )
        x = decode_samples(data, self.encoding).reshape(-1, self.channels)
        self.input_frames += x.shape[0]
        if not self.separate and self.channels > 1:
            x = x.mean(axis=1, keepdims=True)
        if self._resampler is not None:
            x = self._resampler.resample_chunk(np.ascontiguousarray(x), last=last)
        return [np.ascontiguousarray(x[:, c]) for c in range(x.shape[1])]

    def flush(self) -> list[np.ndarray]:
        """Drain the resampler's delay line at end of stream."""
        if self._resampler is None:
            return [np.zeros(0, np.float32) for _ in range(self.output_channels)]
        x = self._resampler.resample_chunk(
            np.zeros((0, self.output_channels), np.float32), last=True
        )
        return [np.ascontiguousarray(x[:, c]) for c in range(x.shape[1])]


def resample(x: np.ndarray, rate: int, target: int = TARGET_RATE) -> np.ndarray:
    """One-shot resampling of a whole signal (files, tests)."""
    if rate == target:
        return np.asarray(x, dtype=np.float32)
    return soxr.resample(np.asarray(x, dtype=np.float32), rate, target, quality="HQ")
