"""Deepgram's JavaScript SDK (@deepgram/sdk, run with node) against a real Souffleur:
pre-recorded `transcribeFile` and a live `listen.v1.connect` stream.

scripts/test.sh installs the SDK (`npm ci --prefix tests/node`, pinned in
tests/node/package-lock.json); without node or the SDK the test skips and says why.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import numpy as np
import pytest

from streaming.asr.textnorm import wer
from streaming.audio.codecs import encode_samples, resample
from tests.conftest import AUDIO, ROOT, clip
from tests.streaming.test_prerecorded import as_accurate_as_offline, offline  # noqa: F401  (fixture)

NODE_DIR = ROOT / "tests" / "node"
LJ1 = "ljspeech/LJ001-0001.flac"


def test_deepgram_js_sdk_prerecorded_and_live(server, offline, tmp_path):  # noqa: F811
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@deepgram" / "sdk").is_dir():
        pytest.skip("needs node and @deepgram/sdk: npm ci --prefix tests/node (scripts/test.sh does it)")
    audio, rate, said = clip(LJ1)
    pcm = tmp_path / "lj.raw"  # 16 kHz linear16, a second of silence after the speech
    pcm.write_bytes(encode_samples(np.concatenate([resample(audio[:, 0], rate), np.zeros(16000)]), "linear16"))
    p = subprocess.run([node, "deepgram_sdk.mjs", f"127.0.0.1:{server.server.port}", str(AUDIO / LJ1),
                        str(pcm), "unused-key"], cwd=NODE_DIR, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])

    pre = out["prerecorded"]
    assert pre["metadata"]["sha256"] == hashlib.sha256((AUDIO / LJ1).read_bytes()).hexdigest()
    offline_text = offline(audio[:, 0], rate)
    as_accurate_as_offline(said, pre["results"]["channels"][0]["alternatives"][0]["transcript"], offline_text)
    assert pre["results"]["utterances"] and pre["results"]["utterances"][0]["words"]

    live = out["live"]
    types = [m.get("type") for m in live]
    assert "Error" not in types and "SocketError" not in types and types[-1] == "Metadata", types
    finals = " ".join(m["channel"]["alternatives"][0]["transcript"] for m in live
                      if m.get("type") == "Results" and m["is_final"])
    # live words are committed early, before the utterance ends: allowed a little more error
    assert wer(said, finals) <= wer(said, offline_text) + 0.15, finals
    assert any(m.get("type") == "Results" and not m["is_final"] for m in live)  # interim results came
