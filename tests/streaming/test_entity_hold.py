"""Deepgram's mid-stream `Configure` and smart format's wait for an unfinished entity
(issue 14, "Deepgram drop-in"): sans-I/O, a `CallSession` fed espeak speech in 20 ms
frames with a scripted recogniser answering every decode at once, and `EntityHold` alone.

What the softphone gets is each `Send`'s message written with the `text_format` it carries
(`LiveCall` does the same after redaction).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from streaming.asr.base import DecodeRequest, HypWord, ScriptedRecognizer
from streaming.audio.codecs import resample
from streaming.live.channel import RecordUpdate, TranscriptUpdate, UtteranceEnd
from streaming.live.entity_hold import EntityHold, goes_on, open_entity
from streaming.live.offline import pcm_frames
from streaming.live.protocol import ControlError, parse_control
from streaming.live.session import CallSession, Close, Send
from streaming.options import SegmenterOptions, parse_stream_query
from tests.conftest import espeak

RATE = 16000
NUMBER_A = "my number is 0 6 1 2.".split()
NUMBER_B = "3 4 5 6 7 8.".split()
_speech_cache: dict[str, np.ndarray] = {}


def speech(text: str) -> np.ndarray:
    if text not in _speech_cache:
        x, rate = espeak(text, speed=160)
        y = resample(x[:, 0], rate)
        _speech_cache[text] = y[: np.nonzero(np.abs(y) > 0.01)[0][-1]]  # espeak's trailing silence off
    return _speech_cache[text]


def layout(*parts: tuple[str, list[str]] | float) -> tuple[np.ndarray, list[tuple[float, float, list[str]]]]:
    """Audio of silences (seconds) and (espeak text, the words the recogniser writes for
    it), and where each spoken part lies."""
    pieces, segments, t = [], [], 0.0
    for p in parts:
        if isinstance(p, float | int):
            pieces.append(np.zeros(int(p * RATE), np.float32))
            t += float(p)
        else:
            said, words = p
            x = speech(said)
            pieces.append(x)
            segments.append((t, t + len(x) / RATE, words))
            t += len(x) / RATE
    return np.concatenate(pieces).astype(np.float32), segments


def recogniser(segments: list[tuple[float, float, list[str]]]) -> ScriptedRecognizer:
    """Each segment's words evenly over it; a decode gets those inside its audio."""
    def script(r: DecodeRequest):
        out = []
        for a, b, words in segments:
            per = (b - a) / len(words)
            for i, w in enumerate(words):
                s = a + i * per
                if s >= r.offset - 0.01 and s + per / 2 <= r.offset + r.duration:
                    out.append((" " + w, s - r.offset, s + per * 0.9 - r.offset))
        return out
    return ScriptedRecognizer(script)


def answered(session: CallSession, rec: ScriptedRecognizer, outs) -> Iterator:
    """The session's outputs with every decode request answered at once by `rec`, in order
    (what a request's answer produces comes before what followed the request)."""
    queue = list(outs)
    while queue:
        o = queue.pop(0)
        if isinstance(o, DecodeRequest):
            queue[:0] = session.on_result(o, rec.decode_batch([o])[0])
        else:
            yield o


def drive(session: CallSession, audio: np.ndarray, rec: ScriptedRecognizer,
          texts: dict[float, str] | None = None) -> list[dict]:
    """What the softphone gets, in order, each with `_at` (the audio clock when sent);
    `texts`: control messages sent when the audio reaches those seconds."""
    got: list[dict] = []
    pending = sorted((texts or {}).items())

    def handle(outs):
        for o in answered(session, rec, outs):
            if isinstance(o, Send):
                msg = o.text_format.message(o.message) if o.text_format else o.message
                raw = text(o.message) if o.message["type"] == "Results" else None
                got.append({**msg, "_at": session.audio_seconds, "_raw": raw})
            elif isinstance(o, Close):
                got.append({"type": "_Close", "code": o.code, "_at": session.audio_seconds})

    for f in pcm_frames(audio, RATE):
        while pending and pending[0][0] <= session.audio_seconds:
            handle(session.receive_text(pending.pop(0)[1]))
        handle(session.receive_audio(f))
    handle(session.close())
    return got


def session(query: str = "") -> CallSession:
    # chunks decoded once at each pause (no early commits): the finals fall where the
    # pauses are, so what the hold does is all that changes their number
    return CallSession(parse_stream_query(f"sample_rate={RATE}&utterance_end_ms=1000&{query}"),
                       SegmenterOptions(early_commit=False))


