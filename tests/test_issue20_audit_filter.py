"""Issue 20, finding 14: the audit search by protocol version (page and CSV) raised
NotSupportedError on SQLite, which has no JSON containment. Since issue 22 the search takes a
protocol by name, and finds entries under any of its versions."""

import pytest

from agencies.models import Membership, Role
from audit.models import AuditAction
from audit.services import audit_record
from tests.protocol_helpers import police_shared_with_a_practitioner


@pytest.fixture
def world(db, agency, other_agency, member):
    return police_shared_with_a_practitioner(agency, other_agency, member)


def test_the_protocol_filter_works_on_the_default_database(world, client, member):
    linked, practitioner, version = world
    membership = Membership.objects.get(user=practitioner)
    v = version.pk
    # v + 10 and v + 20 stand for other protocols' versions: 1 must not match 11 or 21.
    for versions in ([v], [v + 10], [v, v + 1], [v + 20, v + 30]):
        audit_record(
            action=AuditAction.SUMMARY, actor=practitioner, membership=membership,
            person=linked.carol, versions=versions,
        )  # fmt: skip
    client.force_login(member(Role.IG_OFFICER))
    page = client.get("/audit/", {"protocol": str(version.protocol_id)})
    assert page.status_code == 200
    shown = [e.protocol_versions for e in page.context["entries"]]
    assert sorted(shown) == [[v], [v, v + 1]]
    export = client.get("/audit/export.csv", {"protocol": str(version.protocol_id)})
    assert export.status_code == 200
    assert len(export.content.decode().splitlines()) == 3  # the header and two entries
