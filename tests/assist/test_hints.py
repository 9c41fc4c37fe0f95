"""Playbook triggers (en + nl), de-duplication, rate limiting and 'already done'."""

from __future__ import annotations

from pathlib import Path

import pytest

from assist.engine import AssistSession
from assist.playbooks import load_playbook
from tests.assist.helpers import script


def run(lines: list[str], language: str = "en") -> tuple[AssistSession, list[dict]]:
    s = AssistSession("c1", language, kb=False)
    events = []
    for seg in script(lines, language):
        events += s.on_segment(seg)
    return s, events


def shown(events: list[dict]) -> list[str]:
    return [e["rule"] for e in events if e["type"] == "Hint" and e["status"] == "shown"]


def hint_at(events: list[dict], rule: str) -> dict:
    return next(e for e in events if e["type"] == "Hint" and e["rule"] == rule and e["status"] == "shown")


def test_playbooks_load_and_validate():
    book = load_playbook()
    ids = [h.id for h in book.hints]
    assert len(ids) == len(set(ids))
    for required in ("verify_identity", "never_take_passcode", "check_card_block", "read_back_address",
                     "log_formal_complaint", "ai_written_complaint", "one_retention_offer",
                     "bereavement_care", "hardship_care", "remove_lost_device"):
        assert required in ids
    for h in book.hints:
        assert h.text["en"] and h.text["nl"]


