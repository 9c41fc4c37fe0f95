"""`smart_format=true` beyond numerals (issue 14, part 2): e-mail addresses, money, times,
dates, ordinals and "+" numbers, as Deepgram's smart format writes them; what it must leave
alone; the words of a merged entity; `numerals` alone stays numbers only; the Metadata
warning; and one live stream with espeak speech.

Expected outputs follow Deepgram's documented example ("eight thirty seven pm" -> "8:37 PM",
"november second twenty twenty two" -> "November 2 2022").
"""

from __future__ import annotations

import pytest

from streaming.live.formatting import TextFormat
from streaming.options import parse_stream_query
from tests.streaming.test_deepgram_params import records, speech, stream

SMART = TextFormat.of(numerals=False, smart_format=True, punctuate=True)
NUMERALS = TextFormat.of(numerals=True, smart_format=False, punctuate=True)


@pytest.mark.parametrize("text,want", [
    # Deepgram's own example
    ("i'm recording this at eight thirty seven pm on wednesday it's november second twenty twenty two",
     "i'm recording this at 8:37 PM on wednesday it's November 2 2022"),
    # e-mail
    ("My email is john dot smith at example dot com.", "My email is john.smith@example.com."),
    ("Write to John.Smith at Gmail.com, thanks.", "Write to john.smith@gmail.com, thanks."),
    ("email me at info at acme dot co dot uk", "email me at info@acme.co.uk"),
    ("it is j underscore doe at mail dot nl", "it is j_doe@mail.nl"),
    # money
    ("It costs twenty five dollars.", "It costs $25."),
    ("that is 25 dollars", "that is $25"),
    ("fifty euros", "€50"),
    ("one dollar", "$1"),
    ("five dollars and fifty cents, please", "$5.50, please"),
    ("a hundred dollars", "$100"),
    # times
    ("See you at three thirty pm.", "See you at 3:30 PM."),
    ("See you at 3.30 p.m. on Monday.", "See you at 3:30 PM on Monday."),
    ("It ends at 3 p.m. Then we go.", "It ends at 3 PM. Then we go."),
    ("eleven oh five am", "11:05 AM"),
    ("ten fifteen pm", "10:15 PM"),
    ("at twelve pm", "at 12 PM"),
    # dates and ordinals
    ("On March third we met", "On March 3 we met"),
    ("May 5th, 2024", "May 5, 2024"),
    ("August twenty-first", "August 21"),
    ("on november twenty first", "on November 21"),
    ("the third of March", "the 3rd of March"),
    ("the fourth of july", "the 4th of July"),
    ("the twenty first century", "the 21st century"),
    ("in the fifteenth century", "in the 15th century"),
    ("her thirteenth birthday", "her 13th birthday"),
    # a dictated international number
    ("call plus three one six one two three four five six seven eight", "call +31612345678"),
])
def test_smart_format_writes_entities(text, want):
    assert SMART.text(text) == want


@pytest.mark.parametrize("text", [
    "I'm at home.", "Meet at five.", "One of them.", "We met at the office at noon.",
    "Look at example dot com.", "Find us at example dot com.", "He is at work dot today.",
    "john at example dot nonsense", "first of all, thanks", "a second, please", "a third of it",
    "a twentieth of it", "you may second that", "we march first, then rest", "ten pounds of flour",
    "I am here at three thirty", "the dollar fell", "it is five past ten", "I am 25 am I not",
    "my number is five one nine two three four five six seven eight",
])
def test_smart_format_leaves_the_rest_as_numerals_write_it(text):
    """Nothing here is an e-mail, an amount, a time with am/pm or a date: smart_format
    writes what numerals write (numbers as digits) and nothing more."""
    assert SMART.text(text) == NUMERALS.text(text)


@pytest.mark.parametrize("text", ["I'm at home.", "One of them.", "Look at example dot com.",
                                  "first of all", "you may second that"])
def test_smart_format_leaves_ordinary_words_unchanged(text):
    assert SMART.text(text) == text


def test_numerals_alone_stay_numbers_only():
    assert NUMERALS.text("john dot smith at example dot com") == "john dot smith at example dot com"
    assert NUMERALS.text("twenty five dollars at three thirty pm") == "25 dollars at 3 30 pm"
    assert NUMERALS.text("on november second, the fifteenth century") == "on november second, the fifteenth century"


