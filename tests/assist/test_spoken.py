"""Spoken-form parsing: numbers, dictated digits/letters, e-mail addresses, dates (en + nl)."""

from __future__ import annotations

import datetime as dt

import pytest

from assist.spoken import (
    find_dates,
    find_emails,
    nl_number,
    read_number,
    spoken_alnum,
    tokenize,
    value_runs,
)

TODAY = dt.date(2025, 6, 1)


@pytest.mark.parametrize(
    "word,value",
    [
        ("eenentwintig", 21),
        ("vijfentachtig", 85),
        ("tweeënnegentig", 92),
        ("tweehonderdtien", 210),
        ("honderdvijfenveertig", 145),
        ("negentienhonderdtweeënnegentig", 1992),
        ("tweeduizendeen", 2001),
        ("zeventien", 17),
        ("duizend", 1000),
        ("drieduizendvierhonderdzesendertig", 3436),
    ],
)
def test_nl_compound_numbers(word, value):
    from assist.spoken import fold

    assert nl_number(fold(word)) == value


@pytest.mark.parametrize("word", ["zeeland", "een", "honderdje", "tweeenveertigen", "vijfen"])
def test_nl_non_numbers(word):
    assert nl_number(word) in (None, 1)  # "een" is 1, the others are not numbers


@pytest.mark.parametrize(
    "text,value",
    [
        ("forty-two", 42),
        ("twenty nine", 29),
        ("nine hundred", 900),
        ("two thousand and one", 2001),
        ("five hundred and forty-eight", 548),
        ("a hundred and five", 105),
        ("tweeduizend een", 2001),
        ("negentienhonderd vijfentachtig", 1985),
        ("nineteen hundred and ninety two", 1992),
    ],
)
def test_read_number_composes_spoken_numbers(text, value):
    toks = tokenize(text)
    num = read_number(toks, 0)
    assert num is not None and num.value == value and num.i1 == len(toks)


@pytest.mark.parametrize(
    "text,expected",
    [
        # digits singly, in groups, doubles/triples, letters, en + nl
        ("five one nine two, oh three seven four", "51920374"),
        ("Oh seven seven double oh, nine double oh, oh seven eight", "07700900078"),
        ("triple seven, two", "7772"),
        ("H C seven one one, six four oh, two eight", "HC71164028"),
        ("S E fifteen, four R J", "SE154RJ"),
        ("G twelve, eight Q Q", "G128QQ"),
        ("Nul zes, zevenentachtig, elf, vierendertig, twintig", "0687113420"),
        ("zes vijf twee zeven", "6527"),
        ("Vijfentwintig zeventien, A P", "2517AP"),
        ("twee vijf een zeven A P", "2517AP"),
        ("N L eenentwintig, H R B B, zes vijf twee zeven", "NL21HRBB6527"),
        ("P for Peter, nine nine", "P99"),
        ("B van Bernard, twaalf", "B12"),
        ("dubbel nul zes", "006"),
        # ASR numerals and upper-case letter groups
        ("5192 0374", "51920374"),
        ("0770 0900 078", "07700900078"),
        ("NL56 RABO 0123 4567 89", "NL56RABO0123456789"),
        ("SE15 4RJ", "SE154RJ"),
        ("G, R, E, A", "GREA"),
        ("5-1-9-2-4-3-7-4", "51924374"),
        ("H-G-7-1-1-6-4-0-2-8", "HG71164028"),
        ("£4,800", "4800"),
    ],
)
def test_dictated_sequences(text, expected):
    assert spoken_alnum(text) == expected


@pytest.mark.parametrize(
    "text",
    ["No, I'll do the selfie one.", "Oh. Right, yeah.", "O, prima.", "I got a new one.",
     "it's a dot", "Een moment alstublieft."],
)
def test_weak_words_alone_are_not_values(text):
    assert value_runs(tokenize(text)) == []


def test_runs_keep_char_offsets():
    text = "Yeah, it's five one nine two, oh three seven four."
    (run,) = value_runs(tokenize(text))
    assert text[run.start:run.end] == "five one nine two, oh three seven four"


def test_spelled_name_with_doubles():
    runs = value_runs(tokenize("Isabella Farrell. That's F-A-double R-E-double L."))
    assert [r.text(zero_as_letter=True) for r in runs] == ["FARRELL"]
    assert spoken_alnum("M I T C H E double L") == "MITCHELL"


