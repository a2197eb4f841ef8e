"""Cross-agency object access (IDOR): no one reaches another agency's objects by changing an id.

Two agencies, each with a member of every agency role and objects of every kind a URL names.
Every member of one tries every pattern of the resolver (pages and /api/v1/, by GET and POST,
the API also with the agency's own token) with the other agency's ids. An attempt succeeds if it
answers 2xx, or redirects anywhere but the sign-in page. None may succeed, and each pattern must
answer a foreign id exactly as it answers an id that does not exist (403 and 404 tell nothing).

So that the walk cannot pass by never getting in (a broken sign-in, a wrong URL), every pattern
is also opened with the member's own agency's objects, and must admit at least one role there.
A pattern whose arguments the walk does not know how to fill fails it, as in test_page_access.
"""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from guardian.models import GroupObjectPermission, UserObjectPermission

from agencies.access import ALL_ROLES
from agencies.models import (
    ApiToken,
    Dataset,
    DatasetVersion,
    Extract,
    Role,
    SealedUpload,
    SourceRecord,
)
from agencies.tokens import api_token_create
from alerts.models import Alert, AlertDelivery, AlertEvent, AlertRule, RuleKind
from audit.models import AuditAction, ReadFlag, ReadQuestion
from audit.services import audit_record
from consent.models import ConsentRecord, ConsentRequest, ConsentState, SafeguardingOverride
from core.access import API
from matching.models import LinkageRecord, LinkageRun, LinkChallenge, Person, ReviewItem
from notifications.models import Notification
from protocols.models import Protocol, ProtocolVersion
from retention.models import ErasureKind, ErasureRun, ErasureStatus
from subject_access.models import PartRelease, ReleasePart, SubjectAccessRequest
from tests.bridge_helpers import sealed_extract, sealed_upload_open
from tests.factories import AgencyFactory, MembershipFactory, UserFactory
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload
from tests.protocol_helpers import give, protocol_in_force
from tests.test_page_access import POST_ONLY, URL_QUERY, site_patterns

AGENCY_ROLES = sorted(ALL_ROLES - {Role.PLATFORM_ADMIN})

