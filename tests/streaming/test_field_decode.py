"""Field-aware decoding through a live call: the caller's value is decoded again on the
shared scheduler (streaming/service/live_call.py `redecode`), the assistant chooses among
the n best, and the desktop's feed gets the value as filled or as "please check"."""

from __future__ import annotations

import time

import numpy as np
import pytest

from streaming.asr.base import DecodeRequest, ScriptedRecognizer
from streaming.client import audio_frames, listen_url, stream_frames
from tests.conftest import LiveFeed, clip, piper, run

AGENT = "Can I have your customer number, please?"


def _words(text: str, r: DecodeRequest) -> list[tuple[str, float, float]]:
    ws = text.split()
    step = max(0.05, r.duration * 0.8 / len(ws))
    return [(" " + w, 0.1 + k * step, 0.1 + (k + 1) * step) for k, w in enumerate(ws)]


def _stereo_call(rate: int) -> np.ndarray:
    """Speech on the agent's channel, then on the caller's (the other side silent)."""
    x, r, _ = clip("ljspeech/LJ001-0008.flac")
    assert r == rate
    x = x[:, 0] if x.ndim == 2 else x
    gap = np.zeros(rate * 2, np.float32)
    left = np.concatenate([x, gap, np.zeros_like(x), gap])
    right = np.concatenate([np.zeros_like(x), gap, x, gap])
    return np.stack([left, right], axis=1)


def _feed(server_factory, customer: str, nbest: list[tuple[str, float]], agent: str = AGENT,
          **opts) -> tuple[list[dict], list]:
    asked: list[DecodeRequest] = []

    def script(r: DecodeRequest):
        if r.num_hypotheses > 1:
            asked.append(r)
        return _words(agent if r.key.split("/")[1] == "0" else customer, r)

    srv = server_factory(recognizer_=ScriptedRecognizer(script, nbest=lambda r: nbest), **opts)
    _, rate, _ = clip("ljspeech/LJ001-0008.flac")
    audio = _stereo_call(rate)
    call_id = "field-decode"

    async def go():
        url = listen_url(srv.url, encoding="linear16", sample_rate=rate, channels=2, multichannel=True,
                         call_id=call_id)
        return await stream_frames(url, audio_frames(audio, rate, frame_ms=100), realtime=False)

    feed = LiveFeed(srv, call_id)  # the desktop's view: values as said (the kept log is redacted)
    res = run(go())
    assert res.close_code == 1000, res.close_code
    seen: list[dict] = []
    for _ in range(100):  # the assistant finishes (field decodes, summary) after the socket closes
        seen = feed.read()
        if any(e.get("type") == "CallEnded" for e in seen):
            break
        time.sleep(0.1)
    return [e for e in seen if e.get("type") == "FormValue"], asked


def test_a_value_the_hypotheses_doubt_reaches_the_desktop_as_check(server_factory):
    values, asked = _feed(server_factory, "It's 4712 8839.",
                          [("It's 4712 8838.", -1.0), ("It's 4712 8839.", -1.1)])
    assert asked, "the caller's answer was not decoded again"
    assert all(r.kind == "record" and r.key.endswith("/1/field") for r in asked)  # the caller's channel
    assert any(r.prompt_text for r in asked) and any(r.prompt_tokens or not r.prompt_text for r in asked)
    last = [v for v in values if v["field"] == "customer_number"][-1]
    assert last["value"] == "47128839" and last["display"] == "check"
    assert last["alternatives"] == ["47128838"] and last["evidence"]


def test_a_misheard_checksum_is_filled_from_the_valid_hypothesis(server_factory):
    wrong = "It's N L nine one A B N A zero four one seven one six four three zero one."
    values, _ = _feed(server_factory, wrong,
                      [("It's NL91 ABNA 0417 1643 01.", -2.0), ("It's NL91 ABNA 0417 1643 00.", -2.5)],
                      agent="And the IBAN for the direct debit?")
    ibans = [v for v in values if v["field"] == "iban"]
    assert ibans and ibans[-1]["value"] == "NL91ABNA0417164300" and ibans[-1]["display"] == "filled"
    assert not any(v["value"] == "NL91ABNA0417164301" for v in ibans)  # never shown


def test_field_decode_off_asks_nothing(server_factory):
    values, asked = _feed(server_factory, "It's 4712 8839.", [("It's 4712 8838.", -1.0)],
                          field_decode="off")
    assert not asked
    last = [v for v in values if v["field"] == "customer_number"][-1]
    assert last["value"] == "47128839" and last["alternatives"] == []
    assert last["display"] == "check"  # still one hearing of a value without a checksum


@pytest.mark.parametrize("prompt", ["", "My customer number is 5031 2764."])
def test_the_real_model_returns_n_best_with_and_without_a_field_prompt(recognizer, prompt):
    """The n best of a neural-voice caller saying digits: distinct texts, best first by score,
    with whole-sequence log-probabilities (what `posteriors` turns into support)."""
    audio = piper("Yes, it's four seven one two, eight eight three nine.")[0][:, 0]
    req = DecodeRequest(key="t/1/field", kind="record", audio=audio, offset=0.0, seq=1,
                        language="en", prompt_text=prompt, num_hypotheses=5)
    (h,) = recognizer.decode_batch([req])
    assert len(h.alternatives) == 5 and len({t for t, _ in h.alternatives}) >= 2
    assert all(lp < 0 for _, lp in h.alternatives)
    digits = ["".join(c for c in t if c.isdigit()) for t, _ in h.alternatives]
    assert "47128839" in digits  # the right reading is among them
    plain = DecodeRequest(key="t/1", kind="record", audio=audio, offset=0.0, seq=2, language="en")
    assert recognizer.decode_batch([plain])[0].alternatives == []  # a record keeps one hypothesis
