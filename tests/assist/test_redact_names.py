"""Redaction with no form: names (misheard ones too), spelled runs, addresses, e-mails
said aloud, English and Dutch; and ordinary speech left alone (issue 16)."""

from __future__ import annotations

import json

import pytest

from assist.redact import Redactor, redaction_kinds


def record(text: str, start: float = 0.0) -> dict:
    """A `Record` as the stored log holds it (docs/protocol.md), words included."""
    words = [{"word": w.strip(".,?!").lower(), "punctuated_word": w} for w in text.split()]
    return {"type": "Record", "call_id": "c", "record_id": f"r{start}", "start": start,
            "channel_index": [1, 2], "channel": {"alternatives": [{"transcript": text, "words": words}]}}


def stored(r: Redactor, text: str, start: float = 0.0) -> str:
    """The event as stored (JSON), transcript and words."""
    return json.dumps(r.event(record(text, start)))


def test_misheard_name_after_my_name_is_is_redacted_in_the_stored_log():
    r = Redactor()
    out = stored(r, "My name is Chivon Kelly, Chivon is S-I-O-B-H-N, it's Irish.")
    assert "Chivon" not in out and "Kelly" not in out and "S-I-O-B-H-N" not in out
    assert "[name]" in out and "[spelled]" in out and "Irish" in out and "My name is" in out
    # the same call later: the name it learnt is removed wherever it recurs
    assert "Chivon" not in stored(r, "Okay Chivon, one moment.", 5.0)


def test_misheard_name_without_a_cue_is_redacted():
    """The brief's stored log: the cue was in an earlier utterance; the surname and the
    spelling next to the first name still give it away."""
    out = Redactor().text("Chivon Kelly, Chivon is S-I-O-B-H-N, it's Irish")
    assert "Chivon" not in out and "Kelly" not in out and "S-I-O" not in out
    assert out.endswith("it's Irish")


def test_a_surname_heard_as_an_everyday_word_is_redacted_beside_its_spelling():
    # heldout_en_04 through tiny.en: "Rhiannon Pryce. That's P-R-Y-C-E, with a Y."
    r = Redactor()
    out = stored(r, "Rhiannon in price. That's P-R-Y-C-E, with a Y.")
    assert "price" not in out and "Rhiannon" not in out, out
    # the everyday word is not removed from later turns for it
    assert "what price did" in stored(r, "And what price did they quote you?", 5.0)


def test_name_addressed_by_the_agent_is_redacted():
    assert Redactor().text("Thank you, Jevon, and your date of birth.") == \
        "Thank you, [name], and your date of birth."
    assert "Kelly" not in Redactor().text("Lovely, thanks Mrs Kelly.")
    assert "Grace" not in Redactor().text("That's all done for you, Grace.")


@pytest.mark.parametrize("said", [
    "It's S-I-O-B-H-A-N.",
    "S I O B H A N",
    "Sierra India Oscar Bravo Hotel Alpha November.",
    "That's Sierra, India, Oscar, one two.",
    "Met een S van Simon, I van Izaak, O van Otto.",
    "Hoekstra, H van Hendrik, O, E, K.",
    "Greaves, G for George, R, E, A, V, E, S.",
])
def test_spelled_runs_are_redacted(said):
    out = Redactor().text(said)
    letters = [w for w in out.replace(",", " ").replace(".", " ").split() if len(w) == 1]
    assert "[spelled]" in out and not letters, out
    for word in ("Sierra", "India", "Simon", "Izaak", "Otto", "George", "Hendrik"):
        assert word not in out