# What each pattern's `pk` names, as the name of an object of the agency's world.
PK_KINDS = {
    "agencies:dataset_detail": "dataset",
    "agencies:dataset_mapping": "dataset",
    "agencies:extract_upload": "dataset",
    "agencies:dataset_quality": "dataset",
    "agencies:extract_detail": "extract",
    "agencies:extract_progress": "extract",
    "agencies:extract_quarantine": "extract",
    "agencies:extract_warnings": "extract",
    "agencies:api_token_revoke": "token",
    "agencies_api:dataset_detail": "dataset",
    "agencies_api:dataset_extracts": "dataset",
    "agencies_api:dataset_quality": "dataset",
    "agencies_api:extract_detail": "extract",
    "agencies_api:extract_quarantine": "extract",
    "agencies_api:sealed_uploads": "dataset",
    "matching:review_item": "review_item",
    "matching_api:review_item_detail": "review_item",
    "matching_api:review_item_decision": "review_item",
    "protocols_api:dataset_fields": "dataset",
    "consent:request_detail": "consent_request",
    "consent:statement": "consent_record",
    "consent:request_cancel": "consent_request",
    "consent:override_detail": "override",
    "consent:override_stop": "override",
    "consent_api:consent_withdrawal": "consent_record",
    "consent_api:request_answer": "consent_request",
    "consent_api:override_review": "override",
    "notifications:open": "notification",
    "alerts:alert_detail": "alert",
    "alerts:acknowledge": "alert",
    "alerts:assign": "alert",
    "alerts:close": "alert",
    "retention:retention_period": "dataset",
    "retention:dataset_withdraw": "dataset",
    "retention:extract_withdraw": "extract",
    "retention:erasure_detail": "erasure",
    "retention:erasure_progress": "erasure",
    "matching:linkage_run": "linkage_run",
    "matching:linkage_run_progress": "linkage_run",
    "subject_access:part": "release_part",
    "matching:challenge_detail": "link_report",
    "audit:question": "read_question",
}
PROTOCOL_PATTERNS = {
    "protocols:protocol_detail",
    "protocols:protocol_holders",
    "protocols:version_detail",
    "protocols:version_edit",
    # Previewing is for the version's parties only: another agency's IG officer gets the
    # answer a missing version gets (a person of another agency named in the preview gets the
    # answer a missing reference gets: tests/test_protocol_preview.py).
    "protocols:version_preview",
    "protocols:version_action",
    "protocols:protocol_action",
    "protocols:protocol_suspend",
    "protocols:protocol_resume",
    "protocols_api:holders",
    "protocols_api:version_detail",
    "protocols_api:version_action",
    "protocols_api:protocol_action",
}
FIXED_ARGUMENTS = {
    "protocols:version_action": {"action": "submit"},
    # "suspend" and "resume" have pages of their own, matched first.
    "protocols:protocol_action": {"action": "revise"},
    "protocols_api:version_action": {"action": "submit"},
    "protocols_api:protocol_action": {"action": "suspend"},
    "insights:table_csv": {"name": "caseload"},
    "accounts:password_reset_confirm": {"uidb64": "MQ", "token": "set-password"},
}
# Partnership-wide settings that belong to no agency: risk indicators and alert rules are the
# platform admin's (tests/test_risk.py and tests/test_alerts.py check that no one else edits
# them), and a password reset link is for whoever holds it.
NOT_AGENCY_OBJECTS = {
    "risk:indicator_edit",
    "alerts:rule_edit",
    "accounts:password_reset_confirm",
    "insights:table_csv",  # a table's name, and the tables are the analyst's whatever the agency
}
# The partnership's protocols are not secret from its IG officers: any of them may read any
# protocol and the fields of any dataset a protocol could name, so as to write and compare
# agreements (protocols.selectors.protocols_for_ig). Only parties act on them, which the walk
# checks by seeing that nothing changed.
PARTNERSHIP_READABLE = {
    (Role.IG_OFFICER, name)
    for name in (
        "protocols:protocol_detail",
        "protocols:version_detail",
        # The confirmation page tells a non-party's officer who can suspend; its POST changes
        # nothing for them, which the walk's state check sees. Resuming's page likewise.
        "protocols:protocol_suspend",
        "protocols:protocol_resume",
        "protocols_api:holders",
        "protocols_api:version_detail",
        "protocols_api:dataset_fields",
    )
}
PARTNERSHIP_KNOWN = PROTOCOL_PATTERNS | {"protocols_api:dataset_fields"}
# Patterns that take an id but that no agency role may open even with its own objects, with
# the reason; the walk still tries them with foreign ids.
NO_CONTROL = {
    # Linkage review is the partnership's, done by platform admins holding the review
    # permission, never by an agency role (tests/test_linkage_review.py opens them as reviewers).
    name: "linkage review is not an agency role's"
    for name in (
        "matching:review_item",
        "matching:person_explain",
        "matching_api:review_item_detail",
        "matching_api:review_item_decision",
        "matching_api:person_explain",
    )
} | {
    # Linkage runs are the partnership's (a platform admin's relink), no agency's object.
    name: "linkage runs are the platform admin's"
    for name in ("matching:linkage_run", "matching:linkage_run_progress")
}
# Reporting a missed link needs two people of one household, which this world's single person is
# not (tests/test_link_challenges.py reports one as a practitioner).
NO_CONTROL["matching:challenge_missed"] = "a missed link needs a household of two"
# A chunk is PUT with its bytes and checksum, which the walk does not make; tests/
# test_bridge_channel.py sends chunks as the agency, and another agency's upload answers 404.
NO_CONTROL["agencies_api:sealed_upload_chunk"] = "a chunk is PUT with its bytes"
NO_CONTROL["agencies_api:sealed_uploads"] = "an upload is opened with a JSON body (415 to a form)"


@dataclass
class World:
    agency: object
    members: dict[str, object]
    token: str
    objects: dict[str, object] = field(default_factory=dict)


