"""Lexicon sentiment (negation, trend) and the supervisor alert rules."""

from __future__ import annotations

import pytest

from assist.alerts import AlertEngine
from assist.engine import AssistSession
from assist.sentiment import SentimentTracker, score_text
from tests.assist.helpers import script


@pytest.mark.parametrize("text,lang,sign", [
    ("Brilliant, thank you so much, that's really helpful.", "en", 1),
    ("This is absolutely ridiculous, I'm furious.", "en", -1),
    ("Top, dank u wel, heel fijn!", "nl", 1),
    ("Dit is echt belachelijk, ik ben het zat.", "nl", -1),
])
def test_polarity(text, lang, sign):
    score, cues = score_text(text, lang)
    assert score * sign > 0.3
    assert cues  # the words that drove the score are reported


def test_negation_flips_and_damps():
    good, _ = score_text("That is good.", "en")
    not_good, _ = score_text("That is not good.", "en")
    assert good > 0 > not_good and abs(not_good) < abs(good) + 0.01
    fijn, _ = score_text("Dat is fijn.", "nl")
    niet_fijn, _ = score_text("Dat is niet fijn.", "nl")
    assert fijn > 0 > niet_fijn


def test_hypothetical_feeling_is_damped():
    now, _ = score_text("I'm devastated.", "en")
    maybe, _ = score_text("I'd be devastated if I lost it.", "en")
    assert now < -0.3 and abs(maybe) < abs(now) / 2


def test_trend_per_speaker_improving():
    st = SentimentTracker("en")
    for seg in script(["C: This is terrible, I'm really upset.", "A: I'm sorry, let me fix it.",
                       "C: Okay.", "C: Oh that's great, thank you so much!"]):
        st.on_segment(seg)
    t = st.trend("customer")
    assert t["direction"] == "improving" and t["end_label"] == "positive" and t["min"] < -0.3
    assert st.trend("agent")["segments"] == 1


def run_alerts(lines, lang="en"):
    s = AssistSession("a1", lang, kb=False)
    ev = [e for seg in script(lines, lang) for e in s.on_segment(seg)]
    ev += s.finish()
    return s, [e for e in ev if e["type"] == "Alert"]


def kinds(events):
    return {a["kind"] + (f".{a['subkind']}" if a["subkind"] else "") for a in events if a["type"] == "Alert"}


def test_angry_customer_alert_with_evidence():
    s, alerts = run_alerts(["A: Lumen Mobile.", "C: This is ridiculous! Three weeks with no internet and nobody calls back!"])
    angry = next(a for a in alerts if a["kind"] == "angry_customer")
    assert angry["escalate"] and angry["evidence"][0]["segment_id"] == "t1"
    assert angry["evidence"][0]["text"].lower() in s.tracker.segments[1].text.lower()
    assert s.alerts.escalated


def test_mild_disappointment_is_not_an_angry_customer():
    _, alerts = run_alerts(["A: Gemeente.", "C: Acht maanden wachten? Serieus?", "A: Helaas wel.",
                            "C: Nou ja, dan wacht ik maar."], "nl")
    assert "angry_customer" not in kinds(alerts)


def test_complaint_alert_en_nl():
    _, alerts = run_alerts(["A: Harbour Bank.", "C: I want to make a complaint about how my mortgage was handled."])
    assert "complaint" in kinds(alerts)
    _, alerts = run_alerts(["A: Baken Verzekeringen.", "C: Ik wil een klacht indienen over mijn schadeclaim."], "nl")
    assert "complaint" in kinds(alerts)


@pytest.mark.parametrize("line,lang,sub", [
    ("C: My wife passed away on Sunday and I need to close her account.", "en", "bereavement"),
    ("C: I lost my job and I can't pay the arrears.", "en", "hardship"),
    ("C: I've just come out of hospital after my chemo, so I missed the payments.", "en", "health"),
    ("C: Mijn vader is overleden, wat moet ik met zijn rekening doen?", "nl", "bereavement"),
    ("C: Ik heb schulden en kan de premie niet meer betalen.", "nl", "hardship"),
])
def test_vulnerability_alerts(line, lang, sub):
    _, alerts = run_alerts(["A: Hello.", line], lang)
    v = [a for a in alerts if a["kind"] == "vulnerability"]
    assert v and v[0]["subkind"] == sub and v[0]["escalate"] and v[0]["severity"] == "critical"


def test_routine_call_raises_no_escalation():
    s, alerts = run_alerts(["A: Beacon Insurance, how can I help?",
                            "C: I'd like to know if my ring is covered. I'd be devastated if I lost it.",
                            "A: Can I take your policy number?", "C: Yes, it's H C one two three.",
                            "A: Thanks. It's covered up to two thousand pounds. Anything else?",
                            "C: No, that's great, thanks."])
    assert not s.alerts.escalated
    assert not [a for a in alerts if a["escalate"]]


def test_compliance_account_data_before_identity_check():
    _, alerts = run_alerts(["A: Harbour Bank.", "C: Why was my card declined yesterday?",
                            "A: I can see two payments were blocked by our fraud system.",
                            "C: Oh."])
    comp = [a for a in alerts if a["kind"] == "compliance" and a["subkind"] == "identity"]
    assert comp and comp[0]["evidence"][0]["segment_id"] == "t2" and not comp[0]["escalate"]


def test_no_identity_alert_after_verification():
    _, alerts = run_alerts(["A: Harbour Bank.", "C: Why was my card declined yesterday?",
                            "A: Can I have your date of birth and customer number?", "C: First of May, one two three four.",
                            "A: Thanks. I can see two payments were blocked by our fraud system."])
    assert "compliance.identity" not in kinds(alerts)


def test_credential_alerts_and_closing_check():
    _, alerts = run_alerts(["A: Hello.", "C: My PIN is one two three four.",
                            "A: What's your full card number?", "C: Okay.", "A: Thanks.", "C: Bye."])
    k = kinds(alerts)
    assert {"compliance.credential_said", "compliance.credential_asked", "compliance.closing"} <= k


def test_closing_question_present_means_no_closing_alert():
    _, alerts = run_alerts(["A: Hello.", "C: Hi.", "A: How can I help?", "C: Just a question.",
                            "A: Is there anything else I can help with?", "C: No, bye."])
    assert "compliance.closing" not in kinds(alerts)


def test_recording_notice_is_configurable():
    eng = AlertEngine("en", config={"recording_notice": True, "closing_question": False})
    s = AssistSession("a2", "en", kb=False)
    s.alerts = eng
    for seg in script(["A: Hello.", "C: Hi.", "A: Yes?", "C: A question.", "A: Sure.", "C: Thanks."]):
        s.on_segment(seg)
    assert "compliance.recording" in kinds(s.finish())
    eng2 = AlertEngine("en", config={"recording_notice": True, "closing_question": False})
    s2 = AssistSession("a3", "en", kb=False)
    s2.alerts = eng2
    for seg in script(["A: Hello, this call may be recorded for training.", "C: Hi.", "A: Yes?",
                       "C: A question.", "A: Sure.", "C: Thanks."]):
        s2.on_segment(seg)
    assert "compliance.recording" not in kinds(s2.finish())


def test_each_alert_kind_raised_once():
    _, alerts = run_alerts(["A: Hello.", "C: I want to complain, this is ridiculous!",
                            "C: Ridiculous! I want to complain again!"])
    assert len([a for a in alerts if a["kind"] == "complaint"]) == 1
    assert len([a for a in alerts if a["kind"] == "angry_customer"]) == 1
