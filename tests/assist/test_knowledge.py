"""Knowledge lookup: the right passage for real questions, nothing for off-topic ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from assist.engine import AssistSession
from assist.knowledge import KnowledgeBase, parse_markdown, question_spans
from tests.assist.helpers import script


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.from_dir()


@pytest.mark.parametrize("question,lang,doc,words", [
    ("What is the single item limit on my contents cover?", "en", "home-valuables.md", "2,000"),
    ("How long does a replacement card take to arrive?", "en", "card-replacement.md", "3 to 5 working days"),
    ("Is there compensation when my broadband is down for days?", "en", "outage-compensation.md", "9.76"),
    ("How do I keep my number when I switch provider?", "en", "mobile-contracts.md", "PAC"),
    ("Is winter sports covered on my travel insurance?", "en", "travel-insurance.md", "Winter Sports add-on"),
    ("What's the cash-back on supermarket purchases with the rewards card?", "en", "rewards-card.md", "2.5%"),
    ("Hoeveel kost een parkeervergunning in zone Centrum?", "nl", "gemeente-parkeervergunning.md", "98,10"),
    ("Wat is het eigen risico dit jaar?", "nl", "zorgverzekering-eigen-risico.md", "385"),
    ("Wat moet ik meenemen voor een nieuw paspoort?", "nl", "gemeente-paspoort-id.md", "pasfoto"),
    ("Kan ik mijn klacht voorleggen aan de Geschillencommissie?", "nl", "klachtenprocedure.md", "Geschillencommissie"),
])
def test_right_passage_for_real_questions(kb, question, lang, doc, words):
    hit = kb.answer(question, lang)
    assert hit is not None, question
    assert hit.passage.doc == doc
    assert words in hit.passage.text
    # a passage, not the whole document
    whole = (Path(kb.source) / doc).read_text(encoding="utf-8")
    assert len(hit.passage.text) < len(whole) / 2
    assert 0.0 < hit.confidence <= 1.0


@pytest.mark.parametrize("question,lang", [
    ("What's the weather going to be like in Amsterdam tomorrow?", "en"),
    ("Did you watch the football last night?", "en"),
    ("Can you recommend a good restaurant near the station?", "en"),
    ("Is that okay?", "en"),
    ("Heeft u het voetbal gezien gisteren?", "nl"),
    ("Hoe laat is het eigenlijk?", "nl"),
    ("Wat vindt u van het nieuwe kabinet?", "nl"),
])
def test_nothing_for_off_topic_questions(kb, question, lang):
    assert kb.answer(question, lang) is None


def test_elliptical_question_uses_call_topic(kb):
    context = ["Gemeente Utrecht, goedemorgen.", "Ik wil een parkeervergunning aanvragen voor de binnenstad.",
               "Dat kan online met DigiD."]
    hit = kb.answer("En wat kost het?", "nl", context=context)
    assert hit is not None and hit.passage.doc == "gemeente-parkeervergunning.md"
    assert "€" in hit.passage.text


def test_already_shown_best_passage_is_not_replaced_by_a_runner_up(kb):
    first = kb.answer("How long does a replacement card take to arrive?", "en")
    assert first is not None
    again = kb.answer("How long does a replacement card take to arrive?", "en",
                      exclude=[first.passage.passage_id])
    assert again is None


def test_parse_markdown_folds_sub_bullets_and_keeps_headings():
    md = "# Title\n\n## Section A\n- Parent bullet:\n  - child one\n  - child two\n- Second\n\nA paragraph.\n"
    ps = parse_markdown("x.md", md)
    assert [p.text for p in ps] == ["Parent bullet: child one child two", "Second", "A paragraph."]
    assert {p.heading for p in ps} == {"Section A"} and ps[0].title == "Title"


def test_kb_dir_from_env(tmp_path: Path, monkeypatch):
    (tmp_path / "pets.md").write_text("# Pet policy\n\n- Dogs are allowed in the office on Fridays.\n")
    monkeypatch.setenv("SOUFFLEUR_KB_DIR", str(tmp_path))
    kb = KnowledgeBase.from_dir()
    hit = kb.answer("Are dogs allowed in the office?", "en")
    assert hit is not None and hit.passage.doc == "pets.md"


def test_question_detection_en_nl():
    assert question_spans("Right. And what does it cost?", "en")
    assert question_spans("Komt die nieuwe pas naar mijn nieuwe adres", "nl")
    assert not question_spans("Thanks, that's all.", "en")
    assert not question_spans("Dank u wel.", "nl")


def test_engine_emits_knowledge_answer_with_evidence_on_question_only():
    s = AssistSession("k1", "en")
    segs = script(["A: Beacon Insurance, how can I help?",
                   "C: I'd like to add my partner to my travel insurance. Can I do that mid-year?",
                   "A: Let me check.", "C: Thanks, lovely weather today."])
    events = [e for seg in segs for e in s.on_segment(seg)]
    kb = [e for e in events if e["type"] == "KnowledgeAnswer"]
    assert len(kb) == 1
    answer = kb[0]
    assert answer["doc"] == "travel-insurance.md" and "partner" in answer["text"].lower()
    ev = answer["evidence"][0]
    assert ev["segment_id"] == "t1" and ev["text"] in segs[1].text and "?" in ev["text"]


def test_cross_language_lookup_through_the_glossary(kb):
    # the card-region rule exists only in the Dutch section; the question is English
    hit = kb.answer("Can I use my card outside Europe?", "en")
    assert hit is not None and hit.passage.doc == "card-replacement.md" and "Wereld" in hit.passage.text
    # and an English-only policy answers a Dutch question
    hit = kb.answer("Krijg ik een vervangende auto als mijn auto gerepareerd wordt na een ongeluk?", "nl")
    assert hit is not None and hit.passage.doc == "car-claims.md"