def _world(code: str, name: str, kind: str) -> World:
    agency = AgencyFactory(code=code, name=name, kind=kind)
    members = {}
    for role in AGENCY_ROLES:
        user = UserFactory()
        MembershipFactory(user=user, agency=agency, role=role)
        members[role] = user
    admin = members[Role.AGENCY_ADMIN]
    practitioner = members[Role.PRACTITIONER]
    dataset = police_dataset(agency)
    extract = upload(
        dataset,
        csv_bytes([good_row(f"{code}1"), good_row(f"{code}2", forename=f"Alicia{code}")]),
    )
    first, second = SourceRecord.objects.filter(dataset=dataset).order_by("pk")[:2]
    review_item = ReviewItem.objects.create(
        record_a=first, record_b=second, score=1.0, probability=0.7
    )
    person = Person.objects.create()
    LinkageRecord.objects.filter(record__in=[first, second]).update(person=person)
    version = protocol_in_force(
        author=members[Role.IG_OFFICER], parties=[agency], rules=[{"dataset": dataset}]
    )
    give(version, practitioner)
    token_row, token = api_token_create(agency=agency, name="walk", created_by=admin)
    now = timezone.now()
    consent_request = ConsentRequest.objects.create(
        person=person,
        protocol=version.protocol,
        purpose=version.purpose,
        owner_agency=agency,
        dataset=dataset,
        requested_by=practitioner,
        requester_agency=agency,
        reason="Walk",
    )
    consent_record = ConsentRecord.objects.create(
        person=person,
        protocol=version.protocol,
        state=ConsentState.GIVEN,
        recorded_by=practitioner,
        recorded_by_agency=agency,
    )
    consent_record.agencies.set([agency])
    override = SafeguardingOverride.objects.create(
        person=person,
        user=practitioner,
        agency=agency,
        role=Role.PRACTITIONER,
        protocol=version.protocol,
        version=version,
        category="significant_harm",
        justification="Walk",
        hours=4,
        started_at=now,
        expires_at=now + timedelta(hours=4),
    )
    notification = Notification.objects.create(
        recipient=practitioner, kind="consent_requested", message="Walk", link="/"
    )
    rule, _ = AlertRule.objects.get_or_create(
        name="Walk rule", defaults={"kind": RuleKind.SCORE_ABOVE, "threshold": 1.0}
    )
    alert = Alert.objects.create(
        rule=rule, person=person, cause_key=f"from:{code}", raised_on=now.date(), delivered=True
    )
    AlertDelivery.objects.create(alert=alert, membership=practitioner.memberships.get())
    # The agency's part of a subject access request, for its own IG officer to release.
    access_request = SubjectAccessRequest.objects.create(
        person=person, agency=agency, requested_by=members[Role.IG_OFFICER]
    )
    release_part = ReleasePart.objects.create(request=access_request, agency=agency)
    # The practitioner's report that one of the person's records is not theirs.
    link_report = LinkChallenge.objects.create(
        kind=LinkChallenge.Kind.WRONG,
        item=review_item,
        record=first,
        person=person,
        reason="Walk: a different school on our file.",
        purpose=version.purpose,
        reported_by=practitioner,
    )
    # A read of the agency's records naming the person, flagged to its IG officer, and their
    # question about it (reader and owner the same agency here: the walk has one per world).
    audit_record(
        action=AuditAction.SUMMARY,
        actor=practitioner,
        membership=practitioner.memberships.get(),
        person=person,
        detail={"fields": {str(first.pk): ["field:incident_type"]}},
    )
    read_flag = ReadFlag.objects.create(
        agency_id=agency.pk,
        kind="no_reason",
        actor=practitioner,
        person_reference=person.reference,
        day=now.date(),
        detail=f"Case summary of person {person.reference}",
        at=now,
        reader_agency_id=agency.pk,
    )
    read_question = ReadQuestion.objects.create(
        flag=read_flag,
        owner_agency_id=agency.pk,
        reader_agency_id=agency.pk,
        asked_by=members[Role.IG_OFFICER],
        asked_at=now,
        question=f"Walk: why was {person.reference} read?",
    )
    world = World(agency=agency, members=members, token=token)
    world.objects = {
        "read_flag": read_flag.pk,
        "read_question": read_question.pk,
        "dataset": dataset.pk,
        "extract": extract.pk,
        "token": token_row.pk,
        "review_item": review_item.pk,
        "person": person.reference,
        "protocol": version.protocol.reference,
        "consent_request": consent_request.pk,
        "consent_record": consent_record.pk,
        "override": override.pk,
        "notification": notification.pk,
        "alert": alert.pk,
        "linkage_run": LinkageRun.objects.create(kind=LinkageRun.Kind.RELINK).pk,
        "release_part": release_part.pk,
        "source_record": first.pk,
        "link_report": link_report.pk,
        "sealed_upload": sealed_upload_open(dataset, *sealed_extract(dataset, [good_row("W9")])).pk,
        "erasure": ErasureRun.objects.create(
            kind=ErasureKind.EXTRACT,
            status=ErasureStatus.DONE,
            agency=agency,
            dataset=dataset,
            extract=extract,
            requested_by=admin,
        ).pk,
    }
    return world


