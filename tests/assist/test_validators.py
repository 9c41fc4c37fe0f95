"""Checksums and shapes: IBAN, BSN, Luhn, E.164, postcodes, e-mail."""

from __future__ import annotations

import pytest

from assist.validators import (
    bsn_valid,
    email_valid,
    iban_valid,
    luhn_valid,
    phone_e164,
    postcode_normalise,
    postcode_valid,
)


@pytest.mark.parametrize(
    "iban",
    ["NL56RABO9990698929", "NL21HRBB6527546939", "NL80INGB0006829417", "BE68539007547034",
     "DE89370400440532013000", "GB02HRBB40516712345678", "nl56 rabo 9990 6989 29"],
)
def test_valid_ibans(iban):
    assert iban_valid(iban)


@pytest.mark.parametrize(
    "iban",
    ["NL56RABO9990698928",  # checksum off by one digit
     "NL47TRIO0198765437",  # wrong check digits
     "NL56RABO999069892",  # too short for NL
     "NL56RAB09990698929",  # digit zero where the bank code needs the letter O
     "XX56RABO9990698929",  # unknown country
     "BE6853900754703"],
)
def test_invalid_ibans(iban):
    assert not iban_valid(iban)


@pytest.mark.parametrize("bsn,ok", [("734990352", True), ("214736064", True), ("111222333", True),
                                    ("214736065", False), ("000000000", False), ("12345678", False)])
def test_bsn_11_proef(bsn, ok):
    assert bsn_valid(bsn) is ok


@pytest.mark.parametrize("number,ok", [("4111111111111111", True), ("4111111111111112", False),
                                       ("5555555555554444", True), ("1234", False)])
def test_luhn(number, ok):
    assert luhn_valid(number) is ok


@pytest.mark.parametrize(
    "raw,country,e164",
    [
        ("07700900078", "UK", "+447700900078"),  # UK mobile
        ("01632960215", "NL", "+441632960215"),  # UK landline, 11 digits
        ("0687113420", "NL", "+31687113420"),  # NL mobile
        ("0687113420", "UK", "+31687113420"),  # 06 + 10 digits is Dutch wherever said
        ("0301234567", "NL", "+31301234567"),  # NL landline
        ("+31612873340", "UK", "+31612873340"),
        ("0031612873340", "UK", "+31612873340"),
        ("+31 (0)6 12873340", "NL", "+31612873340"),
        ("+32470123456", "NL", "+32470123456"),  # BE mobile
        ("0470123456", "BE", "+32470123456"),
        ("3125550187", "UK", "+13125550187"),  # US, no trunk prefix
        ("13125550187", "NL", "+13125550187"),
        ("+4915112345678", "NL", "+4915112345678"),
        ("015112345678", "DE", "+4915112345678"),
    ],
)
def test_phone_e164(raw, country, e164):
    assert phone_e164(raw, country) == e164


@pytest.mark.parametrize("raw", ["0612", "1234567", "+31612", "0000000000", ""])
def test_not_phone_numbers(raw):
    assert phone_e164(raw, "NL") is None


@pytest.mark.parametrize(
    "raw,expected",
    [("SE154RJ", ("SE15 4RJ", "UK")), ("g128qq", ("G12 8QQ", "UK")), ("LS6 2QT", ("LS6 2QT", "UK")),
     ("EC1A1BB", ("EC1A 1BB", "UK")), ("3512le", ("3512 LE", "NL")), ("2517 AP", ("2517 AP", "NL")),
     ("60614", ("60614", "US")), ("1000", ("1000", "BE")), ("3512SA", None), ("0123AB", None),
     ("ABCDEF", None)],
)
def test_postcodes(raw, expected):
    assert postcode_normalise(raw) == expected


def test_postcode_valid_shapes():
    assert postcode_valid("3572 BK") and postcode_valid("SE15 4RJ") and postcode_valid("60614")
    assert not postcode_valid("3572BK") and not postcode_valid("SE154RJ")


@pytest.mark.parametrize("email,ok", [("nathan.greaves@example.com", True), ("a@b.co", True),
                                      ("m.yildiz@example.com", True), ("x@example", False),
                                      ("a..b@example.com", False), (".a@example.com", False),
                                      ("a@@example.com", False)])
def test_email_shape(email, ok):
    assert email_valid(email) is ok
