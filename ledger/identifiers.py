"""Validation and normalisation of subject identifiers.

A subject of a default record is a person or an enterprise, named by one of three identifiers:

* a Chinese resident identity number (GB 11643-1999, ISO 7064 MOD 11-2 check character);
* a unified social credit code (GB 32100-2015, with its embedded GB 11714 organisation code);
* a passport: the ICAO 9303 issuing country code and the document number.

Every identifier is checked and brought to one canonical form before it becomes the input of
the pseudonymising OPRF (:meth:`SubjectId.oprf_input`), so that the same subject always gets
the same pseudonym however a lender typed the identifier, and a mistyped identifier is
rejected before it can create a pseudonym of its own.

This module is pure: it never logs, stores or sends an identifier. Error messages name the
kind and the rule that failed but never repeat the identifier, and the ``repr`` and ``str`` of
a :class:`SubjectId` mask all but its last few characters, because both end up in logs and in
answers to other members.

The check algorithms are written here rather than taken from python-stdnum: its ``cn.uscc``
wrongly requires the first 8 characters of a credit code to be digits, and its ``cn.ric``
rejects resident IDs from some valid historical area codes. Here a resident ID's area code is
checked only down to the province level, and a credit code's leading characters only against
the GB 32100 alphabet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final

from arrears.ledger.errors import IdentifierError

__all__ = [
    "ICAO_ISSUER_CODES",
    "ISO_3166_ALPHA3",
    "OPRF_DOMAIN",
    "PASSPORT_COUNTRIES",
    "PROVINCE_CODES",
    "USCC_ALPHABET",
    "SubjectId",
    "SubjectKind",
    "normalize_credit_code",
    "normalize_passport",
    "normalize_resident_id",
    "parse_subject",
]


class SubjectKind(StrEnum):
    """The kinds of identifier a subject can be named by."""

    RESIDENT_ID = "resident_id"
    CREDIT_CODE = "credit_code"
    PASSPORT = "passport"


OPRF_DOMAIN: Final = "arrears/subject/v1"
"""Domain separation prefix of :meth:`SubjectId.oprf_input`."""

_DIGITS: Final = "0123456789"
_ASCII_UPPER: Final = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")

# --- Resident identity number (GB 11643-1999) -------------------------------------------------

_RIC_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RIC_CHECK: Final = "10X98765432"

PROVINCE_CODES: Final = frozenset(
    [f"{n:02d}" for n in range(11, 16)]
    + [f"{n:02d}" for n in range(21, 24)]
    + [f"{n:02d}" for n in range(31, 38)]
    + [f"{n:02d}" for n in range(41, 47)]
    + [f"{n:02d}" for n in range(50, 55)]
    + [f"{n:02d}" for n in range(61, 66)]
    + ["71", "81", "82", "83", "91"]
)
"""First two digits of the area code of a resident ID: the province-level divisions."""

# --- Unified social credit code (GB 32100-2015) and organisation code (GB 11714) --------------

USCC_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters of GB 32100 (no I, O, S, V, Z)."""

_USCC_VALUE: Final = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)

# --- Passports (ISO 3166-1 alpha-3, ICAO 9303) ------------------------------------------------

