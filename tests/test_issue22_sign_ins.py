"""Issue 22, item 6: sign-ins and failed sign-ins are stored under the agencies the account acts
for, so the audit page's "Signed in" filter shows the agency's own staff."""

from agencies.models import Role
from audit.models import AuditAction, AuditEntry
from tests.factories import MembershipFactory


def test_a_sign_in_is_written_under_each_agency_the_account_acts_for(
    db, client, member, agency, other_agency
):
    user = member(Role.PRACTITIONER, email="worker@example.org", password="a-good-password-1")
    MembershipFactory(user=user, agency=other_agency, role=Role.IG_OFFICER)
    client.post(
        "/accounts/sign-in/", {"username": "worker@example.org", "password": "a-good-password-1"}
    )
    signed_in = AuditEntry.objects.filter(action=AuditAction.LOGIN, actor=user)
    assert {(e.agency_id, e.role) for e in signed_in} == {
        (agency.pk, Role.PRACTITIONER),
        (other_agency.pk, Role.IG_OFFICER),
    }


def test_a_failed_sign_in_of_a_known_account_is_under_its_agencies_without_the_name(
    db, client, member, agency
):
    user = member(Role.PRACTITIONER, email="worker@example.org", password="a-good-password-1")
    client.post("/accounts/sign-in/", {"username": "Worker@Example.org", "password": "wrong"})
    client.post("/accounts/sign-in/", {"username": "nobody@example.org", "password": "wrong"})
    known, unknown = AuditEntry.objects.filter(action=AuditAction.LOGIN_FAILED).order_by("pk")
    assert known.agency_id == agency.pk and known.actor is None
    assert known.detail == {"account": user.pk}
    assert unknown.agency_id is None and unknown.detail == {}
    for entry in (known, unknown):
        assert "example.org" not in str(entry.detail) and "wrong" not in str(entry.detail)


def test_the_audit_pages_signed_in_filter_shows_the_agencys_sign_ins(
    db, client, member, agency, other_agency
):
    worker = member(Role.PRACTITIONER, email="worker@example.org", password="a-good-password-1")
    elsewhere = member(
        Role.PRACTITIONER,
        in_agency=other_agency,
        email="cop@example.org",
        password="a-good-password-1",
    )
    for email in ("worker@example.org", "cop@example.org"):
        client.post("/accounts/sign-in/", {"username": email, "password": "a-good-password-1"})
        client.logout()
    client.post("/accounts/sign-in/", {"username": "worker@example.org", "password": "wrong"})
    client.force_login(member(Role.IG_OFFICER))
    page = client.get("/audit/", {"action": AuditAction.LOGIN})
    actors = {e.actor_id for e in page.context["entries"]}
    assert worker.pk in actors and elsewhere.pk not in actors
    failed = client.get("/audit/", {"action": AuditAction.LOGIN_FAILED}).context["entries"]
    assert [e.detail for e in failed] == [{"account": worker.pk}]
