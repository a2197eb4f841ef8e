"""Every page declares who may open it, and every page is tried as every role.

The walk goes through the URL resolver, so a new pattern without a declaration, or one whose
arguments this file does not know how to fill, fails the run (zulip does the same for its URLs).
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from agencies.access import ALL_ROLES
from agencies.models import Role, SourceRecord
from agencies.tokens import api_token_create
from core.access import API, PUBLIC, SIGNED_IN
from matching.models import LinkageRun, Person, ReviewItem
from protocols.models import VersionStatus
from retention.models import ErasureKind, ErasureRun
from tests.bridge_helpers import sealed_extract, sealed_upload_open
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload
from tests.protocol_helpers import protocol_in_force

# Sample arguments for patterns that take them, as names of objects made by `owned_objects`
# (all belonging to the agency the test user acts in). A pattern missing here fails the walk.
URL_KWARGS = {
    "accounts:password_reset_confirm": {"uidb64": "MQ", "token": "set-password"},
    "agencies:dataset_detail": {"pk": "dataset"},
    "agencies:dataset_mapping": {"pk": "dataset"},
    "agencies:extract_upload": {"pk": "dataset"},
    "agencies:dataset_quality": {"pk": "dataset"},
    "agencies:extract_detail": {"pk": "extract"},
    "agencies:extract_progress": {"pk": "extract"},
    "agencies:extract_quarantine": {"pk": "extract"},
    "agencies:extract_warnings": {"pk": "extract"},
    "agencies:api_token_revoke": {"pk": "token"},
    "agencies_api:dataset_detail": {"pk": "dataset"},
    "agencies_api:dataset_extracts": {"pk": "dataset"},
    "agencies_api:dataset_quality": {"pk": "dataset"},
    "agencies_api:extract_detail": {"pk": "extract"},
    "agencies_api:extract_quarantine": {"pk": "extract"},
    "agencies_api:sealed_uploads": {"pk": "dataset"},
    "agencies_api:sealed_upload_detail": {"upload_id": "sealed_upload"},
    "agencies_api:sealed_upload_chunk": {"upload_id": "sealed_upload", "index": 0},
    "agencies_api:sealed_upload_complete": {"upload_id": "sealed_upload"},
    "matching:review_item": {"pk": "review_item"},
    "matching:person_explain": {"reference": "person"},
    "matching:challenge_wrong": {"reference": "person", "record": 999_999},
    "matching:challenge_missed": {"reference": "person", "other": "person"},
    "matching:challenge_detail": {"pk": "not_theirs"},
    "matching_api:review_item_detail": {"pk": "review_item"},
    "matching_api:review_item_decision": {"pk": "review_item"},
    "matching_api:person_explain": {"reference": "person"},
    "protocols:protocol_detail": {"reference": "protocol"},
    "protocols:protocol_holders": {"reference": "protocol"},
    "protocols:version_detail": {"reference": "protocol", "number": 1},
    "protocols:version_edit": {"reference": "protocol", "number": 1},
    "protocols:version_preview": {"reference": "protocol", "number": 1},
    "protocols:version_action": {"reference": "protocol", "number": 1, "action": "submit"},
    # "suspend" and "resume" have pages of their own, matched first.
    "protocols:protocol_action": {"reference": "protocol", "action": "revise"},
    "protocols:protocol_resume": {"reference": "protocol"},
    "protocols:protocol_suspend": {"reference": "protocol"},
    "protocols:summary": {"reference": "person"},
    "subject_access:report": {"reference": "person"},
    "subject_access:report_pdf": {"reference": "person"},
    "subject_access:ask": {"reference": "person"},
    "subject_access:part": {"pk": "not_theirs"},
    "protocols:summary_print": {"reference": "person"},
    "protocols:summary_pdf": {"reference": "person"},
    "protocols:unlock": {"reference": "person"},
    "protocols_api:holders": {"reference": "protocol"},
    "protocols_api:version_detail": {"reference": "protocol", "number": 1},
    "protocols_api:version_action": {"reference": "protocol", "number": 1, "action": "submit"},
    "protocols_api:protocol_action": {"reference": "protocol", "action": "suspend"},
    "protocols_api:dataset_fields": {"pk": "dataset"},
    "protocols_api:summary": {"reference": "person"},
    "protocols_api:unlock": {"reference": "person"},
    "consent:person_consent": {"reference": "person"},
    "consent:person_consent_withdraw": {"reference": "person", "record_id": 999_999},
    "consent:request_new": {"reference": "person"},
    "consent:override_new": {"reference": "person"},
    "consent:request_detail": {"pk": "not_theirs"},
    "consent:statement": {"pk": "not_theirs"},
    "consent:request_cancel": {"pk": "not_theirs"},
    "consent:override_detail": {"pk": "not_theirs"},
    "consent:override_stop": {"pk": "not_theirs"},
    "notifications:open": {"pk": "not_theirs"},
    "consent_api:person_consent": {"reference": "person"},
    "consent_api:consent_withdrawal": {"reference": "person", "pk": "not_theirs"},
    "consent_api:person_request": {"reference": "person"},
    "consent_api:request_answer": {"pk": "not_theirs"},
    "consent_api:person_override": {"reference": "person"},
    "consent_api:override_review": {"pk": "not_theirs"},
    "risk:indicator_edit": {"pk": "not_theirs"},
    "risk:person_risk": {"reference": "person"},
    "alerts:alert_detail": {"pk": "not_theirs"},
    "alerts:acknowledge": {"pk": "not_theirs"},
    "alerts:assign": {"pk": "not_theirs"},
    "alerts:close": {"pk": "not_theirs"},
    "alerts:rule_edit": {"pk": "not_theirs"},
    "insights:table_csv": {"name": "caseload"},
    "retention:retention_period": {"pk": "dataset"},
    "retention:dataset_withdraw": {"pk": "dataset"},
    "retention:extract_withdraw": {"pk": "extract"},
    "retention:erasure_detail": {"pk": "erasure"},
    "retention:erasure_progress": {"pk": "erasure"},
    "matching:linkage_run": {"pk": "linkage_run"},
    "matching:linkage_run_progress": {"pk": "linkage_run"},
    "audit:question_ask": {"flag_id": "not_theirs"},
    "audit:question": {"pk": "not_theirs"},
}
# Pages about one person: the walk's fresh users hold no protocol, so those the role admits answer
# 404, exactly as for a person who does not exist (tests/test_person_access.py walks them with and
# without protocols); pages declared `hide` answer 404 to everyone else too.
PERSON_PAGES = {
    # A person no agency of the IG officer's holds a record about: 404 like a missing one.
    "subject_access:report",
    "subject_access:report_pdf",
    "protocols:summary",
    "protocols:summary_print",
    "protocols:summary_pdf",
    "protocols_api:summary",
    "consent_api:person_consent",
    "consent:person_consent",
    "consent:request_new",
    "consent:override_new",
    "risk:person_risk",
    "matching:challenge_wrong",
    "matching:challenge_missed",
}
# Pages about a consent request, an override or a notification: the walk's users are party to
# none, so those the role admits answer 404 (tests/test_consent.py opens them as the parties).
NOT_THEIRS_PAGES = {
    "consent:request_detail",
    "consent:statement",
    "consent:override_detail",
    "notifications:open",
    "matching:challenge_detail",
    "subject_access:part",
    "risk:indicator_edit",
    "alerts:alert_detail",
    "alerts:rule_edit",
    # A flag of unusual reading and a question about one (tests/test_issue22_reads.py).
    "audit:question_ask",
    "audit:question",
    # A drill-down without a count to drill into (tests/test_insights.py opens real ones).
    "insights:people",
}
HIDDEN_PAGES = {"matching:person_explain", "matching_api:person_explain"}
# Query strings for patterns that need one to answer at all.
URL_QUERY = {
    "matching_api:linkage_export": "?purpose=evaluation&statement=Access+walk",
}
# Admitted by role, then refused because the walk's users hold no protocol for the purpose
# (tests/test_linkage_export_disclosure.py exports with one).
NEEDS_A_PROTOCOL = {"matching_api:linkage_export"}
# Views that answer only POST; a GET must be refused with 405 once access is granted.
POST_ONLY = {
    "accounts:logout",
    "agencies_api:sealed_uploads",
    "agencies_api:sealed_upload_chunk",  # PUT, a chunk's bytes
    "agencies_api:sealed_upload_complete",
    "agencies:switch_role",
    "agencies:dataset_create",
    "agencies:api_token_revoke",
    "matching_api:review_item_decision",
    "protocols:protocol_holders",
    "protocols:version_action",
    "protocols:protocol_action",
    "protocols:unlock",
    "subject_access:ask",
    "protocols_api:version_action",
    "protocols_api:protocol_action",
    "protocols_api:search",
    "protocols_api:unlock",
    "consent:person_consent_withdraw",
    "consent:request_cancel",
    "consent:override_stop",
    "notifications:read_all",
    "consent_api:consent_withdrawal",
    "consent_api:person_request",
    "consent_api:request_answer",
    "consent_api:person_override",
    "consent_api:override_review",
    "alerts:acknowledge",
    "alerts:assign",
    "alerts:close",
}


@pytest.fixture
def owned_objects(agency, member):
    dataset = police_dataset(agency)
    extract = upload(dataset, csv_bytes([good_row("I1"), good_row("I2", forename="Alicia")]))
    token, _ = api_token_create(agency=agency, name="walk", created_by=member(Role.AGENCY_ADMIN))
    first, second = SourceRecord.objects.filter(dataset=dataset).order_by("pk")[:2]
    item = ReviewItem.objects.create(record_a=first, record_b=second, score=1.0, probability=0.7)
    protocol = protocol_in_force(
        author=member(Role.IG_OFFICER),
        parties=[agency],
        rules=[{"dataset": dataset}],
        status=VersionStatus.DRAFT,
    )
    return {
        "protocol": protocol.protocol.reference,
        "dataset": dataset.pk,
        "extract": extract.pk,
        "token": token.pk,
        "review_item": item.pk,
        "person": Person.objects.create().reference,
        "erasure": ErasureRun.objects.create(kind=ErasureKind.RETENTION).pk,
        "linkage_run": LinkageRun.objects.create(kind=LinkageRun.Kind.RELINK).pk,
        "not_theirs": 999_999,
        "sealed_upload": sealed_upload_open(dataset, *sealed_extract(dataset, [good_row("I3")])).pk,
    }


def url_for(name: str, objects: dict | None = None) -> str:
    kwargs = {
        key: (objects[value] if objects and value in objects else value)
        for key, value in URL_KWARGS.get(name, {}).items()
    }
    if objects is None:
        # Any object that stands for another agency's (a pk, a flag_id) is an int in the URL.
        kwargs = {
            key: 1 if key == "pk" or value == "not_theirs" else value
            for key, value in kwargs.items()
        }
        if "upload_id" in kwargs:
            kwargs["upload_id"] = "00000000-0000-4000-8000-000000000000"
    return reverse(name, kwargs=kwargs or None) + URL_QUERY.get(name, "")


def _walk(resolver: URLResolver, namespace: str = ""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            if pattern.namespace == "admin":
                continue  # the admin site has its own check below
            yield from _walk(pattern, inner)
        elif isinstance(pattern, URLPattern):
            yield f"{namespace}{pattern.name}", pattern


def site_patterns() -> list[tuple[str, URLPattern]]:
    return sorted(_walk(get_resolver()), key=lambda item: item[0])


def test_every_pattern_is_named_and_declares_its_audience():
    undeclared = [
        name
        for name, pattern in site_patterns()
        if getattr(pattern.callback, "allowed_roles", None) is None
    ]
    assert undeclared == []
    assert all(not name.endswith("None") for name, _ in site_patterns())


def test_every_pattern_can_be_reversed_for_the_walk():
    unreachable = []
    for name, _ in site_patterns():
        try:
            url_for(name)
        except Exception:  # noqa: BLE001 - collect them all to report at once
            unreachable.append(name)
    assert unreachable == []


def _expected_status(pattern, role: str | None, name: str) -> int:
    audience = pattern.callback.allowed_roles
    if audience == API:
        if role is None:
            return 401  # the API asks for a token rather than redirecting to a sign-in page
        if role not in pattern.callback.api_roles:
            return 403
        return 405 if name in POST_ONLY else 200
    if audience == PUBLIC:
        return 405 if name in POST_ONLY else 200
    if role is None:
        return 302  # to sign in
    if audience == SIGNED_IN or role in audience:
        return 405 if name in POST_ONLY else 200
    return 403


CASES = [(name, role) for name, _ in site_patterns() for role in [None, *sorted(ALL_ROLES)]]


@pytest.mark.parametrize(("name", "role"), CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_page_answers_each_role_as_declared(client, member, owned_objects, name, role):
    pattern = dict(site_patterns())[name]
    if role is not None:
        client.force_login(member(role))
    url = url_for(name, owned_objects)
    response = client.get(url)

    status = response.status_code
    if name == "home" and role is not None:
        # The landing page sends each role on to its own home page.
        assert status == 302
        return
    if name == "accounts:login" and role is not None:
        assert status == 302  # already signed in: off to their home page
        return
    if name in {"accounts:two_factor_enrol", "accounts:two_factor_verify"} and role is not None:
        assert status == 302  # second factor already given: off to their home page
        return
    if name == "accounts:password_reset_confirm":
        # An invalid link still renders (explaining it has expired) rather than erroring.
        assert status == 200
        return
    expected = _expected_status(pattern, role, name)
    if name in HIDDEN_PAGES and expected == 403:
        expected = 404
    if (name in PERSON_PAGES or name in NOT_THEIRS_PAGES) and expected == 200:
        expected = 404
    if name in NEEDS_A_PROTOCOL and expected == 200:
        expected = 403
    assert status == expected, f"{url} as {role}: {status}, expected {expected}"
    if status == 200 and not response.streaming:
        # Django's {# #} is one line only: a longer one is printed on the page as text.
        assert b"{#" not in response.content, f"{url} shows a template comment"
    if expected == 302:
        assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("role", sorted(ALL_ROLES))
def test_role_home_pages_admit_only_their_role(client, member, role):
    client.force_login(member(role))
    response = client.get(reverse("home"))
    own_home = response["Location"]
    assert client.get(own_home).status_code == 200
    for other in {"practitioner_home", "ig_home", "agency_admin_home", "analyst_home"} | {
        "platform_home"
    }:
        url = reverse(other)
        if url != own_home:
            assert client.get(url).status_code == 403


ADMIN_URLS = [
    "admin:index",
    "admin:agencies_agency_changelist",
    "admin:agencies_agency_add",
    "admin:agencies_membership_changelist",
    "admin:accounts_user_changelist",
    "admin:accounts_user_add",
]


@pytest.mark.parametrize("role", sorted(ALL_ROLES))
@pytest.mark.parametrize("url_name", ADMIN_URLS)
def test_admin_site_is_for_platform_admins_only(client, member, role, url_name):
    client.force_login(member(role))
    status = client.get(reverse(url_name)).status_code
    assert status == (200 if role == Role.PLATFORM_ADMIN else 403)


def test_admin_site_sends_visitors_to_the_service_sign_in(client, db):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_user_without_a_role_sees_an_explanation_not_a_home_page(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    response = client.get(reverse("home"))
    assert response.status_code == 403
    assert b"no role in ShareHub yet" in response.content
    assert client.get(reverse("practitioner_home")).status_code == 403


# Pages the public reads without signing in (issue 22, item 7): a declaration that changes is a
# change of whom the service answers to, so it fails here rather than passing the walk quietly.
MEANT_FOR_THE_PUBLIC = {
    "transparency:register",
    "transparency:privacy",
    "transparency:register_json",
}


def test_pages_meant_for_the_public_stay_public():
    declared = dict(site_patterns())
    closed = {n for n in MEANT_FOR_THE_PUBLIC if declared[n].callback.allowed_roles != PUBLIC}
    assert closed == set()