_ISO_3166_ALPHA3_TABLE: Final = """
    ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN BES BFA
    BGD BGR BHR BHS BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN CCK CHE CHL CHN
    CIV CMR COD COG COK COL COM CPV CRI CUB CUW CXR CYM CYP CZE DEU DJI DMA DNK DOM DZA ECU
    EGY ERI ESH ESP EST ETH FIN FJI FLK FRA FRO FSM GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB
    GNQ GRC GRD GRL GTM GUF GUM GUY HKG HMD HND HRV HTI HUN IDN IMN IND IOT IRL IRN IRQ ISL
    ISR ITA JAM JEY JOR JPN KAZ KEN KGZ KHM KIR KNA KOR KWT LAO LBN LBR LBY LCA LIE LKA LSO
    LTU LUX LVA MAC MAF MAR MCO MDA MDG MDV MEX MHL MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR
    MTQ MUS MWI MYS MYT NAM NCL NER NFK NGA NIC NIU NLD NOR NPL NRU NZL OMN PAK PAN PCN PER
    PHL PLW PNG POL PRI PRK PRT PRY PSE PYF QAT REU ROU RUS RWA SAU SDN SEN SGP SGS SHN SJM
    SLB SLE SLV SMR SOM SPM SRB SSD STP SUR SVK SVN SWE SWZ SXM SYC SYR TCA TCD TGO THA TJK
    TKL TKM TLS TON TTO TUN TUR TUV TWN TZA UGA UKR UMI URY USA UZB VAT VCT VEN VGB VIR VNM
    VUT WLF WSM YEM ZAF ZMB ZWE
"""

ISO_3166_ALPHA3: Final = frozenset(_ISO_3166_ALPHA3_TABLE.split())
"""The 249 ISO 3166-1 alpha-3 country codes."""

ICAO_ISSUER_CODES: Final = frozenset(
    ("D", "GBD", "GBN", "GBO", "GBP", "GBS", "UNA", "UNK", "UNO", "XXA", "XXB", "XXC", "XXX", "EUE")
)
"""Issuer codes ICAO 9303 uses beside ISO 3166-1: ``D`` for Germany, British nationality
classes, United Nations bodies, stateless persons and refugees, the European Union."""

PASSPORT_COUNTRIES: Final = ISO_3166_ALPHA3 | ICAO_ISSUER_CODES
"""Every issuing country code a passport may carry."""

_PASSPORT_NUMBER_MAX: Final = 9
_COUNTRY_SHAPE: Final = re.compile(r"[A-Z]{1,3}")
_KIND_SHAPE: Final = re.compile(r"[a-z_]{1,24}")
_MASK_KEEP: Final = 4