def test_broken_playbook_fails_at_load(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text(
        "hints:\n  - id: x\n    when: {intents: [no_such_intent]}\n    text: {en: a, nl: b}\n")
    with pytest.raises(ValueError, match="unknown intents"):
        load_playbook(tmp_path)


def test_identity_hint_before_account_talk_en():
    _, ev = run(["A: Harbour Bank, how can I help?",
                 "C: Hi, my card keeps getting declined in shops, what's going on?"])
    h = hint_at(ev, "verify_identity")
    assert h["evidence"][0]["segment_id"] == "t1"
    assert "declined" in h["evidence"][0]["text"]
    assert "check_card_block" in shown(ev)


def test_identity_hint_not_shown_when_agent_already_verified():
    _, ev = run(["A: Good morning. Can I take your date of birth and customer number first?",
                 "C: Fifth of May eighty. It's one two three four five six.",
                 "A: Thanks, you're verified.",
                 "C: My card was declined yesterday."])
    assert "verify_identity" not in shown(ev)
    assert "check_card_block" in shown(ev)


def test_identity_hint_nl_and_done_marking():
    _, ev = run(["A: Harbour Bank, goedemorgen.",
                 "C: Ik ben verhuisd en wil mijn adres wijzigen.",
                 "A: Dat regel ik. Wat is uw geboortedatum?"], "nl")
    h = hint_at(ev, "verify_identity")
    assert h["language"] == "nl" and "identiteit" in h["text"]
    done = [e for e in ev if e["type"] == "Hint" and e["status"] == "done"]
    assert [d["id"] for d in done] == [h["id"]]
    assert done[0]["evidence"][0]["segment_id"] == "t2"


def test_never_take_passcode_on_disclosure_but_not_on_question():
    _, ev = run(["A: How can I help?", "C: Can you reset it? My passcode is four four one—"])
    assert "never_take_passcode" in shown(ev)
    assert hint_at(ev, "never_take_passcode")["priority"] == 1
    _, ev2 = run(["A: Je pas is onderweg.", "C: Krijg ik dan ook een nieuwe pincode?"], "nl")
    assert "never_take_passcode" not in shown(ev2)


def test_passcode_hint_nl():
    _, ev = run(["A: Waarmee kan ik helpen?", "C: Mijn pincode is vier drie twee een, klopt die nog?"], "nl")
    assert "never_take_passcode" in shown(ev)


def test_lost_device_en():
    _, ev = run(["A: Harbour Bank.", "C: My phone was stolen at the station yesterday.",
                 "A: I'm sorry. Can I have your customer number?", "C: Nine nine eight seven.",
                 "A: Thanks.", "C: Okay."])
    rules = shown(ev)
    assert "remove_lost_device" in rules
    assert "freeze_wallet_cards" in rules


def test_address_change_read_back_nl():
    _, ev = run(["A: Goedemiddag.", "C: Ik ben verhuisd, kan ik mijn adres doorgeven?",
                 "A: Zeker. Wat is het nieuwe adres?"], "nl")
    assert "read_back_address" in shown(ev)


def test_read_back_hint_suppressed_after_read_back_and_marked_done():
    _, ev = run(["A: Hello.", "C: I've moved house, I need to change my address.",
                 "A: Of course. What's the new address?", "C: Forty two Mill Lane.",
                 "A: So that's forty two Mill Lane, is that right?"])
    h = hint_at(ev, "read_back_address")
    done = [e for e in ev if e["type"] == "Hint" and e["status"] == "done" and e["id"] == h["id"]]
    assert done and done[0]["evidence"][0]["segment_id"] == "t4"


def test_complaint_and_ai_written_complaint_nl():
    _, ev = run(["A: Lumen Mobiel.",
                 "C: Ik heb een klacht. Ik heb de brief met ChatGPT geschreven, maar het is echt mijn klacht.",
                 "A: Dat is in orde."], "nl")
    rules = shown(ev)
    assert "ai_written_complaint" in rules and "log_formal_complaint" in rules
    assert hint_at(ev, "ai_written_complaint")["supervisor"] is True
    # the urgent hint comes first; the rate-limited one follows a segment later
    assert hint_at(ev, "ai_written_complaint")["evidence"][0]["segment_id"] == "t1"


def test_long_written_complaint_without_ai_mention_routes_as_formal():
    letter = ("I wish to complain formally about the handling of my account. " * 12).strip()
    _, ev = run(["A: Harbour Bank, how can I help?", f"C: {letter}"])
    assert "ai_written_complaint" in shown(ev)


def test_cancellation_retention_en_and_nl():
    _, ev = run(["A: Lumen Mobile.", "C: I want to cancel my contract, I'm switching provider."])
    assert "one_retention_offer" in shown(ev)
    _, ev = run(["A: Lumen Mobiel.", "C: Ik wil mijn abonnement opzeggen."], "nl")
    assert "one_retention_offer" in shown(ev)


def test_vulnerable_bereavement_and_hardship():
    _, ev = run(["A: Harbour Bank.", "C: My mother passed away last month and I'm dealing with her accounts."])
    h = hint_at(ev, "bereavement_care")
    assert h["priority"] == 1 and h["supervisor"] is True
    _, ev = run(["A: Brightwater.", "C: Ik ben mijn baan kwijt en ik kan de rekening niet meer betalen."], "nl")
    assert "hardship_care" in shown(ev)
    # care, not a complaint script, for a customer in hardship
    assert "acknowledge_and_apologise" not in shown(ev)


def test_angry_customer_gets_apology_hint_unless_agent_already_apologised():
    _, ev = run(["A: Lumen Mobile.", "C: This is absolutely ridiculous! Three weeks without internet!"])
    assert "acknowledge_and_apologise" in shown(ev)
    _, ev = run(["A: Lumen Mobile, I'm so sorry about the wait today.",
                 "C: This is absolutely ridiculous! Three weeks without internet!"])
    assert "acknowledge_and_apologise" not in shown(ev)


def test_corrected_value_hint_uses_field_label_en_and_nl():
    _, ev = run(["A: What's your new email address?",
                 "C: It's anna underscore bos at example dot org. No sorry, not underscore, a dot. "
                 "Anna dot bos at example dot org."])
    h = hint_at(ev, "use_corrected_value")
    assert "email address" in h["text"]
    assert "anna" in h["evidence"][0]["text"].lower()
    _, ev = run(["A: Wat is uw nieuwe mobiele nummer?",
                 "C: Nul zes, twaalf, vierendertig, zesenvijftig, zeventig. Nee wacht, het eind is zeventien. "
                 "Nul zes, twaalf, vierendertig, zesenvijftig, zeventien."], "nl")
    assert "telefoonnummer" in hint_at(ev, "use_corrected_value")["text"]
    # one read-back instruction per value, not two
    assert "read_back_value" not in shown(ev)


def test_hints_are_deduplicated_and_rate_limited():
    s = AssistSession("c1", "en", kb=False)
    batches = []
    for seg in script(["A: Hello.",
                       "C: My card was declined, my phone was stolen, and I want to cancel my contract.",
                       "C: My card was declined again and my phone was stolen.",
                       "C: Also I want to cancel my contract."]):
        batches.append([e for e in s.on_segment(seg) if e["type"] == "Hint" and e["status"] == "shown"])
    rules = [h["rule"] for b in batches for h in b]
    assert len(rules) == len(set(rules))  # each rule at most once per call
    assert max(len(b) for b in batches) <= 3  # never a flood after one segment
    # two at a time: the urgent identity check first, the rest waits for the next segment
    assert [h["rule"] for h in batches[1]] == ["verify_identity", "check_card_block"]
    assert {"remove_lost_device", "one_retention_offer"} == {h["rule"] for h in batches[2]}


def test_every_hint_has_evidence_and_confidence():
    _, ev = run(["A: Hello.", "C: I lost my job and I'm behind with my rent and my phone bill."])
    hints = [e for e in ev if e["type"] == "Hint"]
    assert hints
    for h in hints:
        assert h["evidence"] and 0 < h["confidence"] <= 1 and h["id"].startswith("hint-")


def test_third_party_details_en_nl_but_not_a_mere_mention():
    _, ev = run(["A: Anything else?", "C: Yes, my husband wants to switch too, his number is oh six one two."])
    assert "third_party_consent" in shown(ev)
    _, ev = run(["A: Nog iets?", "C: Mijn vriendin wil ook overstappen, haar nummer is nul zes twaalf."], "nl")
    assert "third_party_consent" in shown(ev)
    _, ev = run(["A: Per adres één vergunning.", "C: Mijn vriend heeft ook een auto, jammer."], "nl")
    assert "third_party_consent" not in shown(ev)
