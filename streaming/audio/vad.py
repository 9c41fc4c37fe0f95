"""Frame-level speech detection with webrtcvad.

webrtcvad classifies fixed 10/20/30 ms frames of 16-bit PCM. `FrameVad` accepts
audio in any block size, keeps the remainder between calls, and returns one
(is_speech, rms) pair per completed frame. Deciding when speech starts and ends
is the segmenter's job, not this module's.
"""

from __future__ import annotations

import numpy as np
import webrtcvad

RATE = 16000


class FrameVad:
    def __init__(self, mode: int = 3, frame_ms: int = 30, energy_floor: float = 3e-4) -> None:
        if frame_ms not in (10, 20, 30):
            raise ValueError("webrtcvad frames are 10, 20 or 30 ms")
        self._vad = webrtcvad.Vad(mode)
        self.frame = RATE * frame_ms // 1000
        self._rest = np.zeros(0, np.float32)
        # Digital silence and near-silence are never speech, whatever webrtcvad says
        # about dither; this also makes silent channels of a stereo call free.
        self.energy_floor = energy_floor

    def push(self, audio: np.ndarray) -> list[tuple[bool, float]]:
        x = np.concatenate([self._rest, audio]) if self._rest.size else audio
        n = x.size // self.frame
        self._rest = x[n * self.frame :].copy()
        if n == 0:
            return []
        frames = x[: n * self.frame].reshape(n, self.frame)
        rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
        pcm = (np.clip(frames, -1.0, 1.0) * 32767.0).astype("<i2")
        out = []
        for i in range(n):
            speech = rms[i] >= self.energy_floor and self._vad.is_speech(pcm[i].tobytes(), RATE)
            out.append((bool(speech), float(rms[i])))
        return out
