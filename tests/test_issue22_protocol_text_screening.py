"""Free text on protocols that every party's IG officers read (approval and send-back notes,
seal reasons, what the sharing is for, why it changed; the purpose is published on the public
register) is screened for identifiers by shape, as a suspension reason is (issue 22, outside
review): named by kind, never quoted, and nothing stored."""

import pytest

from protocols.models import SealRule, VersionStatus
from protocols.services import (
    ProtocolError,
    SealInput,
    protocol_approve,
    protocol_draft_create,
    protocol_return,
    protocol_submit,
)
from tests.test_protocols import _input, parties  # noqa: F401 - the fixture is used by name

NHS = "943 476 5919"


def _submitted(parties):  # noqa: F811
    agency, other_agency, police, _people, m = parties
    version = protocol_draft_create(
        membership=m["author"], data=_input(agency, other_agency, police)
    )
    protocol_submit(membership=m["author"], version=version)
    return version, m


@pytest.mark.django_db
def test_an_approval_note_with_an_identifier_is_refused_and_nothing_approved(parties):  # noqa: F811
    version, m = _submitted(parties)
    with pytest.raises(ProtocolError) as refused:
        protocol_approve(membership=m["csc_ig"], version=version, note=f"Checked, NHS {NHS}")
    (message,) = refused.value.problems["note"]
    assert "Take an NHS number out of the note" in message and "943" not in message
    assert not version.approvals.exists()


@pytest.mark.django_db
def test_a_send_back_note_with_a_postcode_is_refused_and_the_version_stays(parties):  # noqa: F811
    version, m = _submitted(parties)
    with pytest.raises(ProtocolError) as refused:
        protocol_return(membership=m["pol_ig"], version=version, note="The family at LS6 2AB")
    assert "a postcode" in refused.value.problems["note"][0]
    version.refresh_from_db()
    assert version.status == VersionStatus.AWAITING_APPROVAL


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"purpose_detail": f"Sharing about the child with NHS number {NHS}"}, "purpose_detail"),
        ({"change_note": "Added after the child born 1 August 2010 was missed"}, "change_note"),
    ],
)
def test_protocol_text_with_an_identifier_is_refused(parties, changes, field):  # noqa: F811
    agency, other_agency, police, _people, m = parties
    with pytest.raises(ProtocolError) as refused:
        protocol_draft_create(
            membership=m["author"], data=_input(agency, other_agency, police, **changes)
        )
    assert refused.value.problems[field][0].startswith("Take ")


@pytest.mark.django_db
def test_a_seal_reason_with_an_identifier_is_refused_and_no_rule_kept(parties):  # noqa: F811
    agency, other_agency, police, _people, m = parties
    seal = SealInput(
        dataset_id=police.pk,
        field_key="field:risk_grade",
        value="high",
        reason=f"Cases like the one with NHS {NHS}",
    )
    with pytest.raises(ProtocolError) as refused:
        protocol_draft_create(
            membership=m["author"], data=_input(agency, other_agency, police, seals=(seal,))
        )
    assert any("an NHS number" in p for ps in refused.value.problems.values() for p in ps)
    assert not SealRule.objects.exists()