def finals(msgs: list[dict]) -> list[dict]:
    return [m for m in msgs if m["type"] == "Results" and m["is_final"] and m["channel"]["alternatives"][0]["words"]]


def text(m: dict) -> str:
    return m["channel"]["alternatives"][0]["transcript"]


def dictated(gap: float) -> tuple[np.ndarray, list]:
    return layout(0.5, ("my number is zero six one two", NUMBER_A), gap,
                  ("three four five six seven eight", NUMBER_B), 2.0)


# -- smart format waits for the rest of an entity -------------------------------
def test_a_number_split_by_a_pause_comes_whole_in_one_final():
    audio, segs = dictated(1.5)
    msgs = drive(session("smart_format=true"), audio, recogniser(segs))
    (f,) = finals(msgs)
    assert text(f) == "my number is 0612345678."
    words = f["channel"]["alternatives"][0]["words"]
    assert [w["punctuated_word"] for w in words] == ["my", "number", "is", "0612345678."]
    # start/duration cover both pieces; one segment id
    assert f["start"] == pytest.approx(words[0]["start"], abs=1e-3)
    assert f["start"] + f["duration"] == pytest.approx(words[-1]["end"], abs=2e-3)
    assert words[-1]["start"] < segs[1][0] < words[-1]["end"]
    assert f["segment_id"] == "0-1"
    # the utterance ends once, after its words: one speech_final, one UtteranceEnd at the
    # last word (not one for the first piece in the middle of the number)
    results = [m for m in msgs if m["type"] == "Results" and m["is_final"]]
    assert [m["speech_final"] for m in results].count(True) == 1
    assert results[-1]["speech_final"] or results[-1] is f
    ends = [m for m in msgs if m["type"] == "UtteranceEnd"]
    assert [e["last_word_end"] for e in ends] == [pytest.approx(words[-1]["end"], abs=2e-3)]
    assert msgs.index(ends[0]) > msgs.index(f)
    assert msgs[-2]["type"] == "Metadata" and msgs[-2]["finals"] == 1


def test_numerals_alone_also_wait_and_the_feed_gets_the_merged_words_unformatted():
    audio, segs = dictated(1.5)
    msgs = drive(session("numerals=true"), audio, recogniser(segs))
    (f,) = finals(msgs)
    assert text(f) == "my number is 0612345678."
    # the call's feed (desktops, assistant) gets the one final too, as the model wrote it
    # (Whisper's full stop after the first piece dropped: it ended a decode, not a sentence)
    assert f["_raw"] == "my number is 0 6 1 2 3 4 5 6 7 8."


def test_interims_show_the_held_words_before_their_own():
    audio, segs = dictated(1.5)
    s = CallSession(parse_stream_query(f"sample_rate={RATE}&smart_format=true"), SegmenterOptions())
    msgs = drive(s, audio, recogniser(segs))
    # words two decodes agree on are final early ("my", "number is": no entity, sent at
    # once); the number waits for its end
    assert " ".join(text(f) for f in finals(msgs)) == "my number is 0612345678."
    assert text(finals(msgs)[-1]) == "0612345678."
    interims = [m for m in msgs if m["type"] == "Results" and not m["is_final"]]
    late = [text(m) for m in interims if m["_at"] > segs[1][0]]
    assert late and all(t.startswith("0612") for t in late), late
    assert late[-1] == "0612345678."


def test_a_pause_longer_than_3_s_keeps_two_finals_the_first_sent_3_s_after_it():
    audio, segs = dictated(4.0)
    msgs = drive(session("smart_format=true"), audio, recogniser(segs))
    first, second = finals(msgs)
    assert (text(first), text(second)) == ("my number is 0612.", "345678.")
    last_word_end = first["start"] + first["duration"]
    assert last_word_end + 3.0 <= first["_at"] < last_word_end + 3.2  # held 3 s of audio, no more
    assert first["_at"] < segs[1][0]
    assert first["segment_id"] != second["segment_id"]


def test_no_delay_sends_every_final_at_once():
    audio, segs = dictated(1.5)
    msgs = drive(session("smart_format=true&no_delay=true"), audio, recogniser(segs))
    first, second = finals(msgs)
    assert (text(first), text(second)) == ("my number is 0612.", "345678.")
    assert first["_at"] < segs[1][0]
    assert not [w for w in parse_stream_query("no_delay=true").warnings if w.parameter == "no_delay"]