def _missing_objects() -> dict[str, object]:
    """Ids of the same kinds that name nothing, for the indistinguishability check."""
    gone_person = Person.objects.create()
    gone_reference = gone_person.reference
    gone_person.delete()
    return {
        kind: 987_654_321
        for kind in (
            "dataset",
            "extract",
            "token",
            "review_item",
            "consent_request",
            "consent_record",
            "override",
            "notification",
            "alert",
            "erasure",
            "linkage_run",
            "release_part",
            "source_record",
            "link_report",
            "read_flag",
            "read_question",
        )
    } | {
        "person": gone_reference,
        "protocol": "PX00000000",
        "sealed_upload": uuid.UUID("00000000-0000-4000-8000-000000000000"),
    }


def _kwargs(name: str, pattern, objects: dict) -> dict | None:
    """The pattern's arguments filled from `objects`; None if it takes no object id."""
    names = set(pattern.pattern.converters)
    if not names:
        return None
    kwargs: dict = dict(FIXED_ARGUMENTS.get(name, {}))
    for argument in names - kwargs.keys():
        if argument == "pk":
            kind = PK_KINDS[name]
        elif argument == "reference":
            kind = "protocol" if name in PROTOCOL_PATTERNS else "person"
        elif argument == "record_id":
            kind = "consent_record"
        elif argument == "record":
            kind = "source_record"
        elif argument == "flag_id":
            kind = "read_flag"
        elif argument == "other":
            kind = "person"
        elif argument == "upload_id":
            kind = "sealed_upload"
        elif argument in ("number", "index"):
            kwargs[argument] = 1 if argument == "number" else 0
            continue
        else:
            raise KeyError(f"{name}: the walk does not know how to fill {argument!r}")
        kwargs[argument] = objects[kind]
    return kwargs


def _body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode(errors="replace")


def _success(response) -> bool:
    """A 2xx. A refused action redirects back with an error, so a 3xx is judged by
    `_state`: whether anything changed."""
    return 200 <= response.status_code < 300


STATE_MODELS = [
    Protocol,
    ProtocolVersion,
    UserObjectPermission,
    GroupObjectPermission,
    Dataset,
    DatasetVersion,
    Extract,
    SealedUpload,
    ApiToken,
    ReviewItem,
    LinkChallenge,
    LinkageRecord,
    ConsentRequest,
    ConsentRecord,
    SafeguardingOverride,
    Notification,
    Alert,
    AlertEvent,
    ErasureRun,
    SourceRecord,
    ReleasePart,
    PartRelease,
    ReadFlag,
    ReadQuestion,
]


def _state() -> dict[str, list[dict]]:
    """Every row an attempt could change, so that a refused action is seen to change nothing."""
    # A token's last use moves with every API request, its own agency's included.
    return {
        model.__name__: [
            {key: value for key, value in row.items() if key != "last_used_at"}
            for row in model.objects.order_by("pk").values()
        ]
        for model in STATE_MODELS
    }


def _clients(world: World) -> list[tuple[str, Client, dict]]:
    clients = []
    for role, user in world.members.items():
        client = Client()
        client.force_login(user)
        clients.append((role, client, {}))
    clients.append(("api-token", Client(), {"HTTP_AUTHORIZATION": f"Token {world.token}"}))
    return clients


def _patterns_with_ids() -> list[tuple[str, object]]:
    return [
        (name, pattern)
        for name, pattern in site_patterns()
        if pattern.pattern.converters and name not in NOT_AGENCY_OBJECTS
    ]


def test_the_walk_knows_every_pattern_that_takes_an_id(db):
    unknown = []
    for name, pattern in _patterns_with_ids():
        try:
            _kwargs(name, pattern, _missing_objects())
        except KeyError as error:
            unknown.append(str(error))
    assert unknown == []


