"""Post-call summary: structure, grounding in the transcript, language, disposition."""

from __future__ import annotations

from assist.engine import AssistSession
from tests.assist.helpers import script

EN_CALL = [
    "A: Lumen Mobile, this is Sam. How can I help?",
    "C: Hi, my broadband has been down since Monday and I work from home.",
    "A: I'm sorry to hear that. Can I take your account number?",
    "C: It's four four one two, seven seven eight one.",
    "A: Thanks. I can see there's a fault on the line in your area.",
    "C: When will it be fixed?",
    "A: The engineers expect to fix it by Thursday evening.",
    "A: I've added compensation of nine pounds seventy-six a day to your account.",
    "A: You'll receive a text as soon as the line is working again.",
    "C: Okay, I'll restart the router on Thursday then.",
    "A: Is there anything else I can help with?",
    "C: No, thanks, that's great.",
]

NL_CALL = [
    "A: Harbour Bank, goedemiddag, met Tim.",
    "C: Hoi, mijn pas is kapot, de chip doet het niet meer. Ik wil een nieuwe pas.",
    "A: Dat regel ik. Wat is uw geboortedatum?",
    "C: Twaalf maart negentienhonderdnegentig.",
    "A: Dank u. Ik heb een nieuwe pas voor u besteld.",
    "A: U krijgt hem binnen drie tot vijf werkdagen op uw huisadres.",
    "C: Blijft mijn pincode hetzelfde?",
    "A: Ja, uw pincode blijft hetzelfde.",
    "C: Fijn, dank u wel.",
    "A: Kan ik u verder nog ergens mee helpen?",
    "C: Nee, dat was het.",
]


def finish(lines, lang):
    s = AssistSession("s1", lang)
    segs = script(lines, lang)
    for seg in segs:
        s.on_segment(seg)
    out = s.finish()
    summary = next(e for e in out if e["type"] == "Summary")
    return s, segs, summary


def test_summary_structure_en():
    s, segs, sm = finish(EN_CALL, "en")
    for key in ("id", "reason", "actions", "outcome", "follow_ups", "disposition", "form", "sentiment",
                "escalation", "points", "text", "evidence", "confidence"):
        assert key in sm, key
    assert sm["main_intent"] == "technical_issue"
    assert "broadband" in sm["reason"]["text"] and sm["reason"]["segment_ids"] == ["t1"]
    assert any("compensation" in a["text"] for a in sm["actions"])
    owners = {f["owner"] for f in sm["follow_ups"]}
    assert {"back_office", "customer"} <= owners
    text_for = {f["owner"]: f["text"] for f in sm["follow_ups"]}
    assert "restart the router" in text_for["customer"]
    assert "text" in text_for["back_office"]
    assert sm["disposition"].startswith("TECHNICAL_ISSUE/")
    assert sm["escalation"] is False
    assert sm["sentiment"]["end_label"] == "positive"
    assert sm["text"].startswith("Reason: ") and "Disposition: TECHNICAL_ISSUE" in sm["text"]


def test_every_point_is_grounded_in_the_transcript():
    s, segs, sm = finish(EN_CALL, "en")
    by_id = {seg.segment_id: seg for seg in segs}
    assert sm["points"]
    for p in sm["points"]:
        assert p["evidence"], p
        for e in p["evidence"]:
            seg = by_id[e["segment_id"]]
            assert seg.text[e["char_start"]:e["char_end"]] == e["text"]
        if p["kind"] != "form":
            # extractive: the point's words were said (fillers aside)
            said = " ".join(e["text"] for e in p["evidence"])
            assert p["text"].rstrip(".").lower().split()[-1] in said.lower()


def test_personal_data_is_not_quoted_outside_the_form_section():
    s, segs, sm = finish(EN_CALL, "en")
    quoted = [p for p in sm["points"] if p["kind"] != "form"]
    assert all("four four one two" not in p["text"] for p in quoted)


def test_summary_in_dutch_with_information_and_follow_up():
    s, segs, sm = finish(NL_CALL, "nl")
    assert sm["language"] == "nl" and sm["main_intent"] == "card_replacement"
    assert sm["text"].startswith("Reden: ")
    assert "Afhandelcode: CARD_REPLACEMENT/" in sm["text"]
    assert any("pincode blijft hetzelfde" in i["text"] for i in sm["information"])
    assert any(f["owner"] == "back_office" and "werkdagen" in f["text"] for f in sm["follow_ups"])
    assert any("besteld" in a["text"] for a in sm["actions"])


def test_escalated_call_disposition_and_reasons():
    s, segs, sm = finish(["A: Harbour Bank.", "C: My husband died last week and I don't know what to do.",
                          "A: I'm so sorry for your loss. I'll refer you to our bereavement team.",
                          "C: Thank you."], "en")
    assert sm["escalation"] is True
    assert "vulnerability.bereavement" in sm["escalation_reasons"]
    assert sm["disposition"] == "BEREAVEMENT/ESCALATED"


def test_finish_is_idempotent_and_summary_is_a_suggestion():
    s, segs, sm = finish(EN_CALL, "en")
    assert s.finish() == []
    assert sm["id"] in s.suggestions