def test_without_smart_format_or_numerals_nothing_is_held():
    audio, segs = dictated(1.5)
    plain = drive(session(), audio, recogniser(segs))
    first, second = finals(plain)
    assert (text(first), text(second)) == ("my number is 0 6 1 2.", "3 4 5 6 7 8.")
    assert first["_at"] < segs[1][0]
    # the same messages at the same audio clock as with smart_format and no_delay
    nodelay = drive(session("smart_format=true&no_delay=true"), audio, recogniser(segs))

    def seen(msgs):
        return [(m["type"], m["_at"], m.get("_raw"), m.get("speech_final")) for m in msgs]
    assert seen(plain) == seen(nodelay)


def test_finalize_sends_a_held_final_at_once():
    audio, segs = layout(0.5, ("my number is zero six one two", NUMBER_A), 1.0)
    finalize_at = segs[0][1] + 0.8  # the final is out (0.5 s pause) and held
    msgs = drive(session("smart_format=true"), audio, recogniser(segs), {finalize_at: '{"type": "Finalize"}'})
    (f,) = finals(msgs)
    assert text(f) == "my number is 0612."
    assert f["_at"] == pytest.approx(finalize_at, abs=0.03)


def test_a_held_final_goes_out_on_keepalive_once_the_audio_stopped_3_s_ago():
    """A client that stops sending audio after a pause (client-side VAD, mute, hold) and
    keeps the socket open with KeepAlive: the audio clock stops, so 3 s of audio never pass;
    the held final goes out at the first KeepAlive 3 s (wall clock) after the last audio,
    not when audio resumes or the stream ends."""
    audio, segs = layout(0.5, ("my number is zero six one two", NUMBER_A), 1.0)
    clock = [100.0]
    s = CallSession(parse_stream_query(f"sample_rate={RATE}&smart_format=true"),
                    SegmenterOptions(early_commit=False), clock=lambda: clock[0])
    rec = recogniser(segs)
    got: list = []

    def handle(outs):
        for o in answered(s, rec, outs):
            if isinstance(o, Send):
                got.append(o.text_format.message(o.message) if o.text_format else o.message)

    for f in pcm_frames(audio, RATE):
        handle(s.receive_audio(f))
    assert not finals(got)  # held: 1 s of audio after it
    keep = '{"type": "KeepAlive"}'
    clock[0] += 1.0
    handle(s.receive_text(keep))
    assert not finals(got)  # 2 s after its last word: the speaker may go on
    clock[0] += 2.5
    handle(s.receive_text(keep))
    (f,) = finals(got)
    assert text(f) == "my number is 0612."
    assert s.finished is False and s.closing is None


def test_an_e_mail_said_in_two_goes_is_one_address():
    audio, segs = layout(0.5, ("write to john dot smith at", "write to john dot smith at".split()), 1.5,
                         ("example dot com", "example dot com.".split()), 2.0)
    msgs = drive(session("smart_format=true"), audio, recogniser(segs))
    assert [text(f) for f in finals(msgs)] == ["write to john.smith@example.com."]


# -- Configure ---------------------------------------------------------------------
def test_configure_switches_numerals_on_and_off_mid_stream():
    said = ("five one nine two", ["five", "one", "nine", "two"])
    audio, segs = layout(0.5, said, 2.0, said, 2.0, said, 2.0, said, 2.0)
    on, off = (json.dumps({"type": "Configure", "features": {"numerals": v}}) for v in (True, False))
    s = session()
    msgs = drive(s, audio, recogniser(segs), {segs[1][0] - 0.5: on, segs[2][0] - 0.5: off,
                                               segs[3][0] - 0.5: on})
    assert [text(f) for f in finals(msgs)] == ["five one nine two", "5192", "five one nine two", "5192"]
    assert not [m for m in msgs if m["type"] == "Error"]
    assert s.features == {"numerals": True, "smart_format": False, "punctuate": True}


def test_configure_smart_format_and_punctuate():
    said = ("call me at three thirty pm", "Call me at three thirty pm.".split())
    audio, segs = layout(0.5, said, 2.0, said, 2.0)
    msg = json.dumps({"type": "Configure", "features": {"smart_format": True, "punctuate": False}})
    msgs = drive(session("punctuate=false"), audio, recogniser(segs), {segs[1][0] - 0.5: msg})
    assert [text(f) for f in finals(msgs)] == ["call me at three thirty pm", "Call me at 3:30 PM."]


