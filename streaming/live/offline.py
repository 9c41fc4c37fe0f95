"""Synchronous adapter: run a whole recording through a `CallSession`.

The same session logic as the live server, driven frame by frame with each
decode answered at once. Used by tests, by policy experiments
(`benchmarks/policy.py`) and by the CLI when no server is involved.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from streaming.asr.base import DecodeRequest, Recognizer
from streaming.audio.codecs import encode_samples
from streaming.live.session import CallSession, Close, Out, Send


def pcm_frames(audio: np.ndarray, rate: int, encoding: str = "linear16", frame_ms: int = 20) -> Iterator[bytes]:
    """Encode (samples, channels) float audio and cut it into frames of `frame_ms`."""
    x = audio if audio.ndim == 2 else audio[:, None]
    step = max(1, rate * frame_ms // 1000)
    for i in range(0, x.shape[0], step):
        yield encode_samples(x[i : i + step].reshape(-1), encoding)


def run_session(
    session: CallSession, frames: Iterator[bytes] | list[bytes], recognizer: Recognizer
) -> list[dict[str, Any]]:
    """Feed every frame, answer every decode immediately, return the messages sent."""
    sent: list[dict[str, Any]] = []

    def handle(outs: list[Out]) -> None:
        queue = list(outs)
        while queue:
            o = queue.pop(0)
            if isinstance(o, DecodeRequest):
                hyp = recognizer.decode_batch([o])[0]
                queue[:0] = session.on_result(o, hyp)
            elif isinstance(o, Send):
                # audio clock at emission: with instant decodes, the policy's own delay
                sent.append({**o.message, "_emitted_at": session.audio_seconds})
            elif isinstance(o, Close):
                sent.append({"type": "_Close", "code": o.code, "reason": o.reason})

    for f in frames:
        handle(session.receive_audio(f))
    handle(session.close())
    return sent


def final_transcript(messages: list[dict[str, Any]], channel: int | None = None) -> str:
    """Concatenate the final Results of one channel (or all, in order received)."""
    parts = []
    for m in messages:
        if (
            m.get("type") == "Results"
            and m.get("is_final")
            and (channel is None or m["channel_index"][0] == channel)
        ):
            t = m["channel"]["alternatives"][0]["transcript"]
            if t:
                parts.append(t)
    return " ".join(parts)


def record_transcript(messages: list[dict[str, Any]], channel: int | None = None) -> str:
    """Concatenate the `Record` messages of one channel (or all, in order received)."""
    return " ".join(
        t for m in messages
        if m.get("type") == "Record" and (channel is None or m["channel_index"][0] == channel)
        and (t := m["channel"]["alternatives"][0]["transcript"])
    )