def words_of(text: str) -> list[dict]:
    return [{"word": w.strip(".,").lower(), "start": i * 0.5, "end": i * 0.5 + 0.4,
             "confidence": 0.5 + i / 100, "punctuated_word": w} for i, w in enumerate(text.split())]


def test_an_entity_is_one_entry_of_words_and_the_transcript_is_the_words():
    text = "Mail john dot smith at example dot com, twenty five dollars at three thirty pm on november second."
    words = words_of(text)
    out = SMART.words(words)
    assert [w["punctuated_word"] for w in out] == [
        "Mail", "john.smith@example.com,", "$25", "at", "3:30", "PM", "on", "November", "2."]
    assert " ".join(w["punctuated_word"] for w in out) == SMART.text(text)
    email = out[1]  # words 1..7: start of the first, end of the last, mean confidence
    assert (email["word"], email["start"], email["end"]) == ("john.smith@example.com", 0.5, 3.9)
    assert email["confidence"] == pytest.approx(sum(0.5 + i / 100 for i in range(1, 8)) / 7, abs=1e-4)
    money = out[2]  # "twenty five dollars": words 8..10, merged once (not a merge of a merge)
    assert (money["word"], money["start"], money["end"]) == ("$25", 4.0, 5.4)
    assert money["confidence"] == pytest.approx((0.58 + 0.59 + 0.60) / 3, abs=1e-4)
    assert (out[4]["word"], out[4]["start"], out[4]["end"]) == ("3:30", 6.0, 6.9)
    assert (out[5]["word"], out[7]["word"], out[8]["word"]) == ("pm", "november", "2")
    assert len(out) == 9 and words[1]["punctuated_word"] == "john"  # input untouched


def test_whispers_glued_words_make_one_address():
    """Whisper's transcript says "mark at email.com" while its words are "email" and ".com":
    both become the same address."""
    words = words_of("My email is mark at email .com")
    out = SMART.words(words)
    assert [w["punctuated_word"] for w in out] == ["My", "email", "is", "mark@email.com"]
    assert (out[3]["start"], out[3]["end"]) == (1.5, 3.4)
    assert SMART.text("My email is mark at email.com") == "My email is mark@email.com"
    assert [w["punctuated_word"] for w in SMART.words(words_of("look at it .com"))] == ["look", "at", "it", ".com"]


def test_message_formats_transcript_and_words_alike():
    text = "Reach me at info at acme dot com at ten pm."
    msg = {"type": "Results", "channel": {"alternatives": [{"transcript": text, "words": words_of(text)}]}}
    out = SMART.message(msg)
    alt = out["channel"]["alternatives"][0]
    assert alt["transcript"] == "Reach me at info@acme.com at 10 PM."
    assert " ".join(w["punctuated_word"] for w in alt["words"]) == alt["transcript"]
    assert msg["channel"]["alternatives"][0]["transcript"] == text  # pure
    assert TextFormat.of(numerals=False, smart_format=True, punctuate=False) == TextFormat(numerals=True, smart=True)
    assert SMART.changes_text and TextFormat(smart=True).changes_text


def test_the_metadata_warning_says_what_is_not_formatted():
    (w,) = [w for w in parse_stream_query("smart_format=true").warnings if w.parameter == "smart_format"]
    assert w.type == "partial"
    for formatted in ("e-mail", "dollar and euro", "am/pm", "month name"):
        assert formatted in w.message
    for left in ("phone numbers stay plain digits", "URLs", "street addresses", "paragraphs"):
        assert left in w.message


def test_smart_format_on_the_live_api_writes_the_e_mail(server):
    """espeak says an e-mail address; the smart_format client's records are exactly the
    plain records formatted. tiny.en writes the address half-formatted ("mark at
    email.com": it mishears "gmail"), so the formatting must join it with an @."""
    audio = speech("My email is mark at gmail dot com.")
    plain = records(stream(server, audio))
    res = stream(server, audio, smart_format=True)
    smart = records(res)
    assert smart == SMART.text(plain), (plain, smart)
    assert "@" in smart, (plain, smart)
    rec_words = [w for m in res.of_type("Record") for w in m["channel"]["alternatives"][0]["words"]]
    assert " ".join(w["punctuated_word"] for w in rec_words) == smart
    assert any("@" in w["word"] for w in rec_words), rec_words