@pytest.mark.parametrize("said,gone", [
    ("I live at 12 Baker Street now.", ["12", "Baker"]),
    ("It's flat 3, 22 Mill Road, Leeds.", ["3", "22", "Mill", "Leeds"]),
    ("My new address is twenty-four Kingsley Road.", ["twenty", "Kingsley"]),
    ("Ik woon op de Keizersgracht 123.", ["Keizersgracht", "123"]),
    ("Dorpsstraat 4a, 1234 AB Amsterdam.", ["Dorpsstraat", "4a", "1234", "AB"]),
    ("Laan van Meerdervoort tweehonderdtien, in Den Haag.", ["Meerdervoort", "tweehonderdtien"]),
    ("The postcode is SW1A 1AA.", ["SW1A", "1AA"]),
])
def test_addresses_with_house_numbers_and_postcodes_are_redacted(said, gone):
    out = Redactor().text(said)
    for w in gone:
        assert w not in out, out


@pytest.mark.parametrize("said", [
    "It's grace dot adeyemi at example dot net.",
    "Mijn e-mail is m punt yildiz apenstaartje example punt com.",
    "eva punt hoekstra apenstaartje example punt nl",
])
def test_email_said_aloud_is_redacted(said):
    out = Redactor().text(said)
    assert "[email]" in out and "example" not in out and "adeyemi" not in out and "yildiz" not in out


@pytest.mark.parametrize("said,gone", [
    ("Goedemorgen, u spreekt met Lotte van Dam.", ["Lotte", "Dam"]),
    ("Met Mehmet Yildiz.", ["Mehmet", "Yildiz"]),
    ("Mijn naam is Eva Hoekstra.", ["Eva", "Hoekstra"]),
    ("Dank u, meneer Jansen. Mag ik uw geboortedatum?", ["Jansen"]),
    ("Ik ben Pieter-Jan de Vries.", ["Pieter-Jan", "Vries"]),
    ("Prima, mevrouw El Amrani, dat is genoteerd.", ["Amrani"]),
])
def test_dutch_names(said, gone):
    out = Redactor().text(said)
    for w in gone:
        assert w not in out, out
    assert "[name]" in out


def test_the_answer_to_a_name_question_is_a_name():
    """No cue in the answer itself: the agent's question is the cue."""
    r = Redactor()
    r.event(record("Thank you. And your name and date of birth?", 0.0))
    out = stored(r, "Olumide Adebayo. Born on the ninth of January, nineteen ninety-one.", 1.0)
    assert "Olumide" not in out and "Adebayo" not in out
    r.event(record("En het huisnummer?", 2.0))
    assert "Zesentachtig" not in stored(r, "Zesentachtig.", 3.0)


def test_names_learnt_later_are_reported_for_the_retroactive_pass():
    r = Redactor()
    r.text("My name is Siobhan Kelly.")
    assert set(r.learned()) >= {"siobhan", "kelly"} and r.learned() == []
    assert r.text("Siobhan") == "[name]"


@pytest.mark.parametrize("said", [
    "Good morning, Harbour Bank, you're through to customer services. How can I help?",
    "Thanks for calling. Will you be at home on Friday?",
    "It's Irish, and I'm Dutch by the way.",
    "Mark the date: the replacement card arrives in three to five working days.",
    "Grace period is fourteen days. Bank transfers take a day.",
    "The Financial Ombudsman Service is free.",
    "Goedemorgen, waarmee kan ik u helpen? Het duurt vijf werkdagen.",
    "Dat klopt. Ik ben blij dat het gelukt is. De nieuwe pas komt naar Utrecht.",
    "Is that the A or the B option? I'm moving to the U.S. next month.",
    "Can I take your name, please?",
])
def test_ordinary_words_and_sentence_starts_are_kept(said):
    assert Redactor().text(said) == said


def test_deepgram_redact_values_pick_the_kinds():
    assert redaction_kinds(["name"]) == {"name", "spelled"}
    assert "name" not in redaction_kinds(["pci"]) and "number" in redaction_kinds(["pci"])
    assert redaction_kinds(["pii"]) >= {"name", "email", "address", "number"}
    assert redaction_kinds(["something_new"]) == redaction_kinds(["pii"])  # unknown: everything
    only_names = Redactor(kinds=redaction_kinds(["name"]))
    assert only_names.text("My name is Chivon Kelly, card 4111 1111 1111 1111.") == \
        "My name is [name], card 4111 1111 1111 1111."