@pytest.mark.django_db
def test_no_member_of_one_agency_reaches_another_agencys_objects():
    worlds = [
        _world("CSC", "Test Children's Services", "childrens_social_care"),
        _world("POL", "Test Police", "police"),
    ]
    missing = _missing_objects()
    patterns = _patterns_with_ids()
    assert len(patterns) > 40  # the resolver was walked, not an empty list

    before = _state()
    attempts = 0
    successes: list[str] = []
    distinguishable: list[str] = []
    for home, foreign in (worlds, worlds[::-1]):
        for who, client, headers in _clients(home):
            for name, pattern in patterns:
                is_api = pattern.callback.allowed_roles == API
                if who == "api-token" and not is_api:
                    continue
                foreign_url = reverse(name, kwargs=_kwargs(name, pattern, foreign.objects))
                missing_url = reverse(name, kwargs=_kwargs(name, pattern, missing))
                query = URL_QUERY.get(name, "")
                methods = ("get", "post", "put", "patch", "delete") if is_api else ("get", "post")
                for method in methods:
                    send = getattr(client, method)
                    answer = send(foreign_url + query, **headers)
                    attempts += 1
                    attempt = f"{who} {method.upper()} {foreign_url}"
                    if _success(answer) and (who, name) not in PARTNERSHIP_READABLE:
                        successes.append(f"{attempt}: {answer.status_code}")
                    if foreign.objects["person"] in _body(answer):
                        successes.append(f"{attempt}: shows the person")
                    if who == Role.IG_OFFICER and name in PARTNERSHIP_KNOWN:
                        continue  # the protocol is known to them: see PARTNERSHIP_READABLE
                    nothing = send(missing_url + query, **headers)
                    if nothing.status_code != answer.status_code:
                        distinguishable.append(
                            f"{who} {method.upper()} {name}: foreign {answer.status_code}, "
                            f"missing {nothing.status_code}"
                        )

    print(f"\nIDOR walk: {attempts} cross-agency attempts over {len(patterns)} patterns")
    assert attempts > 1500
    assert successes == [], "\n".join(successes)
    assert distinguishable == [], "\n".join(distinguishable)
    after = _state()
    changed = [name for name in before if before[name] != after[name]]
    assert changed == []

    # The control: the same patterns with the member's own objects, so that a walk that never
    # got in cannot pass. Run last, since some of them change what they open.
    home = worlds[0]
    never_admitted = []
    # Reads before actions: an action (cancelling a request) can close what a read opens.
    for name, pattern in sorted(patterns, key=lambda item: item[0] in POST_ONLY):
        if name in NO_CONTROL:
            continue
        url = reverse(name, kwargs=_kwargs(name, pattern, home.objects)) + URL_QUERY.get(name, "")
        method = "post" if name in POST_ONLY else "get"
        admitted = False
        for _who, client, headers in _clients(home):
            answer = getattr(client, method)(url, **headers)
            status = answer.status_code
            signed_out = 300 <= status < 400 and answer["Location"].startswith(
                reverse("accounts:login")
            )
            if 200 <= status < 400 and not signed_out or status == 400:
                admitted = True  # in (a 400: in, and asked for a form's fields)
                break
        if not admitted:
            never_admitted.append(name)
    assert never_admitted == [], "\n".join(never_admitted)


def test_no_list_page_shows_another_agencys_rows(db):
    """List views and home pages take no id, so the object-level checks above never see them:
    DRF list views skip object permissions. None may name the other agency's person, and the
    API's lists of datasets and extracts hold only the caller's agency's rows."""
    worlds = [
        _world("CSC", "Test Children's Services", "childrens_social_care"),
        _world("POL", "Test Police", "police"),
    ]
    lists = [
        (name, pattern)
        for name, pattern in site_patterns()
        if not pattern.pattern.converters and name not in POST_ONLY
    ]
    assert len(lists) > 20
    pages = 0
    leaks = []
    for home, foreign in (worlds, worlds[::-1]):
        for who, client, headers in _clients(home):
            for name, _pattern in lists:
                answer = client.get(reverse(name) + URL_QUERY.get(name, ""), **headers)
                pages += 1
                if foreign.objects["person"] in _body(answer):
                    leaks.append(f"{who} {name}")
            if who == "api-token":
                datasets = client.get(reverse("agencies_api:dataset_list"), **headers).json()
                rows = datasets["results"] if isinstance(datasets, dict) else datasets
                ids = {row["id"] for row in rows}
                assert ids == {home.objects["dataset"]}
    print(f"\nIDOR lists: {pages} list and home pages read")
    assert leaks == []
