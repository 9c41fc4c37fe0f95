"""Field-aware decoding on the assistant's side (assist/autofill/alternatives.py, redecode.py):
the n best hypotheses of a caller's turn are read by the field families, the validators
choose, and confidence says whether the value is shown as filled or as "please check"."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from assist.autofill import FormFiller
from assist.autofill.alternatives import DISPLAY_THRESHOLD, FIELD_PROMPTS, calibrated, posteriors
from assist.engine import AssistSession
from assist.types import Segment
from assist.validators import iban_valid

TODAY = dt.date(2026, 12, 4)
LABELLED = (Path(__file__).resolve().parents[1] / "data" / "assist", Path(__file__).resolve().parent / "calls")


def _filler(lang: str = "en") -> FormFiller:
    return FormFiller(language=lang, today=TODAY)


def _say(f: FormFiller, sid: str, speaker: str, text: str):
    return f.on_segment(Segment(sid, speaker, text, 0.0, 1.0, language=f.language))  # type: ignore[arg-type]


def _assert_read_back_fills(f: FormFiller, read_back: str, yes: str) -> None:
    """The agent reads the value back, the caller says yes: confirmed, shown as filled."""
    _say(f, "a2", "agent", read_back)
    (after,) = _say(f, "c2", "customer", yes)
    assert after.confirmed and after.display == "filled"


def test_a_digit_misheard_in_the_record_is_filled_from_the_hypothesis_that_validates():
    f = _filler()
    _say(f, "a1", "agent", "Can I take your IBAN, please?")
    # the record heard the last digit wrong: the checksum fails, nothing is filled from it
    _say(f, "c1", "customer", "Yes, it's N L nine one A B N A zero four one seven one six four three zero one.")
    assert "iban" not in f.values()
    ask = f.field_request("c1")
    assert ask is not None and ask.fields == ["iban"] and "IBAN" in ask.prompt
    (fv,) = f.on_alternatives("c1", [[("Yes, it's NL91 ABNA 0417 1643 01.", -2.0),
                                      ("Yes, it's NL91 ABNA 0417 1643 00.", -2.7),
                                      ("Yes, it's NL91 ABNA 0417 1643 0.", -3.5)]])
    assert fv.value == "NL91ABNA0417164300" and iban_valid(fv.value)
    assert fv.display == "filled" and fv.confidence >= DISPLAY_THRESHOLD
    assert f.values()["iban"] == "NL91ABNA0417164300"
    assert fv.evidence and fv.evidence[0].segment_id == "c1"  # grounded in the caller's turn
    assert fv.to_event()["display"] == "filled"


def test_an_invalid_iban_is_never_filled_it_is_offered_as_check_with_what_was_heard():
    f = _filler()
    _say(f, "a1", "agent", "Can I take your IBAN, please?")
    _say(f, "c1", "customer", "It's N L nine one A B N A zero four one seven one six.")
    out = f.on_alternatives("c1", [[("It's NL91 ABNA 0417 16.", -2.0),
                                    ("It's NL91 ABNA 0417 1643 016.", -2.4)]])
    assert "iban" not in f.values()
    shown = [fv for fv in out if fv.field == "iban"]
    assert shown and all(fv.display == "check" and not fv.valid for fv in shown)
    assert shown[0].heard and shown[0].value.startswith("NL91ABNA")
    assert shown[0].to_event()["display"] == "check" and shown[0].to_event()["valid"] is False


def test_a_misheard_bank_code_is_repaired_by_the_checksum_and_offered_to_check_not_filled():
    f = _filler()
    _say(f, "a1", "agent", "And the IBAN for the new account?")
    _say(f, "c1", "customer", "It's an L5-6, RIB-0. 990-698-929.")
    (fv,) = f.on_alternatives("c1", [[("It's an L56 RIBOO 9990698929", -1.0),
                                      ("It's an L56 RIB 0 999 0 698 929", -1.3)]])
    assert fv.value == "NL56RABO9990698929" and iban_valid(fv.value)
    assert fv.display == "check" and "iban" not in f.values()  # our repair: the agent confirms it
    assert fv.heard.startswith("It's an L56")


def test_record_and_hypotheses_disagreeing_closely_is_a_check_with_the_alternative():
    f = _filler()
    _say(f, "a1", "agent", "What's your customer number?")
    (rec,) = _say(f, "c1", "customer", "It's 4712 8839.")
    assert rec.value == "47128839"
    (fv,) = f.on_alternatives("c1", [[("It's 4712 8838.", -1.0), ("It's 4712 8839.", -1.1)]])
    assert fv.id == rec.id and fv.value == "47128839"  # the record's value stays...
    assert fv.display == "check" and fv.alternatives == ["47128838"]  # ...but the agent checks it
    assert fv.confidence < DISPLAY_THRESHOLD


def test_agreeing_hypotheses_raise_confidence_but_a_number_without_checksum_waits_for_the_read_back():
    f = _filler()
    _say(f, "a1", "agent", "What's your customer number?")
    _say(f, "c1", "customer", "It's 4712 8839.")
    (fv,) = f.on_alternatives("c1", [[("It's 4712 8839.", -1.0), ("It's 4712 8839", -1.6),
                                      ("Its 4712 8839.", -2.5)],
                                     [("4712 8839.", -0.8)]])
    assert fv.value == "47128839" and fv.alternatives == []
    # one hearing, however unanimous: held-out calls showed every hypothesis sharing a mishearing
    assert fv.display == "check" and fv.confidence > calibrated(0.5, False, "reference")
    _assert_read_back_fills(f, "So that's 4712 8839, is that right?", "Yes, that's right.")


def test_a_value_only_the_hypotheses_heard_is_proposed_below_an_agreeing_one():
    f = _filler()
    _say(f, "a1", "agent", "And your postcode?")
    _say(f, "c1", "customer", "My post good is LS6 to QT.")  # the record missed it
    (fv,) = f.on_alternatives("c1", [[("My postcode is LS6 2QT.", -1.0), ("My postcode is LS6 to QT.", -1.2)]])
    assert fv.value == "LS6 2QT" and fv.valid
    # one decode alone, unconfirmed by the record: calibrated lower than an agreeing value
    assert fv.confidence < calibrated(1.0, True, "postcode")


def test_a_spelled_name_with_nato_words_is_assembled():
    f = _filler()
    _say(f, "a1", "agent", "Can I have your full name, please?")
    _say(f, "c1", "customer", "It's Nathan Greeves.")
    _say(f, "a2", "agent", "Could you spell your surname for me?")
    (fv,) = _say(f, "c2", "customer", "Golf, Romeo, Echo, Alpha, Victor, Echo, Sierra.")
    assert fv.value == "Nathan Greaves" and fv.evidence[0].segment_id == "c2"
    g = _filler()
    _say(g, "a1", "agent", "Can I have your full name, please?")
    _say(g, "c1", "customer", "Nathan Greeves.")
    _say(g, "a2", "agent", "How do you spell the surname?")
    (fv,) = _say(g, "c2", "customer", "G for golf, R as in Romeo, E for echo, A for alpha, V for Victor, "
                                      "E for echo, S for sierra.")
    assert fv.value == "Nathan Greaves"


def test_spelling_alphabet_words_alone_are_words():
    f = _filler()
    _say(f, "a1", "agent", "Can I have your full name, please?")
    (fv,) = _say(f, "c1", "customer", "It's Victor Hotel.")  # a name, not "V H"
    assert fv.value == "Victor Hotel"


def test_a_confirmed_read_back_raises_confidence_and_a_denied_one_lowers_it():
    f = _filler()
    _say(f, "a1", "agent", "What's your customer number?")
    (fv,) = _say(f, "c1", "customer", "Four seven one two eight eight three nine.")
    first = fv.confidence
    _say(f, "a2", "agent", "So that's 4712 8839?")
    (after,) = _say(f, "c2", "customer", "Yes, that's right.")
    assert after.id == fv.id and after.confirmed and after.confidence > first
    assert after.confidence >= DISPLAY_THRESHOLD and any(e.segment_id == "c2" for e in after.evidence)
    # a later field decode of the caller's turn cannot take the confirmation away
    f.on_alternatives("c1", [[("4712 8839", -1.0)]])
    assert f.current()["customer_number"].confidence >= DISPLAY_THRESHOLD

    g = _filler()
    _say(g, "a1", "agent", "What's your customer number?")
    _say(g, "c1", "customer", "Four seven one two eight eight three nine.")
    _say(g, "a2", "agent", "So that's 4712 8839?")
    (denied,) = _say(g, "c2", "customer", "No, that's not it.")
    assert not denied.confirmed and denied.display == "check"


def test_a_value_below_the_threshold_is_check_in_the_event_the_desktop_gets():
    s = AssistSession("c-1", "en")
    s.on_segment(Segment("a1", "agent", "What's your customer number?", 0.0, 1.0))
    s.on_segment(Segment("c1", "customer", "It's 4712 8839.", 1.0, 2.0))
    events = s.on_alternatives("c1", [[("It's 4712 8838.", -1.0), ("It's 4712 8839.", -1.05)]])
    (ev,) = [e for e in events if e["type"] == "FormValue"]
    assert ev["display"] == "check" and ev["confidence"] < DISPLAY_THRESHOLD
    assert ev["alternatives"] == ["47128838"]
    assert "customer_number" not in s.form_values() or ev["confidence"] >= s.filler.MIN_CONFIDENCE


def test_no_field_decode_is_asked_for_a_secret_or_for_small_talk():
    f = _filler()
    _say(f, "a1", "agent", "Lovely weather today, isn't it?")
    _say(f, "c1", "customer", "It is, yes, really nice.")
    assert f.field_request("c1") is None
    _say(f, "a2", "agent", "What's your PIN?")
    _say(f, "c2", "customer", "It's one two three four.")
    assert f.field_request("c2") is None  # a secret is never decoded again


def test_posteriors_merge_identical_texts_and_sum_to_one():
    got = dict(posteriors([("a", -1.0), ("b", -2.0), ("a", -1.0)]))
    assert abs(sum(got.values()) - 1) < 1e-9 and got["a"] > got["b"]


def test_field_prompts_hold_no_value_of_the_labelled_calls():
    """A prompt that contains the answer would be a leak, not a method."""
    labelled = set()
    for p in (p for folder in LABELLED for p in folder.glob("*.json")):
        if p.name.endswith(".timing.json"):
            continue
        form = json.loads(p.read_text())["form"]
        labelled |= {str(v).replace(" ", "").lower() for v in form.values()}
    prompts = " ".join(v for table in FIELD_PROMPTS.values() for v in table.values())
    squashed = prompts.replace(" ", "").lower()
    assert labelled and not [v for v in labelled if len(v) >= 5 and v in squashed]


def test_oh_heard_as_all_between_digits_is_a_zero_and_all_elsewhere_is_a_word():
    from assist.spoken import tokenize, value_runs

    assert [r.text() for r in value_runs(tokenize("Yeah, it's 5192, all 374."))] == ["51920374"]
    assert [r.text() for r in value_runs(tokenize("I paid for all 3 of them."))] == ["3"]


def test_a_name_heard_once_is_a_check_even_spelled_out_until_the_read_back_is_confirmed():
    """No checksum for a name: every hypothesis agreeing, even with the surname spelled as
    heard, is one hearing (held-out: "Ronwin Tasker" for "Bronwen Tasker", surname spelled)."""
    f = _filler()
    _say(f, "a1", "agent", "Can I have your full name, please?")
    _say(f, "c1", "customer", "Nathan Greaves, G-R-E-A-V-E-S.")
    (fv,) = f.on_alternatives("c1", [[("Nathan Greaves, G-R-E-A-V-E-S.", -0.5)]])
    assert fv.value == "Nathan Greaves" and fv.display == "check"
    _assert_read_back_fills(f, "Thank you, Mr Nathan Greaves. Is that right?", "Yes.")


def test_a_reading_that_lost_a_digit_is_a_check_and_the_longer_reading_wins_with_a_fair_share():
    f = _filler()
    _say(f, "a1", "agent", "And your account number?")
    _say(f, "c1", "customer", "It's 0 6 6 9 1 2 0.")  # the record dropped the leading three
    (fv,) = f.on_alternatives("c1", [[("It's 0669120.", -1.0), ("It's 30669120.", -1.4),
                                      ("It's 06691120.", -2.5)]])
    assert fv.value == "30669120" and fv.display == "check"
    assert "0669120" in fv.alternatives


def test_a_value_read_from_part_of_a_longer_run_is_a_check():
    f = _filler()
    _say(f, "a1", "agent", "What's the postcode?")
    _say(f, "c1", "customer", "Postcode G 12 A Q Q.")
    out = f.on_alternatives("c1", [[("Postcode G 12 A Q Q.", -1.0), ("Postcode G12 AQQ.", -1.2)]])
    assert all(v.display == "check" for v in out if v.field == "postcode")


def test_a_dictated_number_with_another_valid_reading_is_a_check_showing_both():
    f = _filler()
    _say(f, "a1", "agent", "What's your customer number?")
    _say(f, "c1", "customer", "It's 5192 0374.")
    (fv,) = f.on_alternatives("c1", [[("It's 5192 0374.", -0.5), ("It's 5192 HB74.", -3.0)]])
    assert fv.value == "51920374" and fv.display == "check" and fv.alternatives == ["5192HB74"]


def test_from_audio_an_e_mail_heard_once_is_a_check_even_when_the_agent_repeats_it():
    f = _filler()
    f.from_audio = True
    _say(f, "a1", "agent", "What's your email address?")
    (fv,) = _say(f, "c1", "customer", "It's grace dot adami at example dot net.")
    assert fv.display == "check"
    _say(f, "a2", "agent", "Lovely, grace dot adami at example dot net.")
    assert f.current()["email"].display == "check"  # the agent's words may be misheard alike
    _say(f, "a3", "agent", "So that's grace.adami@example.net, is that right?")
    _say(f, "c3", "customer", "Yes, that's right.")
    assert f.current()["email"].confirmed and f.current()["email"].display == "filled"
    text = _filler()  # a written transcript: no second hearing needed
    _say(text, "a1", "agent", "What's your email address?")
    (fv,) = _say(text, "c1", "customer", "It's grace dot adami at example dot net.")
    assert fv.display == "filled"


def test_a_read_back_heard_differently_is_offered_beside_the_callers_value():
    f = _filler()
    f.from_audio = True
    _say(f, "a1", "agent", "What's your customer number?")
    _say(f, "c1", "customer", "It's 4712 8839.")
    (fv,) = _say(f, "a2", "agent", "So that's 4712 8834, is that right?")
    assert fv.value == "47128839" and fv.alternatives[0] == "47128834" and fv.display == "check"


def test_a_decode_that_writes_out_the_field_prompts_example_is_not_a_hearing():
    """Whisper writes its prompt out on speech it cannot hear: base on espeak-ng Dutch
    "Mijn postcode is twaalf vierendertig, A B" decoded behind the postcode prompt gave
    "Mijn postcode is 1012 AB." and its near neighbours. That decode says nothing about the
    field; before, the example reached the desktop (a BSN example even as filled)."""
    f = _filler("nl")
    _say(f, "a1", "agent", "En de postcode?")
    _say(f, "c1", "customer", "Mijn postkoudest maal vliegen dat de R.A.")  # the record, as base heard it
    ask = f.field_request("c1")
    assert ask is not None and "1012 AB" in ask.prompt
    assert f.on_alternatives("c1", [[("Mijn postkoudest maal vliegen dat de R.A.", -3.0)],
                                    [("Mijn postcode is 1012 AB.", -0.4), ("Mijn postcode is 1013 AB.", -1.2)]]) == []
    assert "postcode" not in f.values()
    f = _filler("en")
    _say(f, "a1", "agent", "And your BSN, please?")
    _say(f, "c1", "customer", "It's one, for for, two sick, eight seven.")
    ask = f.field_request("c1")
    assert ask is not None and "111 222 333" in ask.prompt  # a valid BSN: a copy would be filled
    assert f.on_alternatives("c1", [[("It's one, four four, two six, eight seven.", -3.0)],
                                    [("My BSN is 111 222 333.", -0.4)]]) == []


def test_a_caller_who_says_the_prompts_example_value_still_gets_it():
    f = _filler("nl")
    _say(f, "a1", "agent", "En de postcode?")
    (rec,) = _say(f, "c1", "customer", "Mijn postcode is 1012 AB.")
    (fv,) = f.on_alternatives("c1", [[("Mijn postcode is 1012 AB.", -0.3)], [("Mijn postcode is 1012 AB.", -0.2)]])
    assert rec.value == fv.value == "1012 AB"
