"""Identifier parsers: fixed examples from the domain brief, and Hypothesis properties.

Every value here is synthetic: built from random digits plus a computed check digit.
Valid values must round-trip through their normal form; single mutations must be refused
with a message that never repeats the value.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import date, timedelta
from types import ModuleType
from typing import Any

import pytest
from faker.providers.ssn import zh_CN as ssn_zh
from hypothesis import assume, example, given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from stdnum.cn import ric

import factories as make
from cardtrace.domain import identifiers
from cardtrace.domain.identifiers import (
    Iccid,
    Imsi,
    IpAddress,
    Msisdn,
    PaymentAccount,
    ResidentIdNumber,
    clear_identifier_caches,
    luhn_check_digit,
    msisdn_kind,
    parse_iccid,
    parse_imsi,
    parse_ip,
    parse_msisdn,
    parse_payment_account,
    parse_resident_id,
    resident_id_check_digit,
    resident_id_warnings,
)
from cardtrace.domain.identifiers._network import normal_ip
from cardtrace.errors import InvalidIdentifier

# -- helpers ---------------------------------------------------------------------------


def rejected(parse: Callable[[str], object], value: str) -> str:
    """Assert ``parse`` refuses ``value`` without echoing it; return the message."""
    with pytest.raises(InvalidIdentifier) as caught:
        parse(value)
    message = str(caught.value)
    compact = "".join(value.split()).replace("-", "")
    for shown in {value.strip(), compact}:
        if len(shown) > 4:
            assert shown not in message
    return message


def digit_strings(length: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=length, max_size=length)


def with_luhn(body: str) -> str:
    return body + luhn_check_digit(body)


def change_one_digit(data: st.DataObject, value: str, positions: range) -> str:
    """``value`` with one digit in ``positions`` replaced by a different digit."""
    index = data.draw(st.sampled_from(positions))
    new = data.draw(st.sampled_from([d for d in "0123456789" if d != value[index]]))
    return value[:index] + new + value[index + 1 :]


# -- the public surface ----------------------------------------------------------------


def public_names(module: ModuleType) -> set[str]:
    return {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_") and name != "annotations" and not isinstance(obj, ModuleType)
    }


def test_all_lists_exactly_the_public_names() -> None:
    assert set(identifiers.__all__) == public_names(identifiers)
    assert identifiers.__all__ == sorted(identifiers.__all__)


def test_invalid_identifier_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="check digit"):
        parse_resident_id("110105194912310021")


@pytest.mark.parametrize(
    "parse",
    [parse_resident_id, parse_msisdn, parse_imsi, parse_iccid, parse_ip, parse_payment_account],
)
@pytest.mark.parametrize("value", ["", "   ", "x" * 400, 12345678901])
def test_garbage_is_refused_by_every_parser(parse: Callable[[Any], object], value: Any) -> None:
    with pytest.raises(InvalidIdentifier):
        parse(value)


# -- check digits ----------------------------------------------------------------------


def test_resident_id_check_digit_domain_vectors() -> None:
    assert resident_id_check_digit("11010519491231002") == "X"
    assert resident_id_check_digit("34052419800101001") == "X"


@given(digit_strings(17))
def test_resident_id_check_digit_agrees_with_stdnum(first17: str) -> None:
    assert resident_id_check_digit(first17) == ric.calc_check_digit(first17 + "0")


@pytest.mark.parametrize("bad", ["", "1234567890123456", "123456789012345678", "1101051949123100X"])
def test_resident_id_check_digit_needs_17_digits(bad: str) -> None:
    with pytest.raises(InvalidIdentifier):
        resident_id_check_digit(bad)


def test_luhn_check_digit_known_values() -> None:
    assert luhn_check_digit("7992739871") == "3"
    assert luhn_check_digit("411111111111111") == "1"
    assert with_luhn("8986007031011209432") == "89860070310112094320"


@pytest.mark.parametrize("bad", ["", "12a4", "１２３"])
def test_luhn_check_digit_needs_ascii_digits(bad: str) -> None:
    with pytest.raises(InvalidIdentifier):
        luhn_check_digit(bad)


# -- resident ID numbers ---------------------------------------------------------------

MAINLAND_PROVINCES = [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37]
MAINLAND_PROVINCES += [41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65]
# Tomorrow in UTC may still be today in China; two days ahead is the future everywhere.
SAFE_TODAY = date.today() - timedelta(days=1)
FUTURE = date.today() + timedelta(days=2)


@st.composite
def region_codes(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return f"{draw(st.sampled_from([71, 81, 82, 83]))}0000"
    province = draw(st.sampled_from(MAINLAND_PROVINCES))
    return f"{province}{draw(st.integers(1, 99)):02d}{draw(st.integers(0, 99)):02d}"


@st.composite
def resident_ids(
    draw: st.DrawFn, births: st.SearchStrategy[date] | None = None, regions: Any = None
) -> str:
    region = draw(regions if regions is not None else region_codes())
    birth = draw(births if births is not None else st.dates(date(1900, 1, 1), SAFE_TODAY))
    first17 = f"{region}{birth:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return first17 + resident_id_check_digit(first17)


@st.composite
def legacy_ids(draw: st.DrawFn) -> str:
    birth = draw(st.dates(date(1900, 1, 1), date(1999, 12, 31)))
    return f"{draw(region_codes())}{birth:%y%m%d}{draw(st.integers(0, 999)):03d}"


def test_domain_example_parses() -> None:
    parsed = parse_resident_id("11010519491231002X")
    assert parsed.number == "11010519491231002X"
    assert parsed.region_code == "110105"
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "F"
    assert parsed.legacy is False
    assert parse_resident_id("34052419800101001X").sex == "M"


def test_lowercase_x_and_separators_are_normalised() -> None:
    assert parse_resident_id(" 110105 19491231 002x ").number == "11010519491231002X"


def test_parsed_resident_id_repr_hides_the_number() -> None:
    shown = repr(parse_resident_id("11010519491231002X"))
    assert "110105" not in shown
    assert "1949" not in shown


@given(resident_ids())
def test_valid_resident_ids_round_trip(number: str) -> None:
    parsed = parse_resident_id(number)
    assert parsed.number == number
    assert parse_resident_id(parsed.number) == parsed
    assert parse_resident_id(number.lower()) == parsed
    assert parsed.birth_date == date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    assert parsed.sex == ("M" if int(number[16]) % 2 else "F")


@given(resident_ids(regions=st.sampled_from(["110101", "110105", "120101", "310101", "310104"])))
def test_valid_resident_ids_are_valid_for_stdnum(number: str) -> None:
    assert ric.is_valid(number)
    assert ric.get_birth_date(number) == parse_resident_id(number).birth_date


@given(st.text(alphabet="0123456789X", min_size=18, max_size=18))
def test_whatever_we_accept_stdnum_checksums_agree(number: str) -> None:
    try:
        parsed = parse_resident_id(number)
    except InvalidIdentifier:
        return
    assert ric.calc_check_digit(number) == number[-1]
    assert ric.get_birth_date(number) == parsed.birth_date


@given(legacy_ids())
def test_legacy_ids_round_trip_and_are_flagged(number: str) -> None:
    parsed = parse_resident_id(number)
    assert parsed.legacy is True
    assert parsed.number == number
    assert parsed.birth_date.year // 100 == 19
    assert parse_resident_id(parsed.number) == parsed


@given(resident_ids(), st.data())
def test_one_changed_digit_is_refused(number: str, data: st.DataObject) -> None:
    rejected(parse_resident_id, change_one_digit(data, number, range(17)))


@given(resident_ids(), st.sampled_from("0123456789X"))
def test_wrong_check_character_is_refused(number: str, check: str) -> None:
    assume(check != number[-1])
    message = rejected(parse_resident_id, number[:17] + check)
    assert message == "ID number check digit does not match"


@given(resident_ids(), st.integers(0, 16))
def test_adjacent_transposition_is_refused(number: str, index: int) -> None:
    assume(number[index] != number[index + 1])
    swapped = number[:index] + number[index + 1] + number[index] + number[index + 2 :]
    rejected(parse_resident_id, swapped)


@given(resident_ids(), st.data())
def test_wrong_length_is_refused(number: str, data: st.DataObject) -> None:
    shorter = number[:-1]
    longer = number[:17] + data.draw(st.sampled_from("0123456789")) + number[17]
    assert "characters" in rejected(parse_resident_id, shorter)
    assert "characters" in rejected(parse_resident_id, longer)


@given(resident_ids(births=st.dates(FUTURE, date(2999, 12, 31))))
def test_future_birth_date_is_refused(number: str) -> None:
    assert "in the future" in rejected(parse_resident_id, number)


@given(resident_ids(births=st.dates(date(1000, 1, 1), date(1899, 12, 31))))
def test_birth_before_1900_is_refused(number: str) -> None:
    assert "before 1900" in rejected(parse_resident_id, number)


@pytest.mark.parametrize("month_day", ["0230", "0229", "0431", "1301", "0000", "1232"])
def test_impossible_birth_date_is_refused(month_day: str) -> None:
    first17 = f"1101051990{month_day}001"
    message = rejected(parse_resident_id, first17 + resident_id_check_digit(first17))
    assert message == "birth date in the ID number is not a real date"


def test_leap_day_is_accepted_in_a_leap_year() -> None:
    first17 = "11010520000229001"
    parse_resident_id(first17 + resident_id_check_digit(first17))


@pytest.mark.parametrize(
    ("region", "reason"),
    [
        ("000000", "names no province"),
        ("990101", "names no province"),
        ("190101", "names no province"),
        ("110000", "names no prefecture"),
        ("810101", "province-level"),
        ("830101", "province-level"),
    ],
)
def test_bad_address_code_is_refused(region: str, reason: str) -> None:
    first17 = f"{region}19800101001"
    assert reason in rejected(parse_resident_id, first17 + resident_id_check_digit(first17))


@pytest.mark.parametrize(
    "value", ["1101051949123100XX", "11010519491231002Y", "1101O519491231002X"]
)
def test_non_digit_characters_are_refused(value: str) -> None:
    rejected(parse_resident_id, value)


def test_taiwan_residents_numbers_parse() -> None:
    """Residence permits of Taiwan residents carry 830000 (HK 810000, Macao 820000)."""
    first17 = "83000019920130002"
    parsed = parse_resident_id(first17 + resident_id_check_digit(first17))
    assert (parsed.region_code, parsed.birth_date) == ("830000", date(1992, 1, 30))


# Codes of Faker's zh_CN list (another source than python-stdnum's) that name a county.
FAKER_COUNTIES = [c for c in ssn_zh.Provider.area_codes if c[2:4] != "00" and c[4:] != "00"]
UNLISTED = "address code is not a county code in GB/T 2260's list, past or present"


@pytest.mark.parametrize(
    "first17",
    [
        "11010519491231002",  # 朝阳区
        "11010320150101001",  # 崇文区, merged away in 2010: numbers never change
        "11011219600101001",  # 通州区, a county since 1997, on a number of someone born before
        "83000019920130002",  # a Taiwan resident's residence permit
        "81000019920130002",
    ],
)
def test_county_codes_gb_t_2260_has_held_raise_no_warning(first17: str) -> None:
    number = make.resident_id(first17)
    assert parse_resident_id(number).listed_county
    assert resident_id_warnings(number) == []


@pytest.mark.parametrize(
    "first17",
    [
        "34052419800101001",  # GB 11643-1999's own example, missing from the list
        "11019919800101001",
        "62020119800101001",  # in Faker's list, not in stdnum's
    ],
)
def test_an_unlisted_county_code_is_accepted_with_a_warning(first17: str) -> None:
    number = make.resident_id(first17)
    assert not parse_resident_id(number).listed_county
    assert resident_id_warnings(number) == [UNLISTED]
    assert resident_id_warnings(number[:6] + number[8:17]) == [
        "legacy 15-digit ID number",
        UNLISTED,
    ]


@given(resident_ids(regions=st.sampled_from(FAKER_COUNTIES)))
def test_a_number_stdnum_validates_has_a_listed_county(number: str) -> None:
    if ric.is_valid(number):  # stdnum also wants the county in use in the birth year
        assert parse_resident_id(number).listed_county
    assert resident_id_warnings(number) in ([], [UNLISTED])


NOT_A_CHECK_CHARACTER = st.characters().filter(
    lambda c: not c.isspace() and c not in "0123456789xX-"
)


@given(digit_strings(17), NOT_A_CHECK_CHARACTER)
@example("11010519491231002", "ß")  # upper-cases to two characters
def test_a_wrong_last_character_is_named_whatever_its_upper_case(first17: str, last: str) -> None:
    message = rejected(parse_resident_id, first17 + last)
    assert message == "ID number must be 17 digits followed by a digit or X"


@given(digit_strings(14), NOT_A_CHECK_CHARACTER)
@example("11010549123100", "ﬁ")  # upper-cases to two characters
def test_a_wrong_last_legacy_character_is_named_whatever_its_upper_case(
    first14: str, last: str
) -> None:
    message = rejected(parse_resident_id, first14 + last)
    assert message == "legacy 15-character ID number must be all digits"


# -- mobile numbers --------------------------------------------------------------------

# (prefix, digits, carrier, kind) straight from domain brief §4.2.
PHONE_BLOCKS: list[tuple[str, int, str | None, str]] = [
    *[(p, 11, "cmcc", "personal") for p in ["1340", "1344", "1348", "135", "139", "150"]],
    *[(p, 11, "cmcc", "personal") for p in ["152", "157", "159", "172", "178", "182", "184"]],
    *[(p, 11, "cmcc", "personal") for p in ["187", "188", "195", "197", "198"]],
    *[(p, 11, "cucc", "personal") for p in ["130", "132", "155", "156", "166", "175", "176"]],
    *[(p, 11, "cucc", "personal") for p in ["185", "186", "196"]],
    *[(p, 11, "ctcc", "personal") for p in ["133", "1349", "153", "173", "17400", "17405"]],
    *[(p, 11, "ctcc", "personal") for p in ["177", "180", "181", "189", "190", "191", "193"]],
    ("199", 11, "ctcc", "personal"),
    ("192", 11, "cbn", "personal"),
    ("1749", 11, None, "personal"),
    ("17406", 11, None, "personal"),
    ("17412", 11, None, "personal"),
    *[(p, 11, "cmcc", "mvno") for p in ["165", "1703", "1705", "1706"]],
    *[(p, 11, "cucc", "mvno") for p in ["167", "171", "1704", "1707", "1709"]],
    *[(p, 11, "ctcc", "mvno") for p in ["162", "1700", "1702"]],
    ("147", 11, "cmcc", "data"),
    ("145", 11, "cucc", "data"),
    ("149", 11, "ctcc", "data"),
    *[(p, 13, "cmcc", "iot") for p in ["1440", "1441", "148"]],
    ("146", 13, "cucc", "iot"),
    ("1410", 13, "ctcc", "iot"),
    *[(p, 13, None, "iot") for p in ["10640", "10646", "10648", "10649"]],
]
UNKNOWN_11 = [f"1{n:02d}" for n in range(30)] + ["140", "141", "142", "143", "144", "146"]
UNKNOWN_11 += [
    "148",
    "154",
    "160",
    "161",
    "163",
    "164",
    "168",
    "169",
    "179",
    "194",
    "1745",
    "17413",
]
UNKNOWN_13 = ["130", "135", "147", "145", "149", "1442", "1411", "1063", "1065", "140", "199"]


@st.composite
def phone_numbers(draw: st.DrawFn) -> tuple[str, str | None, str]:
    prefix, length, carrier, kind = draw(st.sampled_from(PHONE_BLOCKS))
    return prefix + draw(digit_strings(length - len(prefix))), carrier, kind


@st.composite
def spelled(draw: st.DrawFn, national: str) -> str:
    """``national`` as a person might type it: a country prefix and separators."""
    text = draw(st.sampled_from(["", "+86", "86", "0086", "+86 ", "+86-"])) + national
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(1, len(text) - 1))
        text = text[:at] + draw(st.sampled_from([" ", "-"])) + text[at:]
    return text


@pytest.mark.parametrize(
    ("value", "e164", "carrier", "kind"),
    [
        ("+86 138 1234 5678", "+8613812345678", "cmcc", "personal"),
        ("008613812345678", "+8613812345678", "cmcc", "personal"),
        ("8613812345678", "+8613812345678", "cmcc", "personal"),
        ("138-1234-5678", "+8613812345678", "cmcc", "personal"),
        ("13401234567", "+8613401234567", "cmcc", "personal"),
        ("13491234567", "+8613491234567", "ctcc", "personal"),
        ("19212345678", "+8619212345678", "cbn", "personal"),
        ("17031234567", "+8617031234567", "cmcc", "mvno"),
        ("17101234567", "+8617101234567", "cucc", "mvno"),
        ("16212345678", "+8616212345678", "ctcc", "mvno"),
        ("14912345678", "+8614912345678", "ctcc", "data"),
        ("1064812345678", "+861064812345678", None, "iot"),
        ("+86 1440 123 456 789", "+861440123456789", "cmcc", "iot"),
        ("861460012345678", "+861460012345678", "cucc", "iot"),
    ],
)
def test_msisdn_examples(value: str, e164: str, carrier: str | None, kind: str) -> None:
    parsed = parse_msisdn(value)
    assert (parsed.e164, parsed.carrier, parsed.kind) == (e164, carrier, kind)
    assert parsed.national == e164[3:]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("16112345678", "unknown mobile prefix 1611"),
        ("1381234567890", "unknown IoT prefix 1381"),
        ("1381234567", "has 10 digits"),
        ("+1 202 555 0143", "not a mainland China"),
        ("1381234567a", "only digits"),
        ("138.1234.5678", "only digits"),
        ("０１３８１２３４５６７", "only digits"),
    ],
)
def test_msisdn_rejections(value: str, reason: str) -> None:
    assert reason in rejected(parse_msisdn, value)


BLANKS = st.text(alphabet=" -\t\u00a0\u3000", max_size=12)


@given(BLANKS, st.sampled_from(["", "+86", "0086"]))
def test_a_number_without_digits_is_told_by_its_length(blank: str, country: str) -> None:
    assert rejected(parse_msisdn, country + blank) == (
        "mobile number has 0 digits, expected 11 (or 13 for an IoT number)"
    )


def test_parsed_phone_repr_hides_the_number() -> None:
    assert "12345678" not in repr(parse_msisdn("13812345678"))


@given(phone_numbers(), st.data())
def test_valid_msisdns_round_trip(number: tuple[str, str | None, str], data: st.DataObject) -> None:
    national, carrier, kind = number
    parsed = parse_msisdn(national)
    assert (parsed.national, parsed.e164) == (national, "+86" + national)
    assert (parsed.carrier, parsed.kind) == (carrier, kind)
    assert parse_msisdn(parsed.e164) == parsed
    assert parse_msisdn(data.draw(spelled(national))) == parsed
    assert msisdn_kind(parsed.e164) == kind


@given(phone_numbers(), st.sampled_from("0123456789"))
def test_msisdn_of_wrong_length_is_refused(number: tuple[str, str | None, str], extra: str) -> None:
    national = number[0]
    rejected(parse_msisdn, national[:-1])
    rejected(parse_msisdn, national + extra)


@given(st.sampled_from(UNKNOWN_11), st.data())
def test_unknown_11_digit_prefixes_are_refused(prefix: str, data: st.DataObject) -> None:
    number = prefix + data.draw(digit_strings(11 - len(prefix)))
    assert rejected(parse_msisdn, number) == f"unknown mobile prefix {number[:4]}"


@given(st.sampled_from(UNKNOWN_13), st.data())
def test_unknown_13_digit_prefixes_are_refused(prefix: str, data: st.DataObject) -> None:
    number = prefix + data.draw(digit_strings(13 - len(prefix)))
    assert rejected(parse_msisdn, number) == f"unknown IoT prefix {number[:4]}"


def test_cache_can_be_cleared() -> None:
    first = parse_msisdn("13812345678")
    clear_identifier_caches()
    assert parse_msisdn("13812345678") == first


# -- IMSI and ICCID --------------------------------------------------------------------

IMSI_NETWORKS = {
    **dict.fromkeys(["00", "02", "04", "07", "08"], "cmcc"),
    **dict.fromkeys(["01", "06", "09", "10"], "cucc"),
    **dict.fromkeys(["03", "05", "11", "12"], "ctcc"),
    "15": "cbn",
}
ICCID_ISSUERS = {
    **dict.fromkeys(["00", "02", "04", "07"], "cmcc"),
    **dict.fromkeys(["01", "06", "09"], "cucc"),
    **dict.fromkeys(["03", "11"], "ctcc"),
}


@given(st.sampled_from(sorted(IMSI_NETWORKS)), digit_strings(10))
def test_valid_imsis_round_trip(mnc: str, msin: str) -> None:
    parsed = parse_imsi(f"460{mnc}{msin}")
    assert (parsed.imsi, parsed.mcc, parsed.mnc, parsed.msin) == (
        f"460{mnc}{msin}",
        "460",
        mnc,
        msin,
    )
    assert parsed.carrier == IMSI_NETWORKS[mnc]
    assert parse_imsi(parsed.imsi) == parsed


@given(st.integers(0, 99).map("{:02d}".format), digit_strings(10))
def test_unknown_imsi_networks_are_refused(mnc: str, msin: str) -> None:
    assume(mnc not in IMSI_NETWORKS)
    assert rejected(parse_imsi, f"460{mnc}{msin}") == f"unknown IMSI network code {mnc}"


@given(digit_strings(3), digit_strings(12))
def test_foreign_imsis_are_refused(mcc: str, rest: str) -> None:
    assume(mcc != "460")
    assert "country code" in rejected(parse_imsi, mcc + rest)


@given(st.sampled_from(sorted(IMSI_NETWORKS)), digit_strings(10), st.sampled_from("0123456789"))
def test_imsi_of_wrong_length_is_refused(mnc: str, msin: str, extra: str) -> None:
    rejected(parse_imsi, f"460{mnc}{msin[:-1]}")
    rejected(parse_imsi, f"460{mnc}{msin}{extra}")


@given(BLANKS)
def test_sim_identifiers_without_digits_are_told_by_their_length(blank: str) -> None:
    assert rejected(parse_imsi, blank) == "IMSI has 0 digits, expected 15"
    assert rejected(parse_iccid, blank) == "ICCID has 0 digits, expected 19 or 20"


@st.composite
def iccids(draw: st.DrawFn) -> str:
    issuer = draw(st.one_of(st.sampled_from(sorted(ICCID_ISSUERS)), digit_strings(2)))
    length = draw(st.sampled_from([19, 20]))
    return with_luhn("8986" + issuer + draw(digit_strings(length - 7)))


def test_iccid_domain_example() -> None:
    parsed = parse_iccid("89860070310112094320")
    assert (parsed.iccid, parsed.issuer_code, parsed.carrier) == (
        "89860070310112094320",
        "00",
        "cmcc",
    )


@given(iccids())
def test_valid_iccids_round_trip(iccid: str) -> None:
    parsed = parse_iccid(iccid)
    assert parsed.iccid == iccid
    assert parsed.carrier == ICCID_ISSUERS.get(iccid[4:6])
    assert parse_iccid(parsed.iccid) == parsed
    assert parse_iccid(" ".join([iccid[:6], iccid[6:12], iccid[12:]])) == parsed


@given(iccids(), st.data())
def test_iccid_with_one_changed_digit_is_refused(iccid: str, data: st.DataObject) -> None:
    rejected(parse_iccid, change_one_digit(data, iccid, range(len(iccid))))


@given(iccids(), st.integers(0, 18))
def test_iccid_adjacent_transposition_is_refused(iccid: str, index: int) -> None:
    assume(index + 1 < len(iccid))
    pair = iccid[index : index + 2]
    assume(pair[0] != pair[1] and pair not in {"09", "90"})  # the one swap Luhn misses
    rejected(parse_iccid, iccid[:index] + pair[::-1] + iccid[index + 2 :])


@given(digit_strings(4), digit_strings(15))
def test_iccid_outside_china_is_refused(prefix: str, rest: str) -> None:
    assume(prefix != "8986")
    assert "8986" in rejected(parse_iccid, with_luhn(prefix + rest))


@given(iccids(), st.sampled_from("0123456789"))
def test_iccid_of_wrong_length_is_refused(iccid: str, extra: str) -> None:
    if len(iccid) == 19:
        rejected(parse_iccid, with_luhn(iccid[:17]))
    else:
        rejected(parse_iccid, with_luhn(iccid + extra))


# -- IP addresses ----------------------------------------------------------------------


@given(st.ip_addresses())
def test_ip_addresses_round_trip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    expected = getattr(address, "ipv4_mapped", None) or address
    assert parse_ip(str(address)) == expected
    assert parse_ip(address.exploded) == expected
    assert parse_ip(parse_ip(address.exploded).compressed) == expected


@given(
    st.ip_addresses(v=4).map(str)
    | st.from_regex(r"\A[0-9]{1,4}(\.[0-9]{1,4}){2,4}\Z")
    | st.text(alphabet="0123456789.: x", max_size=20)
)
@example("01.2.3.4")
@example("1.2.3.4 ")
@example("256.1.1.1")
def test_the_fast_normal_form_agrees_with_the_parser(value: str) -> None:
    try:
        expected = parse_ip(value).compressed
    except InvalidIdentifier:
        rejected(normal_ip, value)
    else:
        assert normal_ip(value) == expected


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        (" 192.0.2.1 ", "192.0.2.1"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
    ],
)
def test_ip_normal_forms(value: str, normal: str) -> None:
    assert parse_ip(value).compressed == normal


@pytest.mark.parametrize(
    "value", ["256.1.1.1", "192.0.2", "192.0.2.01", "fe80::1%eth0", "2001:db8::1::2", "host"]
)
def test_bad_ip_addresses_are_refused(value: str) -> None:
    rejected(parse_ip, value)


# -- payment accounts ------------------------------------------------------------------


@st.composite
def bank_cards(draw: st.DrawFn) -> str:
    return with_luhn(draw(st.integers(12, 18).flatmap(digit_strings)))


UNIONPAY = with_luhn("622200000000000000")  # synthetic 19-digit card


@pytest.mark.parametrize(
    ("value", "normal", "kind"),
    [
        ("alipay:2088000000000001", "alipay:2088000000000001", "user_id"),
        ("AliPay: Someone.Test@Example.COM", "alipay:someone.test@example.com", "email"),
        ("alipay:+86 138 0013 8000", "alipay:+8613800138000", "mobile"),
        ("alipay:13800138000", "alipay:+8613800138000", "mobile"),
        ("WECHAT:wxid_abcdef123456", "wechat:wxid_abcdef123456", "wxid"),
        ("wechat:oAbC-12_xyZ", "wechat:oAbC-12_xyZ", "token"),
        ("bank:4111 1111 1111 1111", "bank:4111111111111111", "card"),
        (
            f"Bank:{UNIONPAY[:4]}-{UNIONPAY[4:8]}-{UNIONPAY[8:12]}-{UNIONPAY[12:]}",
            f"bank:{UNIONPAY}",
            "card",
        ),
    ],
)
def test_payment_account_examples(value: str, normal: str, kind: str) -> None:
    parsed = parse_payment_account(value)
    assert (parsed.normalized, parsed.kind) == (normal, kind)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("13800138000", "scheme:identifier"),
        ("paypal:someone@example.com", "unknown payment scheme"),
        ("alipay:not an account", "alipay account"),
        ("alipay:someone@", "e-mail"),
        ("alipay:1064812345678", "11-digit"),
        ("wechat:abc", "wechat account"),
        ("wechat:wxid_with space", "wechat account"),
        ("bank:123456789012", "has 12 digits"),
        ("bank:41111111111111112222", "has 20 digits"),
        ("bank:4111 1111 1111 1112", "check digit"),
        ("bank:4111x1111", "only digits"),
    ],
)
def test_payment_account_rejections(value: str, reason: str) -> None:
    assert reason in rejected(parse_payment_account, value)


@given(bank_cards(), st.sampled_from(["bank:", "BANK:", " bank : "]))
def test_bank_cards_round_trip(card: str, scheme: str) -> None:
    spaced = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    parsed = parse_payment_account(scheme + spaced)
    assert parsed.normalized == f"bank:{card}"
    assert parse_payment_account(parsed.normalized) == parsed


@given(BLANKS)
def test_accounts_without_digits_are_told_by_their_length(blank: str) -> None:
    assert rejected(parse_payment_account, "bank:" + blank) == (
        "bank card number has 0 digits, expected 13 to 19"
    )
    assert "mobile number has 0 digits" in rejected(parse_payment_account, "alipay:" + blank)


@given(bank_cards(), st.data())
def test_bank_card_with_one_changed_digit_is_refused(card: str, data: st.DataObject) -> None:
    rejected(parse_payment_account, "bank:" + change_one_digit(data, card, range(len(card))))


@given(digit_strings(12))
def test_alipay_user_ids_round_trip(rest: str) -> None:
    parsed = parse_payment_account(f"alipay:2088{rest}")
    assert (parsed.normalized, parsed.kind) == (f"alipay:2088{rest}", "user_id")
    assert parse_payment_account(parsed.normalized) == parsed


@given(phone_numbers())
def test_alipay_mobiles_normalise_to_e164(number: tuple[str, str | None, str]) -> None:
    national = number[0]
    assume(len(national) == 11)
    parsed = parse_payment_account(f"alipay:{national}")
    assert parsed.normalized == f"alipay:+86{national}"
    assert parse_payment_account(parsed.normalized) == parsed


@given(st.from_regex(r"(wxid_)?[A-Za-z0-9_-]{6,50}", fullmatch=True))
def test_wechat_tokens_round_trip(token: str) -> None:
    parsed = parse_payment_account(f"wechat:{token}")
    assert parsed.normalized == f"wechat:{token}"
    assert parse_payment_account(parsed.normalized) == parsed


def test_parsed_account_repr_hides_the_identifier() -> None:
    assert "4111" not in repr(parse_payment_account("bank:4111111111111111"))


# -- pydantic types --------------------------------------------------------------------

TYPES: list[tuple[Any, str, str]] = [
    (ResidentIdNumber, "11010519491231002x", "11010519491231002X"),
    (Msisdn, "+86 138-0013-8000", "+8613800138000"),
    (Imsi, "460 00 1234567890", "460001234567890"),
    (Iccid, "8986 0070 3101 1209 4320", "89860070310112094320"),
    (IpAddress, "2001:DB8:0:0::1", "2001:db8::1"),
    (PaymentAccount, "Bank:4111-1111-1111-1111", "bank:4111111111111111"),
]


@pytest.mark.parametrize(("annotation", "given_value", "normal"), TYPES)
def test_types_validate_and_normalise(annotation: Any, given_value: str, normal: str) -> None:
    adapter: TypeAdapter[str] = TypeAdapter(annotation)
    assert adapter.validate_python(given_value) == normal
    assert adapter.validate_python(normal) == normal
    assert adapter.validate_json(f'"{given_value}"') == normal


@pytest.mark.parametrize(("annotation", "given_value", "normal"), TYPES)
def test_types_refuse_invalid_values(annotation: Any, given_value: str, normal: str) -> None:
    adapter: TypeAdapter[str] = TypeAdapter(annotation)
    for bad in ["0" * len(normal), "9" * len(normal), 12345]:
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)


@pytest.mark.parametrize(("annotation", "given_value", "normal"), TYPES)
def test_types_have_a_json_schema(annotation: Any, given_value: str, normal: str) -> None:
    schema = TypeAdapter(annotation).json_schema()
    assert schema["type"] == "string"
    assert schema["description"]
    assert schema["maxLength"] >= len(given_value)
    assert TypeAdapter(annotation).validate_python(schema["examples"][0])


@given(resident_ids())
def test_resident_id_type_is_idempotent(number: str) -> None:
    adapter: TypeAdapter[str] = TypeAdapter(ResidentIdNumber)
    assert adapter.validate_python(adapter.validate_python(number.lower())) == number