def test_a_final_held_when_configure_changes_the_format_keeps_the_format_it_was_made_with():
    """'A result made before the message keeps the switches it was made with (a final held
    for its entity included)': also when the change leaves holding on (punctuate off, or
    smart_format off with numerals on), not only when numerals goes off."""
    audio, segs = layout(0.5, ("my number is zero six one two", NUMBER_A), 4.0)
    configure = json.dumps({"type": "Configure", "features": {"punctuate": False}})
    at = segs[0][1] + 0.8  # the final is out (0.5 s pause) and held
    msgs = drive(session("numerals=true"), audio, recogniser(segs), {at: configure})
    (f,) = finals(msgs)
    assert text(f) == "my number is 0612."  # made with punctuate on
    assert f["_at"] == pytest.approx(at, abs=0.03)


@pytest.mark.parametrize("bad,says", [
    ({"type": "Configure", "features": {"numerals": "yes"}}, "must be true or false"),
    ({"type": "Configure", "features": {"numerals": 1}}, "must be true or false"),
    ({"type": "Configure", "features": {"diarize": True}}, "cannot switch 'diarize'"),
    ({"type": "Configure", "features": {"numerals": True, "redact": True}}, "cannot switch 'redact'"),
    ({"type": "Configure", "features": {}}, "needs a 'features' object"),
    ({"type": "Configure", "numerals": True}, "needs a 'features' object"),
])
def test_a_bad_configure_gets_an_error_changes_nothing_and_the_stream_goes_on(bad, says):
    said = ("five one nine two", ["five", "one", "nine", "two"])
    audio, segs = layout(0.5, said, 2.0, said, 2.0)
    s = session()
    msgs = drive(s, audio, recogniser(segs), {segs[0][1] + 0.2: json.dumps(bad)})
    (err,) = [m for m in msgs if m["type"] == "Error"]
    assert err["err_code"] == "UNKNOWN_MESSAGE" and says in err["err_msg"], err
    assert err["description"] == err["err_msg"]
    # nothing received is lost, nothing is switched (not even the good half of a bad message)
    assert [text(f) for f in finals(msgs)] == ["five one nine two", "five one nine two"]
    assert s.text_format.numerals is False
    assert [m["type"] for m in msgs[-2:]] == ["Metadata", "_Close"] and msgs[-1]["code"] == 1000


def test_parse_control_takes_configure():
    ctl = parse_control('{"type": "Configure", "features": {"numerals": false, "smart_format": true}}')
    assert ctl.type == "Configure" and dict(ctl.features) == {"numerals": False, "smart_format": True}
    with pytest.raises(ControlError) as e:
        parse_control('{"type": "Configure", "features": ["numerals"]}')
    assert e.value.code == "UNKNOWN_MESSAGE"


# -- the hold alone ---------------------------------------------------------------
def hyp(text: str, start: float, step: float = 0.3) -> list[HypWord]:
    return [HypWord(" " + w, start + i * step, start + i * step + 0.25, 0.9) for i, w in enumerate(text.split())]


def final(text: str, start: float, **kw) -> TranscriptUpdate:
    w = hyp(text, start)
    return TranscriptUpdate(0, w, w[0].start, w[-1].end, True, **kw)


@pytest.mark.parametrize("said,held", [
    ("my number is 0 6 1 2", True), ("it is 0612.", True), ("five one", True), ("double", True),
    ("twenty-four", True), ("spelled S M", True), ("S-M-I-T-H.", True), ("john dot smith at", True),
    ("john dot", True), ("call plus", True), ("it is 0612?", False), ("no one", False),
    ("oh", False), ("I am here.", False), ("and I", False), ("is a", False), ("two one", True),
])
def test_what_may_be_an_unfinished_entity(said, held):
    assert open_entity(hyp(said, 0.0)) is held


def test_what_goes_on_with_it():
    assert goes_on(hyp("is 0 6", 0), hyp("1 2", 3))
    assert goes_on(hyp("is 25", 0), hyp("dollars please", 3))
    assert goes_on(hyp("smith at", 0), hyp("Example dot com", 3))
    assert goes_on(hyp("S M", 0), hyp("I T H", 3))
    assert not goes_on(hyp("is 0 6", 0), hyp("And my name", 3))
    assert not goes_on(hyp("S M", 0), hyp("thanks", 3))


