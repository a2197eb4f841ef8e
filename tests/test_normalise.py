"""Normalisation rules, checked over many generated values (hypothesis)."""

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from matching.normalise import date_parse, postcode_normalise, text_clean

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))


@given(dates)
def test_every_usual_date_format_reads_back_the_same_date(day):
    written = [
        day.isoformat(),
        f"{day:%d/%m/%Y}",
        f"{day.day}/{day.month}/{day.year}",
        f"{day:%d-%b-%Y}",
        f"{day:%d %B %Y}",
        f"{day:%d.%m.%Y}",
        f"{day:%Y-%m-%d} 00:00:00",
        f"{day:%Y/%m/%d}",
    ]
    assert {text: date_parse(text) for text in written} == {text: day for text in written}


@given(st.text(max_size=12))
def test_date_parse_never_raises_and_returns_a_date_or_none(text):
    assert date_parse(text) is None or isinstance(date_parse(text), date)


def test_impossible_dates_are_not_dates():
    for text in ["31/02/2015", "2015-02-29", "00/01/2015", "2020-13-01", "13/13/2013", "x"]:
        assert date_parse(text) is None, text


@given(st.text(alphabet=" \tabcÉé-'", max_size=20))
def test_text_clean_is_idempotent_and_trimmed(value):
    cleaned = text_clean(value)
    assert text_clean(cleaned) == cleaned
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned


def test_postcodes_are_written_one_way():
    for written in ["ls6 2ab", "LS62AB", " Ls6  2aB ", "LS6 2AB"]:
        assert postcode_normalise(written) == "LS6 2AB"
    assert postcode_normalise("not a postcode") == "NOTAPOSTCODE"
