"""Deepgram's Python SDK (deepgram-sdk 7) live client, `listen.v1.connect`, against a real
Souffleur: the messages parse into the SDK's typed models and the finals hold the words.
(Its pre-recorded client is tested in test_prerecorded.py.)"""

from __future__ import annotations

import threading
import time

import numpy as np

from streaming.asr.textnorm import wer
from streaming.audio.codecs import encode_samples, resample
from tests.conftest import clip
from tests.streaming.test_prerecorded import deepgram, offline  # noqa: F401  (fixture)

LJ1 = "ljspeech/LJ001-0001.flac"


def test_python_sdk_live_stream(server, offline):  # noqa: F811
    from deepgram.listen.v1.types import ListenV1Metadata, ListenV1Results

    audio, rate, said = clip(LJ1)
    pcm = encode_samples(np.concatenate([resample(audio[:, 0], rate), np.zeros(16000)]), "linear16")
    messages: list = []
    with deepgram(server).listen.v1.connect(model="nova-3", encoding="linear16", sample_rate=16000,
                                            channels=1, interim_results=True) as socket:
        def send() -> None:
            for i in range(0, len(pcm), 3200):  # 100 ms frames, faster than real time
                socket.send_media(pcm[i:i + 3200])
                time.sleep(0.005)
            socket.send_close_stream()

        sender = threading.Thread(target=send)
        sender.start()
        for m in socket:
            messages.append(m)
        sender.join(10)
    results = [m for m in messages if isinstance(m, ListenV1Results)]
    assert results and isinstance(messages[-1], ListenV1Metadata), [type(m).__name__ for m in messages]
    assert any(not r.is_final for r in results)  # interims came, typed
    finals = " ".join(r.channel.alternatives[0].transcript for r in results if r.is_final)
    assert wer(said, finals) <= wer(said, offline(audio[:, 0], rate)) + 0.15, finals
    words = [w for r in results if r.is_final for w in r.channel.alternatives[0].words]
    assert words and all(w.start <= w.end for w in words)
    # a parameter the server does not act on (model=nova-3: its own model transcribes) is
    # listed in Metadata, which the SDK keeps as an extra field of its typed model
    assert "model" in [w["parameter"] for w in messages[-1].warnings]