def test_the_hold_merges_drops_the_middle_end_and_keeps_records_behind():
    h = EntityHold()
    a = final("my number is 0 6 1 2.", 1.0, speech_final=True)
    assert h.feed([a], on=True, now=3.5, speech_from=None) == []
    marker = TranscriptUpdate(0, [], a.end, a.end, True, speech_final=True)
    end = UtteranceEnd(0, a.end)
    rec = RecordUpdate(0, a.words, 0.8, a.end + 0.3, 1)
    assert h.feed([marker, end, rec], on=True, now=4.0, speech_from=None) == []
    b = final("3 4 5 6 7 8 thanks.", a.end + 1.5, speech_final=True)
    merged, record = h.feed([b], on=True, now=b.end + 0.6, speech_from=None)
    assert record is rec and h.held is None
    assert merged.is_final and merged.speech_final and (merged.start, merged.end) == (a.start, b.end)
    assert merged.text == "my number is 0 6 1 2 3 4 5 6 7 8 thanks."


def test_the_hold_waits_for_speech_that_began_in_time_and_not_for_later_speech():
    a = final("0 6 1 2", 1.0)
    h = EntityHold()
    h.feed([a], on=True, now=a.end + 0.5, speech_from=None)
    # 3 s of audio later a final is still being decoded: it may go on with the number
    assert h.feed([], on=True, now=a.end + 3.5, speech_from=0.0) == []
    assert h.feed([], on=True, now=a.end + 3.6, speech_from=None) == [a]
    h.feed([a], on=True, now=a.end + 0.5, speech_from=None)
    assert h.feed([], on=True, now=a.end + 3.0, speech_from=a.end + 3.5) == [a]  # began too late


def test_a_next_final_that_is_no_entity_releases_the_held_one_first():
    h = EntityHold()
    a = final("my number is 0 6 1 2", 1.0)
    end = UtteranceEnd(0, a.end)
    h.feed([a, end], on=True, now=a.end + 1, speech_from=None)
    b = final("And my name is Ann.", a.end + 1.2)
    assert h.feed([b], on=True, now=b.end + 0.5, speech_from=None) == [a, end, b]
    c = final("0 6", 20.0)
    h.feed([c], on=True, now=c.end + 0.5, speech_from=None)
    assert h.feed([], on=False, now=c.end + 0.6, speech_from=None) == [c]  # switched off


def test_configure_through_the_live_api(server):
    """The same utterance before and after `{"type": "Configure", "features": {"numerals":
    true}}`, then a bad Configure: through the websocket and `LiveCall` (which writes each
    result as the session had the switches when it made it), with the bundled model."""
    from streaming.client import audio_frames, listen_url
    from streaming.live.formatting import TextFormat
    from tests.conftest import run

    x, rate = espeak("My card number is five one nine two. Thank you, goodbye.")
    audio = np.concatenate([np.zeros(RATE // 2, np.float32), resample(x[:, 0], rate),
                            np.zeros(RATE * 3 // 2, np.float32)]).astype(np.float32)
    frames = audio_frames(audio[:, None], RATE)
    url = listen_url(server.url, encoding="linear16", sample_rate=RATE, channels=1, interim_results=False)

    async def go():
        from websockets.asyncio.client import connect

        got: list[dict] = []

        async def utterance():
            for f in frames:
                await ws.send(f)
            while True:  # until the utterance's end
                m = json.loads(await ws.recv())
                got.append(m)
                if m.get("type") == "Results" and m.get("speech_final"):
                    return

        async with connect(url) as ws:
            await utterance()
            got.append({"type": "_configured"})
            await ws.send(json.dumps({"type": "Configure", "features": {"numerals": True}}))
            await utterance()
            await ws.send(json.dumps({"type": "Configure", "features": {"numerals": "on"}}))
            await ws.send(json.dumps({"type": "CloseStream"}))
            async for raw in ws:
                got.append(json.loads(raw))
        return got

    got = run(go())
    cut = got.index({"type": "_configured"})

    def said_text(msgs):
        return " ".join(text(m) for m in msgs if m.get("type") == "Results" and m["is_final"] and text(m))

    before, after = said_text(got[:cut]), said_text(got[cut:])
    # (the model's punctuation may differ the second time: the first utterance is its context)
    assert "5192" not in before and "5192" in TextFormat(numerals=True).text(before), before
    assert "5192" in after, (before, after)
    (err,) = [m for m in got if m.get("type") == "Error"]
    assert err["err_code"] == "UNKNOWN_MESSAGE" and "'numerals' must be true or false" in err["err_msg"]
    assert got[-1]["type"] == "Metadata"
