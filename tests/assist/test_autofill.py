"""FormFiller: context, evidence, corrections, human-in-charge, third parties, LLM path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assist.autofill import FormFiller, FormValue
from assist.evaluation import (
    aggregate,
    call_files,
    correction_report,
    evaluate,
    run_call,
    score_form,
)
from assist.forms import load_form
from assist.types import Segment, Word
from tests.assist.helpers import DEV_CALLS

TODAY = dt.date(2025, 6, 1)
DATA = Path(__file__).parent / "data"


def play(turns: list[tuple[str, str]], language: str = "en") -> tuple[FormFiller, list[FormValue]]:
    filler = FormFiller(language=language, today=TODAY)
    out: list[FormValue] = []
    for i, (who, text) in enumerate(turns):
        seg = Segment(f"s{i}", "agent" if who == "a" else "customer", text, start=10.0 * i,
                      end=10.0 * i + 5, language=language)
        out.extend(filler.on_segment(seg))
    return filler, out


def check_evidence(filler: FormFiller, turns: list[tuple[str, str]]) -> None:
    texts = {f"s{i}": t for i, (_, t) in enumerate(turns)}
    for fv in filler.suggestions():
        assert fv.evidence, fv
        for e in fv.evidence:
            assert texts[e.segment_id][e.char_start:e.char_end] == e.text


# ----------------------------------------------------------------------------- extraction


def test_english_identity_answers():
    turns = [
        ("a", "Can I take your customer number?"),
        ("c", "Yeah, it's eight two six one, oh four five nine."),
        ("a", "And your full name and date of birth?"),
        ("c", "Priya Raman, R-A-M-A-N. It's the seventh of October, nineteen eighty-eight."),
        ("a", "And the postcode?"),
        ("c", "B fifteen, two T T."),
        ("a", "And the best number to reach you on?"),
        ("c", "Oh seven seven double oh, nine double oh, four three two."),
        ("a", "And your policy number?"),
        ("c", "It's P L, triple seven, oh one, nine two."),
    ]
    filler, _ = play(turns)
    assert filler.values() == {
        "customer_number": "82610459",
        "full_name": "Priya Raman",
        "date_of_birth": "1988-10-07",
        "postcode": "B15 2TT",
        "phone_number": "+447700900432",
        "policy_number": "PL7770192",
    }
    check_evidence(filler, turns)


def test_dutch_identity_answers():
    turns = [
        ("a", "Wat is uw klantnummer?"),
        ("c", "Dat is negen nul drie, vijf vijf één, twee."),
        ("a", "En uw naam en geboortedatum?"),
        ("c", "Femke van der Linden. Twaalf januari negentien zevenenzestig."),
        ("a", "Mag ik uw BSN?"),
        ("c", "Zes acht nul, drie één negen, vier twee zes."),
        ("a", "En uw rekeningnummer?"),
        ("c", "N L vijfennegentig, R A B O, nul drie één vijf, acht acht twee nul, vier zes."),
        ("a", "Op welk nummer kunnen we u bereiken?"),
        ("c", "Nul zes, achtendertig, zeventien, vijfenzestig, nul negen."),
    ]
    filler, _ = play(turns, "nl")
    assert filler.values() == {
        "customer_number": "9035512",
        "full_name": "Femke van der Linden",
        "date_of_birth": "1967-01-12",
        "bsn": "680319426",
        "iban": "NL95RABO0315882046",
        "phone_number": "+31638176509",
    }
    check_evidence(filler, turns)


def test_dutch_address_street_number_in_a_later_turn_and_postcode_city():
    turns = [
        ("a", "Wat is het nieuwe adres?"),
        ("c", "De Biltstraat."),
        ("a", "En het huisnummer?"),
        ("c", "Honderdvijfenveertig."),
        ("a", "En de postcode?"),
        ("c", "Vijfendertig tweeënzeventig, B K, Utrecht."),
    ]
    filler, _ = play(turns, "nl")
    assert filler.values() == {"street_address": "Biltstraat 145", "postcode": "3572 BK",
                               "city": "Utrecht"}
    street = filler.current()["street_address"]
    assert [e.text for e in street.evidence] == ["Biltstraat", "Honderdvijfenveertig"]


def test_english_address_number_first():
    turns = [("a", "What's your address?"),
             ("c", "It's twenty-four Kingsley Road, Leeds, L S six, two Q T.")]
    filler, _ = play(turns)
    assert filler.values() == {"street_address": "24 Kingsley Road", "city": "Leeds",
                               "postcode": "LS6 2QT"}


def test_iban_in_parts_across_turns():
    turns = [
        ("a", "What's the IBAN?"),
        ("c", "N L eighty, I N G B, zero zero zero six..."),
        ("a", "Mm-hm."),
        ("c", "eight two nine, four one seven."),
    ]
    filler, _ = play(turns)
    fv = filler.current()["iban"]
    assert fv.value == "NL80INGB0006829417"
    assert [e.segment_id for e in fv.evidence] == ["s1", "s3"]


def test_asr_numerals_and_written_forms():
    turns = [
        ("a", "Can I have your account number?"),
        ("c", "Yes, it's 4471 2290."),
        ("a", "And your mobile number?"),
        ("c", "It's 07700 900 318."),
        ("a", "And an email address?"),
        ("c", "Sure, it's Raj Dot Patel at example.net."),
        ("a", "And your postcode?"),
        ("c", "EC1A 1BB."),
        ("a", "And your date of birth?"),
        ("c", "14/03/1985."),
    ]
    filler, _ = play(turns)
    assert filler.values() == {"account_number": "44712290", "phone_number": "+447700900318",
                               "email": "raj.patel@example.net", "postcode": "EC1A 1BB",
                               "date_of_birth": "1985-03-14"}


def test_not_for_dot_only_in_an_email():
    _, out = play([("a", "What's your email?"), ("c", "It's tom dot baker at example not com.")])
    assert [fv.value for fv in out] == ["tom.baker@example.com"]
    filler, _ = play([("c", "I'm not at home, I'm at work not com the other thing.")])
    assert filler.values() == {}


def test_values_need_context_or_a_strong_shape():
    turns = [
        ("a", "How much is the ring worth?"),
        ("c", "The jeweller valued it at four thousand eight hundred pounds, about two weeks ago."),
        ("a", "Right. Our claims line is oh eight hundred, one two three, four five six seven."),
        ("c", "The reference on the letter is five five two, nine one, and it's dated the third of May."),
        ("a", "You're through to Lotte. I'm moving the file to Rotterdam."),
        ("c", "Thanks. I'm moving to Rotterdam next month, to Kingsley Road."),
    ]
    filler, out = play(turns)
    assert out == [] and filler.values() == {}


def test_agent_readback_adds_evidence_and_confidence():
    turns = [("a", "Can I take your BSN?"),
             ("c", "Seven three four, nine nine oh, three five two."),
             ("a", "Seven three four, nine nine oh, three five two. Thank you.")]
    filler, out = play(turns)
    fv = filler.current()["bsn"]
    assert fv.value == "734990352" and len(fv.evidence) == 2
    assert fv.evidence[1].speaker == "agent"
    assert out[-1] is fv and fv.confidence > 0.9


def test_a_no_to_the_agents_readback_takes_the_value_off_the_form():
    turns = [("a", "And your postcode?"), ("c", "S E fifteen, four R G."),
             ("a", "S E fifteen, four R G, is that right?"), ("c", "No.")]
    filler, out = play(turns)
    assert filler.values() == {}
    assert filler.current()["postcode"].confidence < 0.5 and out[-1].value == "SE15 4RG"


def test_a_correction_after_the_agents_readback():
    turns = [("a", "Can I take your customer number?"),
             ("c", "It's five one nine two, oh three seven four."),
             ("a", "Five one nine two, oh three seven four?"),
             ("c", "No, oh three seven five at the end. So five one nine two, oh three seven five.")]
    filler, out = play(turns)
    assert filler.values() == {"customer_number": "51920375"}
    assert out[-1].correction and out[-1].replaces == out[0].id


def test_a_no_to_another_question_leaves_the_readback_alone():
    turns = [("a", "Wat is uw e-mailadres?"), ("c", "w punt pronk apenstaartje example punt nl."),
             ("a", "W punt pronk apenstaartje example punt nl. En klopt uw adres nog, Kerkweg "
                   "zeventien, in Gouda?"),
             ("c", "Nee, we zijn net verhuisd.")]
    filler, _ = play(turns, "nl")
    assert filler.values() == {"email": "w.pronk@example.nl"}


def test_agent_statement_counts_once_the_caller_confirms():
    base = [("a", "Is your email still grace dot adeyemi at example dot net?")]
    filler, _ = play(base + [("c", "Yes, that's right.")])
    fv = filler.current()["email"]
    assert fv.value == "grace.adeyemi@example.net"
    assert [e.speaker for e in fv.evidence] == ["agent", "customer"]
    filler, _ = play(base + [("c", "No, I changed it last year.")])
    assert filler.values() == {}


def test_bad_iban_checksum_is_blocked_and_a_valid_one_later_is_proposed():
    turns = [
        ("a", "Wat is het nieuwe rekeningnummer?"),
        ("c", "N L zevenenveertig, T R I O, nul één negen acht, zeven zes vijf vier, drie zeven."),
        ("a", "Het controlegetal klopt niet, kunt u het nog eens controleren?"),
        ("c", "Sorry, het is N L eenenzeventig, T R I O, nul één negen acht, zeven zes vijf vier, drie zeven."),
    ]
    filler, out = play(turns, "nl")
    assert [fv.value for fv in out] == ["NL71TRIO0198765437"]
    assert out[0].correction is True and out[0].replaces is None


# Hand-labelled single exchanges: the many ways callers (and an ASR) say values.
VARIANTS = [
 ("en", [("a","What's the address?"),("c","It's fourteen twenty North Clark Street, Chicago.")], {"street_address":"1420 North Clark Street","city":"Chicago"}),
 ("nl", [("a","Wat is uw adres?"),("c","Damrak 1, in Amsterdam.")], {"street_address":"Damrak 1","city":"Amsterdam"}),
 ("nl", [("a","Wat is uw adres?"),("c","Biltstraat een vier vijf.")], {"street_address":"Biltstraat 145"}),
 ("en", [("a","And the street?"),("c","Kingsley Road."),("a","And the house number?"),("c","Forty-two, no sorry, twenty-four.")], {"street_address":"24 Kingsley Road"}),
 ("en", [("a","And your postcode?"),("c","S E fifteen, four R G."),("a","S E fifteen four R G?"),("c","No, it's R J, not R G.")], {"postcode":"SE15 4RJ"}),
 ("en", [("a","Can I take your customer number?"),("c","Sure, one second."),("a","No problem."),("c","Here it is: 5192 0374.")], {"customer_number":"51920374"}),
 ("en", [("a","And your postcode."),("c","It's S W one A, one A A.")], {"postcode":"SW1A 1AA"}),
 ("en", [("a","What number can we call you on?"),("c","It's (312) 555-0187.")], {"phone_number":"+13125550187"}),
 ("en", [("a","What number can we call you on?"),("c","Plus three one, six, one two eight seven, three three four oh.")], {"phone_number":"+31612873340"}),
 ("en", [("a","What number can we call you on?"),("c","+31 6 1287 3340.")], {"phone_number":"+31612873340"}),
 ("en", [("a","Can I take your account number?"),("c","I paid twelve thousand five hundred pounds last year, I don't have it.")], {}),
 ("en", [("a","And the code we sent you by text?"),("c","It's four eight two, nine one oh.")], {}),
 ("en", [("c","The code they sent me is four eight two nine one oh.")], {}),
 ("nl", [("a","Wat is uw e-mailadres?"),("c","a punt de jong apenstaartje example punt nl")], {"email":"a.dejong@example.nl"}),
 ("en", [("a","And your date of birth?"),("c","14th March 85.")], {"date_of_birth":"1985-03-14"}),
 ("en", [("a","And your date of birth?"),("c","It's March 14th, '85.")], {"date_of_birth":"1985-03-14"}),
 ("en", [("a","Can I take your name?"),("c","Sarah. Sarah Mitchell.")], {"full_name":"Sarah Mitchell"}),
 ("en", [("a","What's your sort code and account number?"),("c","Sort code four oh, five one, six seven, account number one two three four five six seven eight.")], {"account_number":"12345678"}),
 ("nl", [("a","Wat is uw postcode?"),("c","Dertig vijfendertig E M.")], {"postcode":"3035 EM"}),
 ("nl", [("a","Op welk nummer bent u bereikbaar?"),("c","Zes twee... nee, nul zes, twaalf, achtenzeventig, drieënveertig, eenentwintig.")], {"phone_number":"+31612784321"}),
 ("en", [("a","Could I get your email?"),("c","Yeah it's sarah dot mitchell at example dot com, all lower case.")], {"email":"sarah.mitchell@example.com"}),
 ("en", [("a","Can I take your full name?"),("c","It's Mitchell, Sarah Mitchell. M I T C H E double L.")], {"full_name":"Sarah Mitchell"}),
 ("en", [("a","And your postcode please?"),("c","Yeah, it's L S six, two Q T, that's Leeds.")], {"postcode":"LS6 2QT","city":"Leeds"}),
 ("nl", [("a","Mag ik uw geboortedatum?"),("c","Ja, dat is de veertiende maart negentien vijfentachtig.")], {"date_of_birth":"1985-03-14"}),
 ("nl", [("a","En uw IBAN?"),("c","NL91 ABNA 0417 1643 00.")], {"iban":"NL91ABNA0417164300"}),
 ("en", [("a","What's the IBAN?"),("c","N L nine one, A B N A, oh four one seven, one six four three, double oh.")], {"iban":"NL91ABNA0417164300"}),
 ("en", [("a","Can I have your policy number?"),("c","Yes, it's the one on my letter, P O L, seven seven one, four oh two.")], {"policy_number":"POL771402"}),
    ("en", [("a","Good morning, am I speaking with Mr Nathan Greaves?"),("c","Yes, speaking.")], {"full_name":"Nathan Greaves"}),
    ("nl", [("a","Goedemiddag, spreek ik met mevrouw Eva Hoekstra?"),("c","Nee, die is er niet.")], {}),
    ("en", [("a","And your postcode?"),("c","It's S.E. 15, 4 R.J.")], {"postcode":"SE15 4RJ"}),
    ("en", [("a","Can I take your name?"),("c","Sure, first name Nathan, surname Greaves, G-R-E-A-V-E-S.")], {"full_name":"Nathan Greaves"}),
    ("nl", [("a","Mag ik uw achternaam en voornaam?"),("c","Achternaam is van der Berg, voornaam Kees.")], {"full_name":"Kees van der Berg"}),
    ("en", [("a","And your date of birth?"),("c","Fourteen, three, eighty-five.")], {"date_of_birth":"1985-03-14"}),
    ("nl", [("a","Wat is uw geboortedatum?"),("c","Nul drie, nul zes, negentien negentig.")], {"date_of_birth":"1990-06-03"}),
    # what tiny.en wrote for synthetic speech: "gate of birth", "29th on February", digits with hyphens
    ("en", [("a","Thank you, and your name, and Gate of Birth."),("c","Carlos Mendes, 15th of June, 83.")], {"full_name":"Carlos Mendes","date_of_birth":"1983-06-15"}),
    ("en", [("a","And your date of birth?"),("c","It's the 29th on February 2000, leap year baby.")], {"date_of_birth":"2000-02-29"}),
    ("en", [("a","Can I take your account number?"),("c","3-0-6-6-9-1-2-0.")], {"account_number":"30669120"}),
    ("en", [("a","And the postcode?"),("c","13, 15, 4, 1, 8")], {}),
    ("en", [("a","And the first line of your address?"),("c","It's forty-seven Wilhelminastraat, in Haarlem.")], {"street_address":"Wilhelminastraat 47","city":"Haarlem"}),
    ("en", [("a","Can you confirm your address?"),("c","Van Baerlestraat one hundred and twelve, second floor. Amsterdam.")], {"street_address":"Van Baerlestraat 112","city":"Amsterdam"}),
    ("nl", [("a","Wat is uw adres?"),("c","De Biltstraat honderdvijfenveertig.")], {"street_address":"Biltstraat 145"}),
    ("nl", [("a","Mag ik uw e-mailadres?"),("c","r.smit@example.nl"),("a","Naam is Ruud Smit, klopt dat?"),("c","Ja, dat klopt.")], {"email":"r.smit@example.nl","full_name":"Ruud Smit"}),
    ("en", [("a","Can I take your customer number?"),("c","I don't have it, but the reference number on the letter is 4471 2290.")], {}),
    ("en", [("a","And your account number?"),("c","Sort code four oh, five one, six seven, and the account number is one two three four, five six seven eight.")], {"account_number":"12345678"}),
    ("nl", [("a","Mag ik uw klantnummer?"),("c","Dat weet ik niet, het klachtnummer is K L M vier vier zes nul negen.")], {}),
    ("en", [("a","Who am I speaking to?"),("c","It's Doctor Sarah Mitchell.")], {"full_name":"Sarah Mitchell"}),
    ("en", [("a","And your email?"),("c","emily dot tremblay at example dot ca.")], {"email":"emily.tremblay@example.ca"}),
    ("nl", [("a","Wat is uw klantnummer?"),("c","B E, streepje, vier vier één negen zeven twee.")], {"customer_number":"BE441972"}),
    ("nl", [("a","Mag ik uw geboortedatum?"),("c","12 april 1975."),("c","Kunnen de punten naar mijn zoon? Hij is geboren op 3 maart 2004.")], {"date_of_birth":"1975-04-12"}),
    ("en", [("a","And your date of birth?"),("c","The fifth of May, nineteen eighty."),("c","I was born on the sixth of May, nineteen eighty, as it happens, it's my twin's birthday.")], {"date_of_birth":"1980-05-05"}),
    ("nl", [("a","Genoteerd."),("c","Dank u. En mijn naam is trouwens Gerrit Hendriks, voor als u belt.")], {"full_name":"Gerrit Hendriks"}),
    ("en", [("a","Can I take your name?"),("c","Sorry, what? Oh. Yes, it's Natalie Brooks.")], {"full_name":"Natalie Brooks"}),
    ("nl", [("a","En uw postcode en huisnummer?"),("c","Drieëntwintig twaalf, K L, nummer zevenendertig."),("a","Dank u. Dat is Breestraat zevenendertig?"),("c","Ja, klopt.")], {"postcode":"2312 KL","street_address":"Breestraat 37"}),
    ("en", [("a","Did you get the other driver's details?"),("c","Yes, his phone is oh seven seven double oh, nine double oh, six one two."),("a","And his insurer?"),("c","He said Beacon as well, policy C A R, three three one, four four, eight.")], {}),
    # Belgian callers: 04.. is a Belgian mobile once the caller says where they live
    ("nl", [("c","Ik woon in België, in Gent."),("a","Op welk nummer kunnen we u bereiken?"),("c","Nul vier zevenenzeventig, twaalf, vierendertig, zesenvijftig.")], {"phone_number":"+32477123456"}),
    ("nl", [("a","Op welk nummer kunnen we u bereiken?"),("c","Nul vier vijfenzeventig, twaalf, vierendertig, zesenvijftig.")], {"phone_number":"+31475123456"}),
]


@pytest.mark.parametrize("language,turns,expected", VARIANTS)
def test_spoken_variants_in_context(language, turns, expected):
    filler, _ = play(turns, language)
    assert filler.values() == expected
    check_evidence(filler, turns)


# ----------------------------------------------------------------------------- corrections


def test_self_correction_no_sorry():
    turns = [("a", "Can I take your customer number?"),
             ("c", "It's four two seven one, eight eight. No, sorry, it's four two seven one, nine eight.")]
    _, out = play(turns)
    assert [(fv.value, fv.correction) for fv in out] == [("427188", False), ("427198", True)]
    assert out[1].replaces == out[0].id


def test_self_correction_dutch_nee_wacht():
    turns = [("a", "En het nieuwe mobiele nummer?"),
             ("c", "Nul zes, tweeënveertig, negentien, zevenentachtig, dertien. Nee wacht, het eind "
                   "is eenendertig.")]
    _, out = play(turns, "nl")
    assert [(fv.value, fv.correction) for fv in out] == [("+31642198713", False),
                                                         ("+31642198731", True)]
    assert out[1].replaces == out[0].id
    assert out[1].evidence[0].text == "eenendertig"


def test_correction_last_two_digits_not():
    turns = [("a", "What number can we reach you on?"),
             ("c", "Oh seven seven double oh, nine double oh, four oh two."),
             ("a", "Thanks."),
             ("c", "Sorry, the last two digits are twenty, not oh two.")]
    _, out = play(turns)
    assert [fv.value for fv in out] == ["+447700900402", "+447700900420"]
    assert out[1].correction and out[1].replaces == out[0].id


def test_correction_of_the_birth_year_only():
    turns = [("a", "Your name and date of birth?"),
             ("c", "Sven Lindqvist, born the twelfth of February, nineteen ninety. Wait, no, "
                   "nineteen ninety-one.")]
    filler, out = play(turns)
    assert filler.values() == {"full_name": "Sven Lindqvist", "date_of_birth": "1991-02-12"}
    assert out[-1].correction and out[-1].evidence[0].text == "nineteen ninety-one"


def test_correction_i_mean_last_digits():
    turns = [("a", "And the new mobile?"),
             ("c", "Oh seven seven double oh, nine double oh, five two six. I mean, five two nine.")]
    _, out = play(turns)
    assert [(fv.value, fv.correction) for fv in out] == [("+447700900526", False),
                                                         ("+447700900529", True)]


def test_i_mean_with_more_than_digits_is_not_a_patch():
    turns = [("a", "And the address?"),
             ("c", "It's forty-two Elm Street, I mean twenty-four Elm Street.")]
    filler, out = play(turns)
    assert filler.values() == {"street_address": "24 Elm Street"} and out[-1].correction


def test_correction_not_underscore_its_a_dot():
    turns = [("a", "What's the new email?"),
             ("c", "It's mia underscore chen at example dot org. No, sorry, not underscore, "
                   "it's a dot.")]
    _, out = play(turns)
    assert [fv.value for fv in out] == ["mia_chen@example.org", "mia.chen@example.org"]
    assert out[1].correction and out[1].replaces == out[0].id


def test_correction_of_a_spoken_house_number():
    turns = [("a", "And the address?"),
             ("c", "It's forty-two Elm Street, no sorry, twenty-four Elm Street.")]
    filler, out = play(turns)
    assert filler.values() == {"street_address": "24 Elm Street"}
    assert out[-1].correction and out[-1].replaces == out[0].id


# ----------------------------------------------------------------------------- human in charge


def test_accepted_value_is_never_overwritten():
    filler, out = play([("a", "Can I take your customer number?"), ("c", "It's five five one, two two nine.")])
    fv = out[0]
    filler.apply_feedback(fv.id, "accept")
    later = filler.on_segment(Segment("x", "customer", "No sorry, it's five five one, two two eight."))
    assert later == []
    assert filler.values() == {"customer_number": "551229"}
    assert filler.current()["customer_number"].status == "accepted"
    assert filler.propose("customer_number", "551228", 0.9) is None


def test_edited_value_wins_and_locks_the_field():
    filler, out = play([("a", "And your postcode?"), ("c", "S E fifteen, four R J.")])
    filler.apply_feedback(out[0].id, "edit", "se15 4rg")
    assert filler.values() == {"postcode": "SE15 4RG"}
    assert filler.on_segment(Segment("x", "customer", "Postcode S W one, one A A.")) == []
    assert filler.values()["postcode"] == "SE15 4RG"


def test_dismissed_value_is_not_reproposed_but_a_new_one_is():
    filler, out = play([("a", "And your date of birth?"), ("c", "Third of June, nineteen ninety.")])
    filler.apply_feedback(out[0].id, "dismiss")
    assert filler.values() == {}
    again = filler.on_segment(Segment("x", "customer", "Born the third of June, nineteen ninety."))
    assert again == []
    other = filler.on_segment(Segment("y", "customer", "Sorry, born the fourth of June, nineteen ninety."))
    assert [fv.value for fv in other] == ["1990-06-04"]


# ----------------------------------------------------------------------------- whose values


def test_a_friends_policy_number_is_not_the_callers():
    turns = [("a", "Can I take your policy number?"), ("c", "It's T R, nine oh four, triple one, six."),
             ("c", "My friend is on her own policy. Her policy number is T R, nine oh four, two two "
                   "two, eight.")]
    filler, _ = play(turns)
    assert filler.values() == {"policy_number": "TR9041116"}


def test_third_party_details_are_not_the_callers():
    turns = [
        ("a", "Can I take your date of birth?"),
        ("c", "The ninth of May, nineteen seventy. My wife's date of birth is the first of April, "
              "nineteen seventy-two, if you need it."),
        ("a", "And your partner's mobile number?"),
        ("c", "Oh seven seven double oh, nine double oh, one one one."),
        ("c", "Her email is lucy dot ward at example dot com."),
    ]
    filler, _ = play(turns)
    assert filler.values() == {"date_of_birth": "1970-05-09"}


def test_dutch_third_party_and_other_driver():
    turns = [
        ("a", "Wat is uw polisnummer?"),
        ("c", "K A, vier vier twee, negen nul één, acht."),
        ("a", "Heeft u de gegevens van de andere bestuurder?"),
        ("c", "Ja, zijn telefoonnummer is nul zes, achtentwintig, vijftig, zeventien, drieënnegentig."),
        ("a", "En zijn polisnummer?"),
        ("c", "W Z, drie drie één, zeven zeven acht, twee."),
        ("a", "En wat is de geboortedatum van uw zoon?"),
        ("c", "Drie juli tweeduizend acht."),
        ("c", "Mijn man zijn geboortedatum is vijf mei negentienhonderdtachtig."),
    ]
    filler, _ = play(turns, "nl")
    assert filler.values() == {"policy_number": "KA4429018"}


def test_bereavement_account_is_the_case_but_the_deceaseds_birthday_is_not():
    turns = [
        ("c", "Hello. My mother passed away last month and I need to let you know."),
        ("a", "I'm so sorry for your loss. Can I take your name?"),
        ("c", "Yes, it's Daniel Okafor."),
        ("a", "And your mother's date of birth?"),
        ("c", "The second of February, nineteen forty-eight."),
        ("a", "Do you have her IBAN?"),
        ("c", "G B zero two, H R B B, four zero five one, six seven one two, three four five six, seven eight."),
    ]
    filler, _ = play(turns)
    assert filler.values() == {"full_name": "Daniel Okafor", "iban": "GB02HRBB40516712345678"}


@pytest.mark.parametrize(
    "turns,language",
    [
        ([("c", "Can you set it up? My passcode is one nine four four, two one."),
          ("a", "Please never tell anyone your passcode.")], "en"),
        ([("a", "Can I take your customer number?"),
          ("c", "Sure. Oh, and my PIN is four four one two, five five six seven.")], "en"),
        ([("c", "Mijn pincode is nul vier zeven twee, acht acht."),
          ("a", "Noem uw pincode nooit.")], "nl"),
        ([("a", "And the three digits on the back of the card?"),
          ("c", "Seven one two.")], "en"),
        ([("c", "The card number is four one one one, one one one one, one one one one, "
                "one one one one.")], "en"),
    ],
)
def test_secrets_are_never_captured(turns, language):
    filler, out = play(turns, language)
    assert out == [] and filler.values() == {}


def test_old_values_are_not_current():
    turns = [("a", "What's your phone number?"),
             ("c", "My old number was oh seven seven double oh, nine double oh, one two three, "
                   "the new one is oh seven seven double oh, nine double oh, four five six.")]
    filler, _ = play(turns)
    assert filler.values() == {"phone_number": "+447700900456"}


def test_names_need_two_words_and_skip_greetings():
    _, out = play([("c", "Goedemiddag, met Yildiz. Ik heb een klacht.")], "nl")
    assert out == []
    filler, _ = play([("c", "Hi, yeah, my name is Tom O'Brien, I'm calling about my bill.")])
    assert filler.values() == {"full_name": "Tom O'Brien"}
    filler, _ = play([("a", "Wat is uw naam?"), ("c", "Ja, dat is Fatima el Amrani.")], "nl")
    assert filler.values() == {"full_name": "Fatima el Amrani"}


def test_spelling_fixes_an_asr_misspelt_surname():
    filler, _ = play([("a", "Can I take your full name?"), ("c", "Nathan Greeves, G-R-E-A-V-E-S.")])
    assert filler.values() == {"full_name": "Nathan Greaves"}


# ----------------------------------------------------------------------------- evidence


def test_evidence_times_come_from_word_times():
    filler = FormFiller(today=TODAY)
    filler.on_segment(Segment("a1", "agent", "And your postcode?", 0.0, 1.5))
    text = "Sure, it's S E fifteen, four R J."
    spoken = ["Sure,", "it's", "S", "E", "fifteen,", "four", "R", "J."]
    words = tuple(Word(w, 2.0 + 0.4 * i, 2.3 + 0.4 * i) for i, w in enumerate(spoken))
    (fv,) = filler.on_segment(Segment("c1", "customer", text, 2.0, 5.5, words=words))
    (ev,) = fv.evidence
    assert (ev.text, ev.char_start, ev.char_end) == ("S E fifteen, four R J", 11, 32)
    assert ev.start == pytest.approx(2.8) and ev.end == pytest.approx(5.1)


def test_to_event_shape():
    _, out = play([("a", "And your postcode?"), ("c", "S E fifteen, four R J.")])
    ev = out[0].to_event()
    assert set(ev) == {"type", "id", "field", "label", "value", "confidence", "evidence", "status",
                       "replaces", "correction", "source", "display", "alternatives", "heard", "valid",
                       "confirmed"}
    assert ev["type"] == "FormValue" and ev["id"] == "fv-1" and ev["label"] == "Postcode"
    assert ev["evidence"][0]["segment_id"] == "s1" and 0 < ev["confidence"] <= 1


# ----------------------------------------------------------------------------- LLM path


def test_propose_accepts_values_said_in_some_spoken_form():
    turns = [("c", "Hi, I'm calling about my account, it's Nathan Greaves."),
             ("c", "Leap year baby, the twenty-ninth of February, two thousand."),
             ("c", "The policy is H C seven one one, six four oh, two eight."),
             ("c", "You can ring me on oh seven seven double oh, nine double oh, oh seven eight.")]
    filler, _ = play(turns)
    fv = filler.propose("date_of_birth", "2000-02-29", 0.8)
    assert fv is not None and fv.source == "llm" and fv.evidence[0].segment_id == "s1"
    assert filler.propose("policy_number", "hc 711 640 28", 0.8).value == "HC71164028"
    assert filler.propose("phone_number", "07700 900078", 0.8).value == "+447700900078"
    assert filler.propose("date_of_birth", "2000-03-01", 0.8) is None  # never said
    assert filler.propose("email", "nathan@example.com", 0.9) is None
    assert filler.propose("no_such_field", "x", 0.9) is None


def test_propose_respects_the_agent_lock():
    filler, out = play([("a", "And your name?"), ("c", "Grace Adeyemi.")])
    filler.apply_feedback(out[0].id, "edit", "Grace Adeyemi-Jones")
    assert filler.propose("full_name", "Grace Adeyemi", 0.9) is None
    assert filler.values() == {"full_name": "Grace Adeyemi-Jones"}


# ----------------------------------------------------------------------------- forms, speed, scores


def test_identity_form_yaml():
    form = load_form()
    assert {"full_name", "date_of_birth", "phone_number", "email", "account_number", "iban",
            "street_address", "postcode", "city", "customer_number", "policy_number",
            "bsn"} <= set(form.field_ids)
    f = form.field("iban")
    assert f is not None and f.pii and f.label_for("nl") == "IBAN"
    assert form.field("postcode").pii is False


def test_forms_dir_override(tmp_path, monkeypatch):
    (tmp_path / "forms").mkdir()
    (tmp_path / "forms" / "mini.yaml").write_text(
        "name: mini\nfields:\n  - {id: zip, type: postcode, label: ZIP, cues: [zip]}\n")
    monkeypatch.setenv("SOUFFLEUR_PROMPTS_DIR", str(tmp_path))
    form = load_form("mini")
    filler = FormFiller(form, today=TODAY)
    filler.on_segment(Segment("a", "agent", "What's your zip?"))
    filler.on_segment(Segment("b", "customer", "Six oh six one four."))
    assert filler.values() == {"zip": "60614"}


def test_score_form_and_aggregate():
    sc = score_form({"email": "a@b.co", "iban": "NL00X", "city": "den haag"},
                    {"email": "a@b.co", "iban": "NL56RABO9990698929", "city": "Den Haag",
                     "bsn": "734990352"})
    assert sc["email"] == {"tp": 1, "fp": 0, "fn": 0}
    assert sc["iban"] == {"tp": 0, "fp": 1, "fn": 1}
    assert sc["city"]["tp"] == 1 and sc["bsn"] == {"tp": 0, "fp": 0, "fn": 1}
    agg = aggregate([sc])
    assert agg["all"]["precision"] == pytest.approx(2 / 3) and agg["all"]["recall"] == 0.5


def test_correction_report():
    first = FormValue("fv-1", "email", "a_b@example.com", 0.9, [])
    final = FormValue("fv-2", "email", "a.b@example.com", 0.9, [], replaces="fv-1", correction=True)
    lab = [{"field": "email", "first_value": "a_b@example.com", "final_value": "a.b@example.com"}]
    assert correction_report([first, final], lab)["handled"] == 1
    unflagged = FormValue("fv-2", "email", "a.b@example.com", 0.9, [], replaces="fv-1")
    assert correction_report([first, unflagged], lab)["handled"] == 0


def test_run_call_on_a_labelled_file():
    r = run_call(DATA / "own_nl_02.json")
    assert r["form"] == r["expected"]
    assert r["corrections"]["handled"] == 1 and r["values_without_evidence"] == 0


def _quality(paths):
    res = evaluate(paths)
    assert res["values_without_evidence"] == 0
    for lang, agg in res["by_language"].items():
        assert agg["all"]["precision"] >= 0.95, (lang, agg["all"])
        assert agg["all"]["recall"] >= 0.85, (lang, agg["all"])
    return res


def test_quality_on_own_labelled_calls():
    res = _quality(call_files(DATA))
    assert set(res["by_language"]) == {"en", "nl"}
    assert res["corrections"]["handled"] == res["corrections"]["labelled"]


def test_quality_on_dev_calls():
    res = _quality(call_files(DEV_CALLS))
    assert set(res["by_language"]) == {"en", "nl"}


def test_propose_finds_spoken_streets_and_names():
    turns = [("c", "Ik woon op de Laan van Meerdervoort tweehonderdtien in Den Haag."),
             ("c", "Met Lotte van Dam trouwens.")]
    filler, _ = play(turns, "nl")
    fv = filler.propose("street_address", "Laan van Meerdervoort 210", 0.8)
    assert fv is not None and fv.evidence[0].text == "Laan van Meerdervoort tweehonderdtien"
    assert filler.propose("city", "den haag", 0.8) is not None
    assert filler.propose("street_address", "Laan van Meerdervoort 12", 0.8) is None


WORDS = ["five", "oh", "double", "N", "L", "at", "dot", "com", "example", "nul", "zes",
         "twintig", "my", "number", "is", "postcode", "S", "E", "fifteen", "no", "sorry", ",",
         ".", "Biltstraat", "Road", "March", "14th", "1985", "apenstaartje", "punt", "not",
         "underscore", "his", "PIN", "Greaves", "Nathan", "G-R-E", "I", "mean", "twenty-four"]


@given(st.lists(st.tuples(st.sampled_from(["a", "c"]),
                          st.lists(st.sampled_from(WORDS), min_size=1, max_size=25)),
                min_size=1, max_size=6))
@settings(max_examples=150, deadline=None)
def test_any_text_gives_only_evidenced_values(turns):
    """Whatever is said, every suggestion points at text that is really there."""
    script = [(who, " ".join(words)) for who, words in turns]
    filler, _ = play(script)
    check_evidence(filler, script)
    for fv in filler.suggestions():
        assert 0.0 <= fv.confidence <= 1.0
