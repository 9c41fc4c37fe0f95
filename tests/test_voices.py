"""The test voices (tests/voices.py) and the call renderer (benchmarks/render_calls.py).

Benchmarks trust these renders for word errors and spelled values, so the checks are on
what a benchmark relies on: 16 kHz speech of a plausible length, a pitched agent that is
really higher (two distinguishable speakers from one voice), the shared file layout with
each side on its own channel, and timing that points at the speech.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from streaming.audio.codecs import decode_samples
from tests.conftest import piper
from tests.voices import RATE, alnum_clip, speakable, spelled_clip

pytest.importorskip("piper", reason="piper-tts is in the [test] extras")
from benchmarks.render_calls import render_call  # noqa: E402  (after the skip: it needs piper)

SENTENCE = "Thanks for calling, can I take your customer number and your date of birth, please?"


def f0(x: np.ndarray, rate: int = RATE) -> float:
    """Median fundamental of the voiced 40 ms frames, by autocorrelation (60-400 Hz)."""
    n = int(0.04 * rate)
    frames = [x[i:i + n] for i in range(0, len(x) - n, n // 2)]
    loud = max(float(np.sqrt(np.mean(f ** 2))) for f in frames)
    lo, hi = rate // 400, rate // 60
    pitches = []
    for f in frames:
        if np.sqrt(np.mean(f ** 2)) < 0.2 * loud:
            continue
        f = f - f.mean()
        ac = np.correlate(f, f, "full")[n - 1:]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.4 * ac[0]:  # clearly periodic: voiced
            pitches.append(rate / lag)
    assert len(pitches) > 10
    return float(np.median(pitches))


def test_piper_speech_is_16k_speech_and_pitch_moves_f0_not_length():
    x, rate = piper(SENTENCE)
    high, _ = piper(SENTENCE, pitch=1.18)
    assert rate == RATE and x.dtype == np.float32 and x.shape[1] == 1
    x, high = x[:, 0], high[:, 0]
    assert 3.0 < len(x) / RATE < 8.0, len(x) / RATE  # ~15 words at a talking pace
    assert 0.5 < np.abs(x).max() <= 1.0
    assert abs(len(high) / len(x) - 1) < 0.15
    base, up = f0(x), f0(high)
    assert 70 < base < 200, base
    assert up > base * 1.08, (base, up)


def test_speakable_separates_spelled_letters_and_drops_cut_off_dashes():
    assert speakable("It's E-L-L-I-S-O-N.") == "It's E, L, L, I, S, O, N."
    assert speakable("My passcode is one nine—") == "My passcode is one nine"
    assert speakable("so, um... I think — yes") == "so, um, I think, yes"
    assert speakable("N L five six, R A B O") == "N L five six, R ay B O"
    assert speakable("A lot of people") == "A lot of people"


def channel_rms(x: np.ndarray, start: float, end: float) -> float:
    seg = x[int(start * RATE):int(end * RATE)]
    return float(np.sqrt(np.mean(seg.astype(np.float64) ** 2)))


def test_render_call_writes_the_shared_layout(tmp_path):
    call = {"call_id": "t_en_01", "language": "en", "turns": [
        {"speaker": "agent", "text": "Harbour Bank, this is Sam. How can I help?"},
        {"speaker": "customer", "text": "Hi, um, my card was declined at the shop."},
        {"speaker": "agent", "text": "Sorry about that. Bear with me."},
    ]}
    doc = render_call(call, tmp_path, "piper")
    info = sf.info(tmp_path / "t_en_01.stereo16k.flac")
    assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 2, "PCM_16", "FLAC")
    stereo, _ = sf.read(tmp_path / "t_en_01.stereo16k.flac", dtype="float32")
    assert len(stereo) == round(doc["duration_s"] * RATE)
    mulaw = (tmp_path / "t_en_01.mulaw8k.raw").read_bytes()
    assert len(mulaw) == round(doc["duration_s"] * 8000)

    timing = json.loads((tmp_path / "t_en_01.timing.json").read_text(encoding="utf-8"))
    assert timing == json.loads(json.dumps(doc))
    assert timing["tts"] == "piper joe-us-medium" and timing["channels"] == {"L": "agent", "R": "customer"}
    assert timing["files"] == {"stereo16k": "t_en_01.stereo16k.flac", "mulaw8k": "t_en_01.mulaw8k.raw"}
    turns = timing["turns"]
    assert [(t["index"], t["speaker"], t["channel"]) for t in turns] == [
        (0, "agent", "L"), (1, "customer", "R"), (2, "agent", "L")]
    assert turns[0]["start"] >= 0.5 and turns[-1]["end"] <= timing["duration_s"] - 0.5
    for a, b in zip(turns, turns[1:], strict=False):
        assert a["start"] < a["end"] < b["start"]  # never overlapping
    for t in turns:
        on, off = (0, 1) if t["channel"] == "L" else (1, 0)
        assert channel_rms(stereo[:, on], t["start"], t["end"]) > 0.02
        assert channel_rms(stereo[:, off], t["start"], t["end"]) == 0.0  # digital silence
        mixed = decode_samples(mulaw, "mulaw")[int(t["start"] * 8000):int(t["end"] * 8000)]
        assert np.sqrt(np.mean(mixed ** 2)) > 0.01
    silent = stereo[: int(turns[0]["start"] * RATE) - RATE // 20]  # the lead-in, before the 30 ms pad
    assert not silent.any()
    # the agent is pitched up, the customer is not: two speakers from one voice
    assert timing["voices"]["agent"]["pitch"] > 1.1 and timing["voices"]["customer"]["pitch"] == 1.0


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_dutch_calls_fall_back_to_espeak_and_say_so(tmp_path):
    call = {"call_id": "t_nl_01", "language": "nl", "turns": [
        {"speaker": "agent", "text": "Goedemorgen, u spreekt met Sanne."},
        {"speaker": "customer", "text": "Ja, hallo, ik wil mijn adres wijzigen."},
    ]}
    doc = render_call(call, tmp_path, "piper")
    assert doc["tts"] == "espeak-ng" and "English-only" in doc["tts_note"]
    assert all(v["voice"].startswith("nl+") for v in doc["voices"].values())
    assert len((tmp_path / "t_nl_01.mulaw8k.raw").read_bytes()) == round(doc["duration_s"] * 8000)


def test_spelled_clip_joins_trimmed_human_clips():
    a, seven = alnum_clip("a"), alnum_clip("7")
    for c in (a, seven):
        assert 0.2 * RATE < len(c) < RATE  # trimmed from the 1 s recordings
    x = spelled_clip("a7")
    assert x.dtype == np.float32
    assert len(x) == len(a) + len(seven) + int(0.25 * RATE)
    assert np.array_equal(x[: len(a)], a) and np.array_equal(x[-len(seven):], seven)
    assert len(spelled_clip("A-7", gap_s=0.5)) == len(a) + len(seven) + RATE // 2
    with pytest.raises(ValueError):
        spelled_clip("a!")
