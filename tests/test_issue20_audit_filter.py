"""Issue 20, finding 14: the audit search by protocol version (page and CSV) raised
NotSupportedError on SQLite, which has no JSON containment."""

import pytest

from agencies.models import Membership, Role
from audit.models import AuditAction
from audit.services import audit_record
from tests.protocol_helpers import police_shared_with_a_practitioner


@pytest.fixture
def world(db, agency, other_agency, member):
    return police_shared_with_a_practitioner(agency, other_agency, member)


def test_the_protocol_version_filter_works_on_the_default_database(world, client, member):
    linked, practitioner, _ = world
    membership = Membership.objects.get(user=practitioner)
    for versions in ([1], [11], [1, 2], [21, 3]):
        audit_record(
            action=AuditAction.SUMMARY, actor=practitioner, membership=membership,
            person=linked.carol, versions=versions,
        )  # fmt: skip
    client.force_login(member(Role.IG_OFFICER))
    page = client.get("/audit/", {"protocol_version": "1"})
    assert page.status_code == 200
    shown = [e.protocol_versions for e in page.context["entries"]]
    assert sorted(shown) == [[1], [1, 2]]
    export = client.get("/audit/export.csv", {"protocol_version": "1"})
    assert export.status_code == 200
    assert len(export.content.decode().splitlines()) == 3  # the header and two entries
