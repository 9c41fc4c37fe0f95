"""Final pieces -> utterances for the assistant (streaming/live/utterances.py); no model needed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from assist.engine import AssistSession
from streaming.live.utterances import UtteranceBuffer, segment_from_results
from streaming.service.bus import MemoryBus
from streaming.service.pipeline import CallPipeline

DEMO = Path(__file__).resolve().parents[2] / "streaming" / "demo_call" / "call.json"


def final(seg_id: str, text: str, ch: int, start: float, speech_final: bool = False) -> dict:
    return {"type": "Results", "is_final": True, "speech_final": speech_final, "channel_index": [ch, 2],
            "start": start, "duration": 0.5, "speaker": "agent" if ch == 0 else "customer",
            "segment_id": seg_id, "call_id": "c",
            "channel": {"alternatives": [{"transcript": text, "words": [
                {"word": w.lower(), "punctuated_word": w, "start": start, "end": start + 0.5, "confidence": 0.9}
                for w in text.split()]}]}}


def test_pieces_up_to_speech_final_make_one_utterance_with_the_first_id():
    b = UtteranceBuffer()
    assert b.add(final("1-5", "Yes, my", 1, 10.0)) == []
    assert b.add(final("1-6", "name is", 1, 10.5)) == []
    [u] = b.add(final("1-7", "Daniel Morgan.", 1, 11.0, speech_final=True))
    assert (u.segment_id, u.text, u.speaker, u.channel) == ("1-5", "Yes, my name is Daniel Morgan.", "customer", 1)
    assert (u.start, u.end) == (10.0, 11.5)
    assert [w.text for w in u.words] == ["Yes,", "my", "name", "is", "Daniel", "Morgan."]
    # evidence offsets into the utterance map back onto the pieces joined by single spaces
    pieces = ["Yes, my", "name is", "Daniel Morgan."]
    at = u.text.index("Daniel")
    assert " ".join(pieces)[at:at + 13] == "Daniel Morgan"
    assert b.flush() == []


def test_channels_are_independent_and_markers_close_them():
    b = UtteranceBuffer()
    assert b.add(final("0-1", "Can I take", 0, 1.0)) == []
    assert b.add(final("1-2", "Hello?", 1, 1.2)) == []
    assert b.add(final("0-3", "your name?", 0, 1.5)) == []
    # an empty speech_final marker (the words were already final) closes the agent's utterance
    [agent] = b.add(final("0-4", "", 0, 2.0, speech_final=True))
    assert agent.text == "Can I take your name?" and agent.segment_id == "0-1"
    # UtteranceEnd closes the customer's
    [cust] = b.add({"type": "UtteranceEnd", "channel": [1, 2], "last_word_end": 1.7, "speaker": "customer"})
    assert cust.text == "Hello?"
    assert b.add({"type": "Results", "is_final": False, "channel_index": [0, 2]}) == []


def test_a_monologue_is_cut_and_the_end_of_call_flushes():
    b = UtteranceBuffer(max_words=6)
    assert b.add(final("0-1", "one two three", 0, 0.0)) == []
    [u] = b.add(final("0-2", "four five six", 0, 1.0))
    assert u.text == "one two three four five six"
    b.add(final("1-3", "late", 1, 3.0))
    b.add(final("0-4", "seven", 0, 2.0))
    assert [s.text for s in b.flush()] == ["seven", "late"]  # oldest first


def demo_pieces() -> list[dict]:
    """The demo call's script cut into two-word finals, as live commits arrive."""
    call = json.loads(DEMO.read_text())
    out, n = [], 0
    for t in call["turns"]:
        ch = 0 if t["speaker"] == "agent" else 1
        words = t["text"].split()
        pieces = [" ".join(words[i:i + 2]) for i in range(0, len(words), 2)]
        step = (t["end"] - t["start"]) / len(pieces)
        for i, p in enumerate(pieces):
            n += 1
            out.append(final(f"{ch}-{n}", p, ch, t["start"] + i * step, speech_final=i == len(pieces) - 1))
    return out


def form_values(segments) -> dict[str, str]:
    s = AssistSession("demo", "en", kb=False)
    for seg in segments:
        s.on_segment(seg)
    return s.form_values()


def test_the_assistant_finds_the_form_in_utterances_not_in_pieces():
    msgs = demo_pieces()
    pieces_only = form_values(segment_from_results(m) for m in msgs)
    b = UtteranceBuffer()
    utterances = [u for m in msgs for u in b.add(m)] + b.flush()
    found = form_values(utterances)
    assert pieces_only == {}  # why the buffer exists
    assert found["full_name"] == "Daniel Morgan" and found["date_of_birth"] == "1986-03-14"
    assert found["email"] == "daniel.morgan@example.com"


def test_the_pipeline_feeds_utterances_and_publishes_every_piece(monkeypatch):
    monkeypatch.setattr(CallPipeline, "group_utterances", True)

    async def go():
        bus = MemoryBus()
        seen: list = []

        class Spy:
            refiner = None

            def on_segment(self, seg):
                seen.append(seg)
                return []

            def finish(self):
                return [{"type": "Summary", "id": "summary-c", "text": "x"}]

        p = CallPipeline("c", bus, lambda cid, lang: Spy(), records=False)  # records off: utterances
        for m in demo_pieces()[:12]:
            await p.publish(m)
        await p.finish()
        return seen, await bus.history("c")

    seen, history = asyncio.run(go())
    finals = [e for e in history if e["type"] == "Results"]
    assert len(finals) == 12  # desktops still get every piece as it is committed
    # the agent's whole first turn, then the customer's unfinished one flushed at the end
    assert [s.segment_id for s in seen] == ["0-1", "1-7"]
    assert seen[0].text == "Harbour Bank, good afternoon, you're speaking to Claire. How can I help?"
    assert seen[1].text == "Hi Claire. I think I've lost my debit card. I can't find"
    assert history[-1]["type"] == "Summary"
