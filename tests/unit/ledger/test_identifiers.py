"""Subject identifiers: resident IDs, unified social credit codes, passports."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arrears.ledger.errors import IdentifierError, InputError
from arrears.ledger.identifiers import (
    ICAO_ISSUER_CODES,
    ISO_3166_ALPHA3,
    PASSPORT_COUNTRIES,
    PROVINCE_CODES,
    USCC_ALPHABET,
    SubjectId,
    SubjectKind,
    normalize_credit_code,
    normalize_passport,
    normalize_resident_id,
    parse_subject,
)

TODAY = date(2025, 6, 1)
DIGITS = "0123456789"

RESIDENT_ID = "11010519491231002X"
CREDIT_CODES = ("91350100M000100Y43", "91110000600037341L", "914403001922038216")

PROVINCES = (
    [f"{n}" for n in range(11, 16)]
    + [f"{n}" for n in range(21, 24)]
    + [f"{n}" for n in range(31, 38)]
    + [f"{n}" for n in range(41, 47)]
    + [f"{n}" for n in range(50, 55)]
    + [f"{n}" for n in range(61, 66)]
    + ["71", "81", "82", "83", "91"]
)


# Reference formulas from GB 11643 / GB 32100 / GB 11714, written independently of the module
# and anchored by the published examples below.


def ric_check(body17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, weights, strict=True)) % 11]


def uscc_check(body17: str) -> str:
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body17, weights, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_check(body8: str) -> str:
    weights = [3, 7, 9, 10, 5, 8, 4, 2]
    values = [int(c, 36) for c in body8]
    check = 11 - sum(v * w for v, w in zip(values, weights, strict=True)) % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def make_credit_code(head8: str, org8: str) -> str:
    body = head8 + org8 + org_check(org8)
    return body + uscc_check(body)


def rejects(kind: SubjectKind, value: str, **kwargs: object) -> IdentifierError:
    with pytest.raises(IdentifierError) as info:
        parse_subject(kind, value, **kwargs)  # type: ignore[arg-type]
    err = info.value
    assert err.kind == kind.value
    assert str(err).startswith(f"{kind.value}: ")
    assert value.strip() not in str(err) or len(value.strip()) < 3
    return err


# --- reference formulas -----------------------------------------------------------------------


def test_reference_formulas_match_published_examples() -> None:
    assert ric_check(RESIDENT_ID[:17]) == RESIDENT_ID[17]
    for code in CREDIT_CODES:
        assert uscc_check(code[:17]) == code[17]
        assert org_check(code[8:16]) == code[16]


def test_province_list() -> None:
    assert sorted(PROVINCE_CODES) == sorted(PROVINCES)
    assert len(PROVINCE_CODES) == 36


# --- resident IDs -----------------------------------------------------------------------------


def test_resident_id_known_valid() -> None:
    assert normalize_resident_id(RESIDENT_ID) == RESIDENT_ID
    assert normalize_resident_id(RESIDENT_ID, today=TODAY) == RESIDENT_ID
    subject = parse_subject("resident_id", RESIDENT_ID)
    assert subject == SubjectId(SubjectKind.RESIDENT_ID, RESIDENT_ID)


def test_resident_id_lower_case_x_and_whitespace() -> None:
    assert normalize_resident_id("11010519491231002x") == RESIDENT_ID
    assert normalize_resident_id("  11010519491231002x\n") == RESIDENT_ID


def test_resident_id_numeric_check_character() -> None:
    # 3*7+1*9+1*5+4*4+1*2+9*1+6*6+5*3+3*9+1*10+2*5+1*8+2*4+3*2 = 182 = 16*11 + 6 -> '6'
    assert normalize_resident_id("310104196503121236", today=TODAY) == "310104196503121236"


@pytest.mark.parametrize(
    ("legacy", "modern"),
    [
        # 17 digits 11010519491231002 weigh 167 = 15*11 + 2 -> 'X' (the published example).
        ("110105491231002", "11010519491231002X"),
        # 17 digits 31010419650312123 weigh 182 = 16*11 + 6 -> '6'.
        ("310104650312123", "310104196503121236"),
    ],
)
def test_resident_id_legacy_15_digits(legacy: str, modern: str) -> None:
    assert normalize_resident_id(legacy, today=TODAY) == modern
    assert parse_subject(SubjectKind.RESIDENT_ID, legacy).value == modern


@pytest.mark.parametrize("length", [0, 1, 14, 16, 17, 19, 20])
def test_resident_id_length(length: int) -> None:
    value = (RESIDENT_ID * 2)[:length]
    err = rejects(SubjectKind.RESIDENT_ID, value)
    assert err.rule == "length"
    assert str(err) == f"resident_id: length {length}, expected 18 (or legacy 15)"


def test_resident_id_length_message_example() -> None:
    with pytest.raises(
        IdentifierError, match=r"^resident_id: length 17, expected 18 \(or legacy 15\)$"
    ):
        normalize_resident_id(RESIDENT_ID[:17])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1101051949123100XX", "character 'X' at position 17 is not a digit"),
        ("11010519491231002A", "character 'A' at position 18 is not a digit or 'X'"),
        ("X1010519491231002X", "character 'X' at position 1 is not a digit"),
        ("11010519491231 02X", "character ' ' at position 15 is not a digit"),
        ("11010549123100X", "character 'X' at position 15 is not a digit"),
        ("１1010519491231002X", "character '１' at position 1 is not a digit"),
        ("110105194912310O2X", "character 'O' at position 16 is not a digit"),
    ],
)
def test_resident_id_charset(value: str, message: str) -> None:
    err = rejects(SubjectKind.RESIDENT_ID, value)
    assert err.rule == "charset"
    assert str(err) == f"resident_id: {message}"


def test_resident_id_wrong_check_character() -> None:
    err = rejects(SubjectKind.RESIDENT_ID, "110105194912310023")
    assert err.rule == "check_character"
    assert str(err) == "resident_id: check character is '3', expected 'X'"


def test_resident_id_every_single_substitution_rejected() -> None:
    for i, original in enumerate(RESIDENT_ID):
        for ch in DIGITS + "X":
            if ch == original:
                continue
            changed = RESIDENT_ID[:i] + ch + RESIDENT_ID[i + 1 :]
            err = rejects(SubjectKind.RESIDENT_ID, changed, today=TODAY)
            assert err.rule in {"charset", "area_code", "birth_date", "check_character"}
            if i >= 14:
                assert err.rule in {"charset", "check_character"}


def test_resident_id_every_adjacent_swap_rejected() -> None:
    # MOD 11-2 weights of neighbouring positions always differ mod 11, so every swap of two
    # different adjacent characters is caught.
    for valid in (RESIDENT_ID, "310104196503121236"):
        for i in range(17):
            if valid[i] == valid[i + 1]:
                continue
            swapped = valid[:i] + valid[i + 1] + valid[i] + valid[i + 2 :]
            rejects(SubjectKind.RESIDENT_ID, swapped, today=TODAY)


def with_check(body17: str) -> str:
    return body17 + ric_check(body17)


@pytest.mark.parametrize(
    ("birth", "message"),
    [
        ("19490230", "birth date is not a calendar date (month 02 has no day 30)"),
        ("19000229", "birth date is not a calendar date (month 02 has no day 29)"),
        ("19490431", "birth date is not a calendar date (month 04 has no day 31)"),
        ("19491300", "birth month 13 does not exist"),
        ("19490001", "birth month 00 does not exist"),
        ("19490100", "birth date is not a calendar date (month 01 has no day 00)"),
        ("00001231", "birth year 0000 does not exist"),
    ],
)
def test_resident_id_impossible_birth_date(birth: str, message: str) -> None:
    err = rejects(SubjectKind.RESIDENT_ID, with_check(f"110105{birth}002"), today=TODAY)
    assert err.rule == "birth_date"
    assert str(err) == f"resident_id: {message}"


def test_resident_id_leap_day() -> None:
    value = with_check("11010520000229002")
    assert normalize_resident_id(value, today=TODAY) == value


def test_resident_id_legacy_bad_birth_date() -> None:
    err = rejects(SubjectKind.RESIDENT_ID, "110105490230002", today=TODAY)
    assert err.rule == "birth_date"


def test_resident_id_future_birth_date() -> None:
    born = TODAY + timedelta(days=1)
    value = with_check(f"110105{born:%Y%m%d}002")
    err = rejects(SubjectKind.RESIDENT_ID, value, today=TODAY)
    assert err.rule == "birth_date"
    assert str(err) == f"resident_id: birth date lies in the future (after {TODAY.isoformat()})"
    assert normalize_resident_id(value, today=born) == value
    today_born = with_check(f"110105{TODAY:%Y%m%d}002")
    assert normalize_resident_id(today_born, today=TODAY) == today_born


def test_resident_id_today_defaults_to_the_local_date() -> None:
    tomorrow = date.today() + timedelta(days=1)
    value = with_check(f"110105{tomorrow:%Y%m%d}002")
    with pytest.raises(IdentifierError) as info:
        normalize_resident_id(value)
    assert info.value.rule == "birth_date"


@pytest.mark.parametrize("prefix", ["00", "10", "16", "20", "24", "30", "38", "40", "47", "49"])
def test_resident_id_bad_province(prefix: str) -> None:
    err = rejects(SubjectKind.RESIDENT_ID, with_check(f"{prefix}010519491231002"), today=TODAY)
    assert err.rule == "area_code"
    assert str(err) == f"resident_id: area code starts with '{prefix}', not a province-level code"


@pytest.mark.parametrize("prefix", ["55", "60", "66", "70", "72", "80", "84", "90", "92", "99"])
def test_resident_id_bad_province_high(prefix: str) -> None:
    err = rejects(SubjectKind.RESIDENT_ID, with_check(f"{prefix}010519491231002"), today=TODAY)
    assert err.rule == "area_code"


@pytest.mark.parametrize("prefix", PROVINCES)
def test_resident_id_every_province_accepted(prefix: str) -> None:
    value = with_check(f"{prefix}999919491231002")
    assert normalize_resident_id(value, today=TODAY) == value


def test_resident_id_historical_area_code_accepted() -> None:
    # Only the province level is checked, so area codes missing from today's division list
    # (such as those of merged or renamed counties) are accepted.
    value = with_check("43240119800101001")
    assert normalize_resident_id(value, today=TODAY) == value


# --- unified social credit codes --------------------------------------------------------------


@pytest.mark.parametrize("code", CREDIT_CODES)
def test_credit_code_known_valid(code: str) -> None:
    assert normalize_credit_code(code) == code
    assert normalize_credit_code(code.lower()) == code
    assert normalize_credit_code(f" {code.lower()}\t") == code
    assert parse_subject("credit_code", code) == SubjectId(SubjectKind.CREDIT_CODE, code)


def test_credit_code_letters_in_leading_positions() -> None:
    # The registration-authority character may be a letter (Y: other authorities, N: agriculture)
    # and the organisation code may hold letters: the first 8 characters need not be digits.
    for head, org in [("Y1110000", "MA01ABCD"), ("N2330100", "L00000KQ")]:
        code = make_credit_code(head, org)
        assert normalize_credit_code(code) == code
    assert normalize_credit_code("Y1110000MA01ABCD5C") == "Y1110000MA01ABCD5C"


def test_credit_code_organisation_check_x_and_0() -> None:
    # 1*3 + 1*4 + 8*2 = 23, 11 - 23 % 11 = 10 -> 'X'; 1*3 + 4*2 = 11, 11 - 0 = 11 -> '0'.
    assert normalize_credit_code("9111010810000018XA") == "9111010810000018XA"
    assert normalize_credit_code("91110108100000040N") == "91110108100000040N"


@pytest.mark.parametrize("length", [0, 1, 15, 17, 19])
def test_credit_code_length(length: int) -> None:
    err = rejects(SubjectKind.CREDIT_CODE, (CREDIT_CODES[0] * 2)[:length])
    assert err.rule == "length"
    assert str(err) == f"credit_code: length {length}, expected 18"


@pytest.mark.parametrize("bad", ["I", "O", "Z", "S", "V", "i", "o", "z", "s", "v", "-", "Ａ"])
def test_credit_code_forbidden_characters(bad: str) -> None:
    code = CREDIT_CODES[0]
    for i in (0, 4, 8, 17):
        changed = code[:i] + bad + code[i + 1 :]
        err = rejects(SubjectKind.CREDIT_CODE, changed)
        assert err.rule == "charset"
        shown = bad.upper() if bad.isascii() else bad
        assert str(err) == (
            f"credit_code: character {shown!r} at position {i + 1} is not in the GB 32100 alphabet"
        )


def test_credit_code_message_example() -> None:
    with pytest.raises(
        IdentifierError,
        match=r"^credit_code: character 'O' at position 5 is not in the GB 32100 alphabet$",
    ):
        normalize_credit_code("9135O100M000100Y43")


def test_credit_code_wrong_check_character() -> None:
    err = rejects(SubjectKind.CREDIT_CODE, "91350100M000100Y44")
    assert err.rule == "check_character"
    assert str(err) == "credit_code: check character is '4', expected '3'"


def test_credit_code_wrong_organisation_check() -> None:
    # Position 17 changed, GB 32100 check recomputed: only the GB 11714 check is wrong.
    body = "91110000600037342"
    code = body + uscc_check(body)
    err = rejects(SubjectKind.CREDIT_CODE, code)
    assert err.rule == "organisation_code"
    assert str(err) == (
        "credit_code: organisation code check character (position 17) is '2', expected '1'"
    )
    # A letter other than X can never be a GB 11714 check character.
    body = "91350100M000100YA"
    err = rejects(SubjectKind.CREDIT_CODE, body + uscc_check(body))
    assert err.rule == "organisation_code"


@pytest.mark.parametrize("code", CREDIT_CODES)
def test_credit_code_every_single_substitution_rejected(code: str) -> None:
    for i, original in enumerate(code):
        for ch in USCC_ALPHABET:
            if ch == original:
                continue
            err = rejects(SubjectKind.CREDIT_CODE, code[:i] + ch + code[i + 1 :])
            assert err.rule == "check_character"


@pytest.mark.parametrize("code", CREDIT_CODES)
def test_credit_code_every_adjacent_swap_rejected(code: str) -> None:
    for i in range(17):
        if code[i] == code[i + 1]:
            continue
        rejects(SubjectKind.CREDIT_CODE, code[:i] + code[i + 1] + code[i] + code[i + 2 :])


# --- passports --------------------------------------------------------------------------------


def test_country_lists() -> None:
    assert len(ISO_3166_ALPHA3) == 249
    assert all(len(c) == 3 and c.isalpha() and c.isupper() for c in ISO_3166_ALPHA3)
    assert {"CHN", "GBR", "USA", "DEU", "FRA", "HKG", "MAC", "TWN", "ZWE"} <= ISO_3166_ALPHA3
    icao = "D GBD GBN GBO GBP GBS UNA UNK UNO XXA XXB XXC XXX EUE"
    assert set(icao.split()) == ICAO_ISSUER_CODES
    assert ISO_3166_ALPHA3 | ICAO_ISSUER_CODES == PASSPORT_COUNTRIES


@pytest.mark.parametrize(
    ("country", "number", "expected"),
    [
        ("CHN", "E12345678", "CHN:E12345678"),
        ("chn", "e12345678", "CHN:E12345678"),
        ("GBR", "123456789", "GBR:123456789"),
        ("USA", " 5 6 7 8 9 ", "USA:56789"),
        ("D", "C01X00T47", "D:C01X00T47"),
        ("D<<", "C01X00T47<", "D:C01X00T47"),
        ("DEU", "C01X00T47", "DEU:C01X00T47"),
        ("XXA", "A1", "XXA:A1"),
        ("UNO", "7", "UNO:7"),
        ("EUE", "AB1234<<<", "EUE:AB1234"),
    ],
)
def test_passport_valid(country: str, number: str, expected: str) -> None:
    assert normalize_passport(country, number) == expected
    subject = parse_subject(SubjectKind.PASSPORT, number, country=country)
    assert subject == SubjectId(SubjectKind.PASSPORT, expected)
    assert parse_subject("passport", expected) == subject


@pytest.mark.parametrize(
    ("country", "message"),
    [
        ("XYZ", "unknown issuing country 'XYZ'"),
        ("CN", "unknown issuing country 'CN'"),
        ("E", "unknown issuing country 'E'"),
        ("", "issuing country is missing"),
        ("<<<", "issuing country is missing"),
        ("CHINA", "issuing country must be 1 to 3 letters A-Z (ICAO 9303), got 5 characters"),
        ("C1N", "issuing country must be 1 to 3 letters A-Z (ICAO 9303), got 3 characters"),
        ("ＣＨＮ", "issuing country must be 1 to 3 letters A-Z (ICAO 9303), got 3 characters"),
    ],
)
def test_passport_bad_country(country: str, message: str) -> None:
    err = rejects(SubjectKind.PASSPORT, "E12345678", country=country)
    assert err.rule == "country"
    assert str(err) == f"passport: {message}"


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("", "document number is empty"),
        (" < <", "document number is empty"),
        ("E123456789", "document number has 10 characters, expected 1 to 9"),
        ("E1234-678", "character '-' at position 6 of the document number is not A-Z or 0-9"),
        ("E1234:678", "character ':' at position 6 of the document number is not A-Z or 0-9"),
        ("Eſ234", "character 'ſ' at position 2 of the document number is not A-Z or 0-9"),
        ("E１234", "character '１' at position 2 of the document number is not A-Z or 0-9"),
    ],
)
def test_passport_bad_number(number: str, message: str) -> None:
    err = rejects(SubjectKind.PASSPORT, number, country="CHN")
    assert err.rule == "number"
    assert str(err) == f"passport: {message}"


def test_passport_without_country() -> None:
    err = rejects(SubjectKind.PASSPORT, "E12345678")
    assert err.rule == "country"


# --- parse_subject and SubjectId --------------------------------------------------------------


def test_parse_subject_accepts_str_and_enum_kinds() -> None:
    assert parse_subject("credit_code", CREDIT_CODES[1]) == parse_subject(
        SubjectKind.CREDIT_CODE, CREDIT_CODES[1]
    )


def test_parse_subject_unknown_kind() -> None:
    with pytest.raises(IdentifierError) as info:
        parse_subject("ssn", "078-05-1120")
    assert info.value.rule == "kind"
    assert "'ssn'" in str(info.value)
    # Arguments passed the wrong way round must not echo the identifier.
    with pytest.raises(IdentifierError) as info:
        parse_subject(RESIDENT_ID, "resident_id")
    assert RESIDENT_ID not in str(info.value)
    assert "2X" not in str(info.value)


def test_parse_subject_country_only_for_passports() -> None:
    err = rejects(SubjectKind.RESIDENT_ID, RESIDENT_ID, country="CHN")
    assert err.rule == "country"
    err = rejects(SubjectKind.CREDIT_CODE, CREDIT_CODES[0], country="CHN")
    assert err.rule == "country"


def test_identifier_error_is_an_input_error() -> None:
    with pytest.raises(InputError):
        normalize_credit_code("")
    with pytest.raises(ValueError):
        normalize_resident_id("")


def test_oprf_input() -> None:
    assert parse_subject("resident_id", "11010519491231002x").oprf_input() == (
        b"arrears/subject/v1\x00resident_id\x0011010519491231002X"
    )
    assert parse_subject("credit_code", CREDIT_CODES[0]).oprf_input() == (
        b"arrears/subject/v1\x00credit_code\x0091350100M000100Y43"
    )
    assert parse_subject("passport", "e1234567 8", country="chn").oprf_input() == (
        b"arrears/subject/v1\x00passport\x00CHN:E12345678"
    )


def test_oprf_input_separates_kinds() -> None:
    a = SubjectId(SubjectKind.RESIDENT_ID, "X")
    b = SubjectId(SubjectKind.CREDIT_CODE, "X")
    assert a.oprf_input() != b.oprf_input()


def test_repr_and_str_mask_the_value() -> None:
    subject = parse_subject("resident_id", RESIDENT_ID)
    assert repr(subject) == "SubjectId(kind='resident_id', value='**************002X')"
    assert str(subject) == "resident_id:**************002X"
    assert f"{subject}" == str(subject)
    assert RESIDENT_ID not in repr([subject])
    passport = parse_subject("passport", "E12345678", country="CHN")
    assert repr(passport) == "SubjectId(kind='passport', value='*********5678')"
    short = parse_subject("passport", "7", country="UNO")
    assert repr(short) == "SubjectId(kind='passport', value='***:7')"


def test_subject_id_is_frozen_and_typed() -> None:
    subject = parse_subject("credit_code", CREDIT_CODES[2])
    with pytest.raises(AttributeError):
        subject.value = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        SubjectId("resident_id", RESIDENT_ID)  # type: ignore[arg-type]
    assert hash(subject) == hash(SubjectId(SubjectKind.CREDIT_CODE, CREDIT_CODES[2]))


# --- properties -------------------------------------------------------------------------------


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(PROVINCES))
    rest_of_area = draw(st.text(DIGITS, min_size=4, max_size=4))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    sequence = draw(st.text(DIGITS, min_size=3, max_size=3))
    return with_check(f"{province}{rest_of_area}{born:%Y%m%d}{sequence}")


@st.composite
def legacy_resident_ids(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(PROVINCES))
    rest_of_area = draw(st.text(DIGITS, min_size=4, max_size=4))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)))
    sequence = draw(st.text(DIGITS, min_size=3, max_size=3))
    return f"{province}{rest_of_area}{born:%y%m%d}{sequence}"


@st.composite
def credit_codes(draw: st.DrawFn) -> str:
    head = draw(st.text(USCC_ALPHABET, min_size=8, max_size=8))
    org = draw(st.text(USCC_ALPHABET, min_size=8, max_size=8))
    return make_credit_code(head, org)


@st.composite
def passports(draw: st.DrawFn) -> tuple[str, str]:
    country = draw(st.sampled_from(sorted(PASSPORT_COUNTRIES)))
    number = draw(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ" + DIGITS, min_size=1, max_size=9))
    return country, number


@given(resident_ids())
def test_generated_resident_id_normalises_to_itself(value: str) -> None:
    assert normalize_resident_id(value, today=TODAY) == value
    assert normalize_resident_id(value.lower(), today=TODAY) == value
    assert parse_subject("resident_id", value, today=TODAY).value == value


@given(legacy_resident_ids())
def test_generated_legacy_resident_id_converts(legacy: str) -> None:
    modern = with_check(f"{legacy[:6]}19{legacy[6:]}")
    assert normalize_resident_id(legacy, today=TODAY) == modern
    assert normalize_resident_id(modern, today=TODAY) == modern


@given(resident_ids(), st.integers(0, 17), st.sampled_from(DIGITS + "X"))
def test_resident_id_single_change_rejected(value: str, position: int, ch: str) -> None:
    if value[position] == ch:
        ch = DIGITS[(DIGITS.index(ch) + 1) % 10] if ch != "X" else "0"
    changed = value[:position] + ch + value[position + 1 :]
    with pytest.raises(IdentifierError) as info:
        normalize_resident_id(changed, today=TODAY)
    assert value not in str(info.value)
    assert changed not in str(info.value)


@given(credit_codes())
def test_generated_credit_code_normalises_to_itself(value: str) -> None:
    assert normalize_credit_code(value) == value
    assert normalize_credit_code(value.lower()) == value


@given(credit_codes(), st.integers(0, 17), st.sampled_from(USCC_ALPHABET))
def test_credit_code_single_change_rejected(value: str, position: int, ch: str) -> None:
    if value[position] == ch:
        ch = USCC_ALPHABET[(USCC_ALPHABET.index(ch) + 1) % len(USCC_ALPHABET)]
    changed = value[:position] + ch + value[position + 1 :]
    with pytest.raises(IdentifierError) as info:
        normalize_credit_code(changed)
    assert info.value.rule == "check_character"
    assert changed not in str(info.value)


@given(
    st.one_of(
        resident_ids().map(lambda v: parse_subject("resident_id", v, today=TODAY)),
        credit_codes().map(lambda v: parse_subject("credit_code", v)),
        passports().map(lambda p: parse_subject("passport", p[1], country=p[0])),
    )
)
def test_repr_never_contains_the_full_value(subject: SubjectId) -> None:
    for shown in (repr(subject), str(subject), f"{subject!r}", repr((subject,))):
        assert subject.value not in shown
    assert subject.masked.endswith(subject.value[-min(4, len(subject.value) // 2) :])


@given(
    st.sampled_from(list(SubjectKind)),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ" + DIGITS, min_size=6, max_size=24),
)
def test_errors_never_echo_the_input(kind: SubjectKind, value: str) -> None:
    country = "CHN" if kind is SubjectKind.PASSPORT else None
    try:
        parse_subject(kind, value, country=country, today=TODAY)
    except IdentifierError as err:
        assert value not in str(err)
        assert err.kind == kind.value
        assert err.rule
