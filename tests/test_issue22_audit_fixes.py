"""Issue 22, an IG officer's audit of the audit pages: protocol changes on their agency's audit
page, a protocol chosen by name in the audit search, flags that can be asked about wherever
they are listed, previews not flagged as reading with nothing behind it, and readers named
one way on the reads page."""

from datetime import date

import pytest

from agencies.models import Membership, Role
from audit.models import AuditAction
from protocols.models import Purpose, Tier
from protocols.services import (
    ProtocolInput,
    RuleInput,
    protocol_approve,
    protocol_draft_create,
    protocol_resume,
    protocol_return,
    protocol_revise,
    protocol_submit,
    protocol_suspend,
    protocol_withdraw,
)
from tests.ingest_helpers import police_dataset

REASON = "Police data quality is under review after a complaint"


@pytest.fixture
def drafted(agency, other_agency, member):
    police = police_dataset(other_agency)
    author = member(Role.IG_OFFICER, full_name="Ada Author")
    approver = member(Role.IG_OFFICER, full_name="Ben Approver")
    police_ig = member(Role.IG_OFFICER, in_agency=other_agency, full_name="Cath Police")
    m = {u: Membership.objects.get(user=u) for u in (author, approver, police_ig)}
    data = ProtocolInput(
        name="MASH information sharing",
        purpose=Purpose.SAFEGUARDING,
        lawful_basis="UK GDPR Art 6(1)(e)",
        valid_from=date(2026, 1, 1),
        party_ids=(agency.pk, other_agency.pk),
        rules=(RuleInput(dataset_id=police.pk, tier=Tier.SUMMARY, fields=("field:risk_grade",)),),
    )
    version = protocol_draft_create(membership=m[author], data=data)
    return version, m[author], m[approver], m[police_ig]


def test_each_agencys_protocol_changes_are_under_the_protocol_change_filter(
    drafted, client
):
    version, author, approver, police_ig = drafted
    protocol_submit(membership=author, version=version)
    second = protocol_return(membership=police_ig, version=version, note="Say why, please.")
    protocol_submit(membership=author, version=second)
    protocol_approve(membership=approver, version=second)
    protocol_approve(membership=police_ig, version=second)
    protocol_suspend(membership=police_ig, protocol=version.protocol, reason=REASON)
    protocol_resume(membership=author, protocol=version.protocol)
    third = protocol_revise(membership=author, protocol=version.protocol)
    protocol_withdraw(membership=author, version=third)

    def events(officer):
        client.force_login(officer.user)
        page = client.get("/audit/", {"action": AuditAction.PROTOCOL})
        assert page.status_code == 200
        return sorted(e.detail["event"] for e in page.context["entries"])

    # Every change made by the agency's officers, seen by each of them; the last approval
    # (the police's) put the version in force.
    ours = ["drafted", "submitted", "submitted", "approved", "resumed", "drafted", "withdrawn"]
    assert events(author) == events(approver) == sorted(ours)
    assert events(police_ig) == sorted(["returned", "drafted", "approved", "activated", "suspended"])
