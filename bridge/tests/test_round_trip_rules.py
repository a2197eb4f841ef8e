"""Issue 23's rules in the package, for the bridge and the platform alike: a definition with no
record id column, and the download of rows set aside read back as it is."""

import subprocess
import sys

import pytest

from sharehub_bridge.definitions import DefinitionError, definition_parse
from sharehub_bridge.readers import ExtractFileError, Row
from sharehub_bridge.validation import (
    RowValidator,
    formula_quote_remove,
    header_check,
    set_aside_download,
)

DEFINITION = {
    "name": "Housing - referrals",
    "source_id_column": "ref",
    "columns": [
        {"column": "ref", "ignore": True},
        {"column": "surname", "identifier": "surname", "required": True},
        {"column": "arrears", "type": "number", "label": "Arrears"},
    ],
}
NO_ID = {**DEFINITION, "source_id_column": "", "columns": DEFINITION["columns"][1:]}


def test_a_definition_may_name_no_record_id_column():
    definition = definition_parse(NO_ID)
    assert not definition.has_record_id
    header_check(definition, ["surname", "arrears"])
    outcome = RowValidator(definition, ["surname", "arrears"]).validate(
        Row(2, {"surname": "Smith", "arrears": "12"})
    )
    assert outcome.errors == [] and outcome.source_id == ""


def test_the_record_id_column_must_still_be_named_or_given_as_none():
    with pytest.raises(DefinitionError, match="source_id_column"):
        definition_parse({k: v for k, v in DEFINITION.items() if k != "source_id_column"})
    with pytest.raises(DefinitionError, match="must be a column name"):
        definition_parse({**DEFINITION, "source_id_column": 3})


def test_a_file_without_a_header_is_caught_with_no_record_id_column_too():
    with pytest.raises(ExtractFileError, match="first row may be data"):
        header_check(definition_parse(NO_ID), ["Smith", "12"])


def test_the_set_aside_download_is_read_back_as_it_is():
    definition = definition_parse(DEFINITION)
    header = ["row_in_file", "reasons", "ref", "surname", "arrears"]
    assert set_aside_download(definition, header)
    header_check(definition, header)
    row = Row(2, {"row_in_file": "7", "reasons": "x", "ref": "R1", "surname": "Smith"})
    outcome = RowValidator(definition, header).validate(Row(2, {**row.values, "arrears": "'-12"}))
    assert outcome.errors == [] and outcome.payload == {"arrears": -12}
    # An ordinary file keeps a leading quote as it was typed.
    plain = RowValidator(definition, header[2:]).validate(
        Row(2, {"ref": "R1", "surname": "Smith", "arrears": "'-12"})
    )
    assert plain.errors


@pytest.mark.parametrize(
    ("cell", "value"),
    [("'-12", "-12"), ("'=SUM(A1)", "=SUM(A1)"), ("'@x", "@x"), ("O'Neil", "O'Neil"), ("'a", "'a")],
)
def test_only_the_quote_the_download_adds_is_taken_off(cell, value):
    assert formula_quote_remove(cell) == value


def test_the_package_runs_without_django():
    code = (
        "import sys; import sharehub_bridge.validation as v, sharehub_bridge.definitions as d; "
        "d.formula_start_problem('=x', what='Name', fix='Change it'); "
        "assert not {'django', 'agencies'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603


def test_an_email_address_made_of_the_persons_details_is_theirs_not_a_teams():
    from sharehub_bridge.contacts import contact_is_subject_identifier

    person = {
        "forename": "ottoline",
        "surname": "prewarth",
        "date_of_birth": "2010-06-21",
        "postcode": "NB3 4CD",
        "address": "5 Harrow Close",
        "pnc_id": "24/112233K",
    }
    for email in (
        "o.prewarth@x.org",
        "mash@prewarth.org.uk",
        "nb34cd@x.org",
        "24112233k@x.org",
        "op21062010@x.org",
        "ottoline2010@x.org",
        "harrowclose5@x.org",
    ):
        assert contact_is_subject_identifier("team_email", email, person), email
    for email in ("hub@police.example", "mash.team@council.gov.uk", "ottoline.team@x.org"):
        assert not contact_is_subject_identifier("team_email", email, person), email
