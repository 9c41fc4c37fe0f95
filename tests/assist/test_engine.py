"""The engine end to end on labelled calls, the event contract, and transcript loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assist.engine import AssistSession
from assist.transcript_io import list_calls, load_transcript
from tests.assist.helpers import OWN_CALLS, dev_calls, script

EVENT_TYPES = {"FormValue", "Hint", "KnowledgeAnswer", "Alert", "Sentiment", "Summary",
               "FeedbackRecorded", "AssistNotice"}


def run_file(path: Path) -> tuple[AssistSession, list[dict], object]:
    t = load_transcript(path)
    s = AssistSession(t.call_id, t.language)
    events = [e for seg in t.segments for e in s.on_segment(seg)]
    events += s.finish()
    return s, events, t


def check_contract(events: list[dict], segments) -> None:
    by_id = {seg.segment_id: seg for seg in segments}
    json.dumps(events)  # JSON-able
    for e in events:
        assert e["type"] in EVENT_TYPES
        assert e.get("id"), e
        if e["type"] in ("FormValue", "Hint", "KnowledgeAnswer", "Alert", "Summary"):
            assert 0.0 <= float(e["confidence"]) <= 1.0
            assert e["evidence"], e  # nothing without evidence
            for ev in e["evidence"]:
                seg = by_id[ev["segment_id"]]
                assert seg.text[ev["char_start"]:ev["char_end"]] == ev["text"]
                assert ev["speaker"] == seg.speaker


def test_dev_calls_end_to_end():
    paths = dev_calls()
    assert {p.stem for p in paths} >= {"dev_en_01", "dev_nl_01"}
    for path in paths:
        s, events, t = run_file(path)
        lab = t.labels
        check_contract(events, t.segments)
        assert s.form_values() == lab["form"], t.call_id
        assert s.alerts.escalated == lab["escalation"], t.call_id
        summary = next(e for e in events if e["type"] == "Summary")
        assert summary["main_intent"] == lab["intents"][0], t.call_id
        assert summary["form"] == lab["form"]
        assert len(s.timings) == len(t.segments)  # timed per segment (figures: benchmarks/assist.py)


def test_own_calls_contract_and_escalation():
    paths = list_calls(OWN_CALLS)
    assert len(paths) >= 10
    langs = set()
    for path in paths:
        s, events, t = run_file(path)
        langs.add(t.language)
        check_contract(events, t.segments)
        assert s.alerts.escalated == t.labels["escalation"], t.call_id
        assert s.tracker.main_intent() == t.labels["intents"][0], t.call_id
    assert langs == {"en", "nl"}


def dev_call(stem: str) -> Path:
    [path] = [p for p in dev_calls() if p.stem == stem]
    return path


def test_dev_en_01_specifics():
    s, events, t = run_file(dev_call("dev_en_01"))
    passcode = next(e for e in events if e["type"] == "Hint" and e["rule"] == "never_take_passcode")
    assert passcode["evidence"][0]["segment_id"] == "t7"
    kb = [e for e in events if e["type"] == "KnowledgeAnswer"]
    assert kb and {e["doc"] for e in kb} == {"app-access-reset.md"}
    email = [e for e in events if e["type"] == "FormValue" and e["field"] == "email"]
    assert email[-1]["value"] == "nathan.greaves@example.com"
    assert not s.alerts.escalated


def test_dev_nl_02_ai_complaint():
    s, events, t = run_file(dev_call("dev_nl_02"))
    ai = next(e for e in events if e["type"] == "Hint" and e["rule"] == "ai_written_complaint")
    assert ai["evidence"][0]["segment_id"] == "t7" and ai["language"] == "nl"
    assert any(e["type"] == "Alert" and e["kind"] == "complaint" for e in events)


def test_resent_segment_is_ignored():
    s = AssistSession("r1", "en", kb=False)
    segs = script(["A: Hello.", "C: My phone was stolen yesterday."])
    s.on_segment(segs[0])
    first = s.on_segment(segs[1])
    assert any(e["type"] == "Hint" for e in first)
    assert s.on_segment(segs[1]) == []


def test_a_failing_sub_engine_becomes_a_notice_not_a_crash():
    s = AssistSession("r2", "en", kb=False)

    def boom(seg):
        raise RuntimeError("parser exploded")

    s.filler.on_segment = boom  # type: ignore[method-assign]
    out = s.on_segment(script(["C: My card was declined."])[0])
    notices = [e for e in out if e["type"] == "AssistNotice"]
    assert notices and notices[0]["code"] == "autofill_error" and "exploded" in notices[0]["message"]
    assert any(e["type"] == "Hint" for e in out)  # the rest still works


def test_plain_transcript_and_timing_file(tmp_path: Path):
    p = tmp_path / "call42.json"
    p.write_text(json.dumps({"turns": [{"speaker": "agent", "text": "Hello."},
                                       {"speaker": "customer", "text": "Hi there.", "start": 3.0, "end": 4.5}]}))
    t = load_transcript(p)
    assert t.call_id == "call42" and t.language == "en"
    assert [s.segment_id for s in t.segments] == ["t0", "t1"]
    assert (t.segments[1].start, t.segments[1].end) == (3.0, 4.5)
    (tmp_path / "call42.timing.json").write_text(json.dumps(
        {"turns": [{"index": 0, "start": 0.5, "end": 1.0}, {"index": 1, "start": 1.5, "end": 2.5}]}))
    t2 = load_transcript(p)
    assert (t2.segments[0].start, t2.segments[1].end) == (0.5, 2.5)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"turns": [{"speaker": "robot", "text": "x"}]}))
    with pytest.raises(ValueError, match="speaker"):
        load_transcript(bad)


def test_dev_timing_file_is_used():
    path = dev_call("dev_en_02")
    t = load_transcript(path)
    timing = json.loads(path.with_name("dev_en_02.timing.json").read_text())
    assert t.segments[3].start == timing["turns"][3]["start"]