@pytest.mark.parametrize(
    "text,email,span",
    [
        ("It's nathan underscore greaves at example dot com.", "nathan_greaves@example.com",
         "nathan underscore greaves at example dot com"),
        ("Nathan dot greaves at example dot com", "nathan.greaves@example.com",
         "Nathan dot greaves at example dot com"),
        ("Stuur de bevestiging maar naar m punt yildiz apenstaartje example punt com.",
         "m.yildiz@example.com", "m punt yildiz apenstaartje example punt com"),
        ("Sanne streepje devries apenstaartje example punt nl.", "sanne-devries@example.nl",
         "Sanne streepje devries apenstaartje example punt nl"),
        ("jan laag streepje smit apenstaartje example punt be", "jan_smit@example.be",
         "jan laag streepje smit apenstaartje example punt be"),
        ("It's j dash smith at example dot co dot uk", "j-smith@example.co.uk",
         "j dash smith at example dot co dot uk"),
        ("my email is sarah mitchell eighty five at example dot org",
         "sarahmitchell85@example.org", "sarah mitchell eighty five at example dot org"),
        ("S A R A H dot K A Y at example dot net", "sarah.kay@example.net",
         "S A R A H dot K A Y at example dot net"),
        # ASR forms: written address, capitalised Dot, "not" for "dot" in the domain
        ("Sure, it's raj.patel@example.net.", "raj.patel@example.net", "raj.patel@example.net"),
        ("It's priya.nair at example.com", "priya.nair@example.com",
         "priya.nair at example.com"),
        ("Grace Dot Adeyemi at Example Dot Net", "grace.adeyemi@example.net",
         "Grace Dot Adeyemi at Example Dot Net"),
        ("it's tom dot baker at example not com", "tom.baker@example.com",
         "tom dot baker at example not com"),
        ("raj dot patel one at example.net", "raj.patel1@example.net",
         "raj dot patel one at example.net"),
        # tiny.en wrote "that" for "at", with a comma before it
        ("It's nathan dot greaves, that example dot com.", "nathan.greaves@example.com",
         "nathan dot greaves, that example dot com"),
        ("Yeah, it's 5-1-9-2 at example dot org", "5192@example.org", "5-1-9-2 at example dot org"),
        # a spelling aside between the address and the "at"
        ("It's pieter underscore bos, that's B O S, at example dot nl.", "pieter_bos@example.nl",
         "pieter underscore bos, that's B O S, at example dot nl"),
    ],
)
def test_emails(text, email, span):
    got = find_emails(tokenize(text))
    assert [m.value for m in got] == [email]
    assert text[got[0].start:got[0].end] == span


@pytest.mark.parametrize(
    "text",
    ["I'm at home right now.", "We are at the station dot dot dot", "Call me at five.",
     "I know that example.com is down", "Thanks, at home dot com"],
)
def test_not_emails(text):
    assert find_emails(tokenize(text)) == []


@pytest.mark.parametrize(
    "text,iso",
    [
        ("fourteenth of March eighty-five", "1985-03-14"),
        ("the 3rd of June 1990", "1990-06-03"),
        ("March twenty-second, nineteen seventy-eight", "1978-03-22"),
        ("June the third, nineteen ninety", "1990-06-03"),
        ("Fifteenth of June, eighty-three", "1983-06-15"),
        ("the twenty-ninth of February, two thousand", "2000-02-29"),
        ("on the 1st of April, 1972", "1972-04-01"),
        ("veertien maart vijfentachtig", "1985-03-14"),
        ("Eenendertig december tweeduizend een", "2001-12-31"),
        ("negentien mei negentienhonderdtweeënnegentig", "1992-05-19"),
        ("de derde juni negentienhonderdnegentig", "1990-06-03"),
        ("geboren op 7 november 1979", "1979-11-07"),
        ("twaalf januari negentien zevenenzestig", "1967-01-12"),
        ("fifth of May, twenty oh three", "2003-05-05"),
        ("14/03/1985", "1985-03-14"),
        ("07-11-1979", "1979-11-07"),
    ],
)
def test_dates(text, iso):
    got = find_dates(tokenize(text), text, TODAY)
    assert [d.iso for d in got] == [iso]


@pytest.mark.parametrize(
    "text",
    ["the thirty-first of February, nineteen ninety", "I may call back", "in March",
     "we'll march on"],
)
def test_not_dates(text):
    assert find_dates(tokenize(text), text, TODAY) == []


def test_date_span_covers_spoken_form():
    text = "Carlos Mendes. Fifteenth of June, eighty-three."
    (d,) = find_dates(tokenize(text), text, TODAY)
    assert text[d.start:d.end] == "Fifteenth of June, eighty-three"


def test_tokens_keep_offsets_for_accented_and_hyphenated_words():
    text = "Drie één negen, 's-Hertogenbosch, e-mail, G-R-E-A"
    for t in tokenize(text):
        assert text[t.start:t.end] == t.text
    kinds = {t.text: t.kind for t in tokenize(text)}
    assert kinds["'s-Hertogenbosch"] == "word" and kinds["e-mail"] == "word"