def _mask(value: str) -> str:
    """``value`` with all but its last 4 characters (never more than half of it) masked."""
    keep = min(_MASK_KEEP, len(value) // 2)
    return "*" * (len(value) - keep) + value[len(value) - keep :]


def _error(kind: SubjectKind, rule: str, detail: str) -> IdentifierError:
    return IdentifierError(f"{kind.value}: {detail}", kind=kind.value, rule=rule)


def _require_str(kind: SubjectKind, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{kind.value}: expected str, got {type(value).__name__}")
    return value


def _upper(value: str) -> str:
    """ASCII upper-casing: unlike ``str.upper`` it never turns ``ſ`` or ``ﬀ`` into ASCII."""
    return value.translate(_ASCII_UPPER)


# --- Check algorithms -------------------------------------------------------------------------


def _resident_check(body: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits of a resident ID."""
    total = sum(int(ch) * w for ch, w in zip(body, _RIC_WEIGHTS, strict=True))
    return _RIC_CHECK[total % 11]


def _uscc_check(body: str) -> str:
    """GB 32100 check character of the first 17 characters of a credit code."""
    total = sum(_USCC_VALUE[ch] * w for ch, w in zip(body, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def _org_value(ch: str) -> int:
    """GB 11714 value of a character: digits are themselves, ``A`` to ``Z`` are 10 to 35."""
    return int(ch) if ch in _DIGITS else ord(ch) - ord("A") + 10


def _org_check(body: str) -> str:
    """GB 11714 check character of the 8-character body of an organisation code."""
    total = sum(_org_value(ch) * w for ch, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 10:
        return "X"
    if check == 11:
        return "0"
    return str(check)


# --- Normalisers ------------------------------------------------------------------------------


def _birth_date(text: str, today: date) -> None:
    """Check the ``YYYYMMDD`` birth date of a resident ID."""
    kind = SubjectKind.RESIDENT_ID
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:8])
    try:
        born = date(year, month, day)
    except ValueError:
        if year < 1:
            detail = "birth year 0000 does not exist"
        elif not 1 <= month <= 12:
            detail = f"birth month {month:02d} does not exist"
        else:
            detail = f"birth date is not a calendar date (month {month:02d} has no day {day:02d})"
        raise _error(kind, "birth_date", detail) from None
    if born > today:
        raise _error(kind, "birth_date", f"birth date lies in the future (after {today})")


def normalize_resident_id(value: str, *, today: date | None = None) -> str:
    """The canonical 18-character form of a resident identity number.

    Surrounding whitespace is dropped and a final ``x`` is upper-cased. A legacy 15-digit ID
    becomes its 18-digit form: ``19`` goes before the 2-digit birth year and the check
    character is appended. The area code must start with a province-level code, the birth
    date must be a real date no later than ``today`` (default: the local date), and the check
    character of an 18-character ID must match.
    """
    kind = SubjectKind.RESIDENT_ID
    text = _upper(_require_str(kind, value).strip())
    length = len(text)
    if length not in (15, 18):
        raise _error(kind, "length", f"length {length}, expected 18 (or legacy 15)")
    for i, ch in enumerate(text):
        if ch in _DIGITS:
            continue
        if length == 18 and i == 17:
            if ch == "X":
                continue
            detail = f"character {ch!r} at position 18 is not a digit or 'X'"
        else:
            detail = f"character {ch!r} at position {i + 1} is not a digit"
        raise _error(kind, "charset", detail)
    if text[:2] not in PROVINCE_CODES:
        raise _error(
            kind, "area_code", f"area code starts with {text[:2]!r}, not a province-level code"
        )
    body = text[:17] if length == 18 else f"{text[:6]}19{text[6:]}"
    _birth_date(body[6:14], date.today() if today is None else today)
    expected = _resident_check(body)
    if length == 18 and text[17] != expected:
        raise _error(
            kind, "check_character", f"check character is {text[17]!r}, expected {expected!r}"
        )
    return body + expected


def normalize_credit_code(value: str) -> str:
    """The canonical form of a unified social credit code.

    Surrounding whitespace is dropped and letters are upper-cased. All 18 characters must be in
    the GB 32100 alphabet, the last must be the GB 32100 check character, and characters 9 to
    17 must be a GB 11714 organisation code with a correct check character.
    """
    kind = SubjectKind.CREDIT_CODE
    text = _upper(_require_str(kind, value).strip())
    if len(text) != 18:
        raise _error(kind, "length", f"length {len(text)}, expected 18")
    for i, ch in enumerate(text):
        if ch not in _USCC_VALUE:
            raise _error(
                kind,
                "charset",
                f"character {ch!r} at position {i + 1} is not in the GB 32100 alphabet",
            )
    expected = _uscc_check(text[:17])
    if text[17] != expected:
        raise _error(
            kind, "check_character", f"check character is {text[17]!r}, expected {expected!r}"
        )
    org_expected = _org_check(text[8:16])
    if text[16] != org_expected:
        raise _error(
            kind,
            "organisation_code",
            f"organisation code check character (position 17) is {text[16]!r}, "
            f"expected {org_expected!r}",
        )
    return text


def _strip_filler(value: str) -> str:
    """``value`` upper-cased, without whitespace and without the MRZ filler ``<``."""
    return _upper("".join(value.split()).replace("<", ""))


def normalize_passport(country: str, number: str) -> str:
    """The canonical ``COUNTRY:NUMBER`` form of a passport.

    ``country`` is the issuing state as printed in the MRZ (ISO 3166-1 alpha-3 or one of the
    ICAO 9303 codes, such as ``D`` for Germany); ``number`` is the document number, 1 to 9
    characters ``A``-``Z``, ``0``-``9``. Both are upper-cased, and spaces and the ``<`` filler
    are dropped.
    """
    kind = SubjectKind.PASSPORT
    issuer = _strip_filler(_require_str(kind, country))
    if not issuer:
        raise _error(kind, "country", "issuing country is missing")
    if _COUNTRY_SHAPE.fullmatch(issuer) is None:
        raise _error(
            kind,
            "country",
            f"issuing country must be 1 to 3 letters A-Z (ICAO 9303), got {len(issuer)} characters",
        )
    if issuer not in PASSPORT_COUNTRIES:
        raise _error(kind, "country", f"unknown issuing country {issuer!r}")
    doc = _strip_filler(_require_str(kind, number))
    if not doc:
        raise _error(kind, "number", "document number is empty")
    if len(doc) > _PASSPORT_NUMBER_MAX:
        raise _error(
            kind,
            "number",
            f"document number has {len(doc)} characters, expected 1 to {_PASSPORT_NUMBER_MAX}",
        )
    for i, ch in enumerate(doc):
        if not ("A" <= ch <= "Z" or ch in _DIGITS):
            raise _error(
                kind,
                "number",
                f"character {ch!r} at position {i + 1} of the document number is not A-Z or 0-9",
            )
    return f"{issuer}:{doc}"


# --- Subject identifiers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class SubjectId:
    """A validated, normalised subject identifier.

    Build it with :func:`parse_subject`. ``value`` is the canonical form (for passports
    ``COUNTRY:NUMBER``). ``repr`` and ``str`` mask all but the last 4 characters.
    """

    kind: SubjectKind
    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.kind, SubjectKind):
            raise TypeError(f"SubjectId.kind must be a SubjectKind, got {type(self.kind).__name__}")
        if not isinstance(self.value, str):
            raise TypeError(f"SubjectId.value must be str, got {type(self.value).__name__}")

    def oprf_input(self) -> bytes:
        """The canonical bytes fed to the OPRF: ``arrears/subject/v1 NUL kind NUL value``."""
        return f"{OPRF_DOMAIN}\x00{self.kind.value}\x00{self.value}".encode()

    @property
    def masked(self) -> str:
        """``value`` with all but its last 4 characters replaced by ``*``."""
        return _mask(self.value)

    def __repr__(self) -> str:
        return f"SubjectId(kind={self.kind.value!r}, value={self.masked!r})"

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.masked}"


def _coerce_kind(kind: str | SubjectKind) -> SubjectKind:
    if isinstance(kind, SubjectKind):
        return kind
    try:
        return SubjectKind(kind)
    except ValueError:
        shown = repr(kind) if isinstance(kind, str) and _KIND_SHAPE.fullmatch(kind) else "given"
        expected = ", ".join(k.value for k in SubjectKind)
        raise IdentifierError(
            f"unknown subject kind {shown}, expected one of {expected}", kind="", rule="kind"
        ) from None


def parse_subject(
    kind: str | SubjectKind,
    value: str,
    *,
    country: str | None = None,
    today: date | None = None,
) -> SubjectId:
    """Validate and normalise an identifier of the given kind.

    For a passport, ``value`` is the document number and ``country`` the issuing country; when
    ``country`` is omitted, ``value`` may be the canonical ``COUNTRY:NUMBER`` form.
    ``country`` is refused for the other kinds. ``today`` bounds a resident ID's birth date.
    """
    subject_kind = _coerce_kind(kind)
    if subject_kind is SubjectKind.PASSPORT:
        if country is None:
            head, sep, tail = _require_str(subject_kind, value).partition(":")
            if not sep:
                raise _error(subject_kind, "country", "issuing country is missing")
            return SubjectId(subject_kind, normalize_passport(head, tail))
        return SubjectId(subject_kind, normalize_passport(country, value))
    if country is not None:
        raise _error(subject_kind, "country", "an issuing country applies only to passports")
    if subject_kind is SubjectKind.RESIDENT_ID:
        return SubjectId(subject_kind, normalize_resident_id(value, today=today))
    return SubjectId(subject_kind, normalize_credit_code(value))
