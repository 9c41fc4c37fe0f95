"""The test voices (tests/voices.py) and the call renderer (benchmarks/render_calls.py).

Benchmarks trust these renders for word errors and spelled values, so the checks are on
what a benchmark relies on: 16 kHz speech of a plausible length, a pitched agent that is
really higher (two distinguishable speakers from one voice), the shared file layout with
each side on its own channel, and timing that points at the speech.
"""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest
import soundfile as sf

from streaming.audio.codecs import decode_samples
from tests.conftest import piper
from tests.voices import RATE, alnum_clip, speakable, spelled_clip, spelled_runs

pytest.importorskip("piper", reason="piper-tts is in the [test] extras")
from benchmarks.render_calls import render_call, say_with_human_runs, speech_rms  # noqa: E402

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
    assert "human_spelling" not in timing and not any("pieces" in t for t in turns)  # off by default


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


def runs(text: str, digit_words: bool = True) -> list[tuple[str, tuple[str, ...]]]:
    return [(text[r.start:r.end], r.groups) for r in spelled_runs(text, digit_words)]


def test_spelled_runs_finds_spelled_values_not_words():
    assert runs("Nathan Greaves, G-R-E-A-V-E-S. And it's the twenty-ninth.") == [
        ("G-R-E-A-V-E-S", ("GREAVES",))]
    assert runs("It's G R E A V E S, yeah") == [("G R E A V E S", ("GREAVES",))]
    assert runs("that's g-r-e-a-v-e-s") == [("g-r-e-a-v-e-s", ("GREAVES",))]
    assert runs("Postcode S E 1 5, 4 R J.") == [("S E 1 5, 4 R J", ("SE15", "4RJ"))]
    assert runs("flat 4A please") == [("4A", ("4A",))]
    # no recording says "fifteen": the letters before it are too few, the rest is a run
    assert runs("S E fifteen, four R J.") == [("four R J", ("4RJ",))]
    for text in ("I think a B is fine.", "Can I ask a question?", "Is it A or B?", "Yes, I A-levels",
                 "My passcode is one nine—", "Oh. Right, yeah.", "It's the selfie one, two days.",
                 "twenty-ninth of February, two thousand", "M C Hammer"):
        assert runs(text) == [], text
    it = spelled_runs("Yeah, it's five one nine two, oh three seven four.")
    assert [(r.groups, r.spoken) for r in it] == [
        (("5192", "0374"), "five one nine two, zero three seven four")]
    assert runs("Oh, okay. It ends in two two one eight.") == [("two two one eight", ("2218",))]
    assert runs("Oh, two two one eight") == [("two two one eight", ("2218",))]  # the interjection
    assert runs("Oh seven seven double oh, nine") == [("Oh seven seven double oh, nine", ("07700", "9"))]
    assert runs("H C seven one one, six four oh") == [("H C seven one one, six four oh", ("HC711", "640"))]
    assert runs("five one nine two, G-R-E-A-V-E-S", digit_words=False) == [("G-R-E-A-V-E-S", ("GREAVES",))]


def test_human_runs_are_placed_between_synthetic_pieces_at_its_level():
    text = "It's Greaves, G-R-E-A-V-E-S. And the postcode S E 1 5."
    found = spelled_runs(text)

    def say(t: str) -> np.ndarray:  # a stand-in voice: a tone, 60 ms per character
        return (0.3 * np.sin(np.arange(len(t) * RATE * 6 // 100) * 0.3)).astype(np.float32)

    audio, pieces = say_with_human_runs(text, found, say, random.Random("c1"))
    again, _ = say_with_human_runs(text, found, say, random.Random("c1"))
    assert np.array_equal(audio, again)  # seeded
    assert [(text[a:b], h) for a, b, _, _, h in pieces] == [
        ("It's Greaves,", False), ("G-R-E-A-V-E-S", True), ("And the postcode", False), ("S E 1 5", True)]
    assert pieces[0][2] == 0 and pieces[-1][3] == len(audio)
    for (_, _, _, end, _), (_, _, start, _, _) in zip(pieces, pieces[1:], strict=False):
        assert 0.15 * RATE <= start - end <= 0.35 * RATE + 1
    _, _, s0, s1, _ = pieces[1]
    letters = sum(len(alnum_clip(c)) for c in "greaves")
    assert letters + 6 * 0.2 * RATE - 6 <= s1 - s0 <= letters + 6 * 0.3 * RATE + 6
    human = audio[s0:s1]
    assert speech_rms(human) == pytest.approx(speech_rms(say("x")), rel=0.01)  # level-matched
    g = alnum_clip("g")
    assert np.corrcoef(human[: len(g)], g)[0, 1] > 0.999  # the recording itself, not resampled


def test_render_call_with_human_spelling_times_the_whole_turn(tmp_path):
    call = {"call_id": "t_en_02", "language": "en", "turns": [
        {"speaker": "agent", "text": "And the surname, please?"},
        {"speaker": "customer", "text": "It's Greaves, G-R-E-A-V-E-S."},
    ]}
    doc = render_call(call, tmp_path, "piper", human_spelling=True)
    timing = json.loads((tmp_path / "t_en_02.timing.json").read_text(encoding="utf-8"))
    assert timing == json.loads(json.dumps(doc)) and timing["human_spelling"] is True
    agent, cust = timing["turns"]
    assert "human_runs" not in agent and "pieces" not in agent
    assert cust["human_runs"] == ["GREAVES"] and cust["spoken"] == "It's Greaves, G R E A V E S."
    assert cust["text"] == call["turns"][1]["text"]  # the label stays what the script says
    synth, spelled = cust["pieces"]
    assert (synth["chars"], synth["human"], spelled["chars"], spelled["human"]) == ([0, 13], False, [14, 27], True)
    assert cust["start"] == synth["start"] < synth["end"] < spelled["start"] < spelled["end"] == cust["end"]
    letters = sum(len(alnum_clip(c)) for c in "greaves") / RATE
    assert letters + 1.2 - 0.01 <= spelled["end"] - spelled["start"] <= letters + 1.8 + 0.01
    stereo, _ = sf.read(tmp_path / "t_en_02.stereo16k.flac", dtype="float32")
    assert len(stereo) == round(timing["duration_s"] * RATE)
    right = stereo[:, 1]
    assert not right[: int(cust["start"] * RATE) - RATE // 20].any()
    assert not right[int(cust["end"] * RATE) + RATE // 20:].any()
    said = right[int(synth["start"] * RATE):int(synth["end"] * RATE)]
    human = right[int(spelled["start"] * RATE):int(spelled["end"] * RATE)]
    assert 0.6 < speech_rms(human) / speech_rms(said) < 1.6  # level-matched (16-bit, 10 ms frames)
    g = alnum_clip("g")
    at = int(round(spelled["start"] * RATE))
    best = max(np.corrcoef(right[at + d:at + d + len(g)], g)[0, 1] for d in range(-16, 17))
    assert best > 0.99  # the human recording, where timing.json says it is
