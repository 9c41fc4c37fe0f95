"""How a caller's Dutch (and English) answers are written by Whisper, read into the form
(issue 13): the town after "ik woon in", digit groups written with dots."""

from __future__ import annotations

import datetime as dt

import pytest

from assist.autofill import FormFiller
from assist.types import Segment

TODAY = dt.date(2026, 12, 4)


def read(language: str, *turns: tuple[str, str]) -> dict[str, str]:
    """The values the turns ("agent"/"customer", text) give, each as first read."""
    f = FormFiller(language=language, today=TODAY)
    got: dict[str, str] = {}
    for i, (who, text) in enumerate(turns):
        for fv in f.on_segment(Segment(f"s{i}", who, text, 2.0 * i, 2.0 * i + 1, language=language)):  # type: ignore[arg-type]
            got.setdefault(fv.field, fv.value)
    return got


@pytest.mark.parametrize(("language", "text", "town"), [
    ("nl", "Ik woon in Rotterdam.", "Rotterdam"),
    ("nl", "Mijn woonplaats is Den Haag.", "Den Haag"),
    ("nl", "Wij wonen nu in 's-Hertogenbosch.", "'s-Hertogenbosch"),
    ("nl", "Ik woon in Rotterdam en ik wil mijn adres wijzigen.", "Rotterdam"),
    ("en", "I live in Zwolle.", "Zwolle"),
    ("en", "We live in Milton Keynes.", "Milton Keynes"),
])
def test_the_caller_naming_their_town_fills_the_town(language, text, town):
    assert read(language, ("customer", text)).get("city") == town


@pytest.mark.parametrize(("language", "text"), [
    ("nl", "Mijn moeder woont in Rotterdam."),  # someone else's town
    ("nl", "Ik woon in een dorp bij Utrecht."),
    ("en", "My sister lives in Leeds."),
])
def test_a_town_that_is_not_the_callers_is_not_read(language, text):
    assert "city" not in read(language, ("customer", text))


@pytest.mark.parametrize(("question", "answer", "field", "value"), [
    ("Wat is uw telefoonnummer?", "Mijn nummer is 06.47.12.88.39.", "phone_number", "+31647128839"),
    ("Wat is uw telefoonnummer?", "06.12.34.56.78.", "phone_number", "+31612345678"),  # not 6 December '34
    ("Wat is uw telefoonnummer?", "Het is 06-12-34-56-78.", "phone_number", "+31612345678"),
    ("En uw BSN?", "Mijn BSN is 111.222.333.", "bsn", "111222333"),
    ("Wat is uw klantnummer?", "Mijn klantnummer is 12.345.678.", "customer_number", "12345678"),
    ("En uw geboortedatum?", "Op 31.12.2001.", "date_of_birth", "2001-12-31"),
    ("En uw geboortedatum?", "14-03-1986", "date_of_birth", "1986-03-14"),
])
def test_digit_groups_written_with_dots_or_dashes(question, answer, field, value):
    assert read("nl", ("agent", question), ("customer", answer)).get(field) == value


def test_one_dot_between_numbers_stays_a_time_or_an_amount():
    got = read("nl", ("agent", "Wat is uw klantnummer?"), ("customer", "Ik bel om 10.30 uur terug, 2.5 keer."))
    assert "customer_number" not in got
