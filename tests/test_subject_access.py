"""Subject access reports: the whole record of one person across agencies, for the IG officer."""

import io
from datetime import timedelta

import pypdf
import pytest
from django.urls import reverse
from django.utils import timezone

from agencies.models import Membership, Role, SourceRecord
from audit.models import AuditAction, AuditEntry
from audit.services import access_log_write
from consent.models import ConsentRecord
from core.purpose import Purpose
from matching.models import LinkageRecord
from notifications.models import Notification, NotificationKind
from subject_access.models import PartRelease, ReleaseFrozen, ReleasePart
from subject_access.release import PartNotFound, ReleaseRefused, part_release, part_review
from subject_access.services import (
    AUDIT_ACTION,
    SubjectAccessDenied,
    subject_access_ask,
    subject_access_report,
)
from tests.factories import AgencyFactory
from tests.protocol_helpers import linked_people


@pytest.fixture
def world(agency, other_agency, member):
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    ig = member(Role.IG_OFFICER, full_name="Iris Governance")
    practitioner = member(Role.PRACTITIONER, in_agency=other_agency, full_name="Pat Constable")
    for person in (linked.alice, linked.carol):
        access_log_write(
            user=practitioner,
            membership=Membership.objects.get(user=practitioner, agency=other_agency),
            action=AuditAction.SUMMARY,
            channel="web",
            purpose=Purpose.SAFEGUARDING,
            person=person,
        )
    return linked, ig, practitioner


def _membership(user):
    return Membership.objects.get(user=user)


def _report(user, person, *, names):
    return subject_access_report(
        user=user,
        membership=_membership(user),
        person=person,
        show_staff_names=names,
        channel="web",
    )


def _values(report) -> dict[tuple[str, str], set[str]]:
    """{(source id, label): {values}} over every record of the report."""
    seen: dict[tuple[str, str], set[str]] = {}
    for agency in report.agencies:
        for dataset in agency.datasets:
            for record in dataset.records:
                for f in [*record.identifiers, *record.fields]:
                    seen.setdefault((record.source_id, f.label), set()).add(f.value)
    return seen


def test_report_holds_every_field_of_the_requesting_agencys_own_records(world):
    linked, ig, _ = world
    report = subject_access_report(
        user=ig,
        membership=_membership(ig),
        person=linked.alice,
        show_staff_names=True,
        channel="web",
    )
    # Both holding agencies are named; only social care's own record is opened.
    assert [a.name for a in report.agencies] == ["Test Children's Services", "Test Police"]
    assert [a.status for a in report.agencies] == ["own", "not_asked"]
    source_ids = {r.source_id for a in report.agencies for d in a.datasets for r in d.records}
    assert source_ids == {"S1"}
    values = _values(report)
    assert ("S1", "Surname") in values and ("S1", "NHS number") not in values
    assert values["S1", "Case notes"] == {"Referred by school nurse."}
    assert values["S1", "Category of need"] == {"abuse or neglect"}
    labels = {label for _, label in values}
    assert {"Forename", "Date of birth", "Postcode", "Child protection plan"} <= labels
    # The partnership's own data about police's part: how many records, how they were linked.
    police = report.agencies[1]
    assert police.record_count == 2 and len(police.links) == 2
    assert all(link.linked_at is not None for link in police.links)
    assert [a.name for a in report.pending] == ["Test Police"]
    all_text = repr(report)
    # Nothing of Bob (same household) or Carol (another person).
    assert "Carol" not in all_text.title() and "B1" not in source_ids and "S2" not in source_ids


def test_access_log_names_or_redacts_staff(world):
    linked, ig, _ = world
    named = _report(ig, linked.alice, names=True)
    redacted = _report(ig, linked.alice, names=False)
    assert [e.who for e in named.access_log] == ["Pat Constable"]
    assert [e.who for e in redacted.access_log] == ["Safeguarding practitioner, Test Police"]
    assert "Pat Constable" not in repr(redacted)
    # Carol's log entry is hers, not Alice's; and the reports themselves are not "views".
    assert len(named.access_log) == len(redacted.access_log) == 1


def test_report_writes_one_audit_entry_with_no_content(world):
    linked, ig, _ = world
    _report(ig, linked.alice, names=False)
    entry = AuditEntry.objects.get(action=AUDIT_ACTION)
    assert entry.person_reference == linked.alice.reference
    assert entry.actor == ig and entry.outcome == "ok"
    assert entry.detail == {
        "staff_names_shown": False,
        "records": 1,
        "request": None,
        "parts": {str(linked.police.agency_id): "not_asked"},
    }
    assert not AuditEntry.objects.reads().filter(actor=ig).exists()


def test_only_an_ig_officer_of_an_agency_holding_records_may_report(world, member, agency):
    linked, ig, practitioner = world
    # Carol has social care records only: a police IG officer holds nothing about her.
    police_ig = member(Role.IG_OFFICER, in_agency=linked.police.agency)
    with pytest.raises(SubjectAccessDenied):
        subject_access_report(
            user=police_ig,
            membership=_membership(police_ig),
            person=linked.carol,
            show_staff_names=False,
            channel="web",
        )
    with pytest.raises(SubjectAccessDenied):
        subject_access_report(
            user=practitioner,
            membership=_membership(practitioner),
            person=linked.alice,
            show_staff_names=False,
            channel="web",
        )
    assert AuditEntry.objects.filter(action=AUDIT_ACTION, outcome="not_found").count() == 2
    # The same police IG officer may report on Alice, whom police hold records about.
    report = subject_access_report(
        user=police_ig,
        membership=_membership(police_ig),
        person=linked.alice,
        show_staff_names=False,
        channel="web",
    )
    # Police's own two records; social care's one is pending social care's release.
    assert report.record_count == 2
    assert [a.name for a in report.pending] == ["Test Children's Services"]


def test_find_by_post_then_report_page_and_pdf(client, world, caplog):
    linked, ig, _ = world
    client.force_login(ig)
    found = client.post(
        reverse("subject_access:find"),
        {"forename": "Alice", "surname": "Smith", "date_of_birth": "01/02/2015"},
    )
    assert found.status_code == 200
    page = found.content.decode()
    report_url = reverse("subject_access:report", args=[linked.alice.reference])
    assert report_url in page
    assert reverse("subject_access:report", args=[linked.carol.reference]) not in page

    named = client.get(report_url + "?staff_names=1")
    assert named.status_code == 200
    assert "no-store" in named["Cache-Control"]
    html = named.content.decode()
    assert "Pat Constable" in html and "Referred by school nurse." in html
    assert html.count('data-testid="sar-record"') == 1
    assert 'data-testid="sar-pending"' in html and "Verbal argument" not in html
    redacted = client.get(report_url).content.decode()
    assert "Pat Constable" not in redacted
    assert "Safeguarding practitioner, Test Police" in redacted

    pdf = client.get(reverse("subject_access:report_pdf", args=[linked.alice.reference]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert "no-store" in pdf["Cache-Control"]
    disposition = pdf["Content-Disposition"]
    assert disposition == f'attachment; filename="subject-access-{linked.alice.reference}.pdf"'
    assert pdf.content.startswith(b"%PDF")
    reader = pypdf.PdfReader(io.BytesIO(pdf.content))
    # Table cells wrap, so compare with whitespace collapsed.
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    for fact in ("Referred by school nurse.", "Test Police", "Not complete", "not yet asked"):
        assert fact in text
    assert "Verbal argument" not in text and "Risk grade" not in text
    assert "Safeguarding practitioner, Test Police" in text and "Pat Constable" not in text
    # Tagged (pdf/ua-1): the catalogue carries a structure tree and says it is marked.
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root and root["/MarkInfo"]["/Marked"]

    # 1 search + 3 reports, each one audit entry; none an access-log "view".
    assert AuditEntry.objects.filter(action=AUDIT_ACTION, actor=ig).count() == 4
    assert not AuditEntry.objects.reads().filter(actor=ig).exists()
    # No identifier in any URL used, nor in the log lines or the audit trail.
    trail = repr(list(AuditEntry.objects.filter(actor=ig).values("detail")))
    for identifier in ("Alice", "ALICE", "Smith", "SMITH", "2015", "9434765919"):
        assert identifier not in report_url and identifier not in trail
        assert identifier not in caplog.text


def test_other_roles_and_outside_ig_officers_are_refused(client, world, member):
    linked, _, practitioner = world
    url = reverse("subject_access:report", args=[linked.carol.reference])
    client.force_login(practitioner)
    assert client.get(url).status_code == 403
    assert client.post(reverse("subject_access:find"), {"surname": "Brown"}).status_code == 403
    police_ig = member(Role.IG_OFFICER, in_agency=linked.police.agency)
    client.force_login(police_ig)
    assert client.get(url).status_code == 404
    assert client.get(url.replace(linked.carol.reference, "NOSUCHREF")).status_code == 404
    found = client.post(reverse("subject_access:find"), {"forename": "Carol", "surname": "Brown"})
    assert linked.carol.reference not in found.content.decode()


def test_find_with_nothing_to_search_says_what_to_fix(client, world):
    _, ig, _ = world
    client.force_login(ig)
    response = client.post(reverse("subject_access:find"), {})
    assert response.status_code == 200
    assert "govuk-error-summary" in response.content.decode()


def test_finding_1_another_agencys_record_values_stay_out_before_release(client, world):
    """Issue 20 finding 1: social care's IG officer reports on Alice, whom police also hold;
    not one police value reaches the report, its page or its PDF before police release them."""
    linked, ig, _ = world
    report = _report(ig, linked.alice, names=False)
    text = repr(report)
    for police_value in ("9434765919", "Verbal argument", "medium", "2026-01-10", "A1", "A2"):
        assert police_value not in text
    client.force_login(ig)
    page = client.get(reverse("subject_access:report", args=[linked.alice.reference]))
    html = page.content.decode()
    assert "Verbal argument" not in html and "9434765919" not in html
    assert html.count('data-testid="sar-record"') == 1
    # The partnership's links are shown, but not the rule that made them: "nhs" would say the
    # unreleased police record holds an NHS number that agrees.
    links = html.split('data-testid="sar-links"')[1].split("</table>")[0]
    rules = set(
        LinkageRecord.objects.filter(record__dataset__agency=linked.police.agency).values_list(
            "link_rule", flat=True
        )
    )
    assert rules - {""} and not any(f">{rule}<" in links for rule in rules)


# --- Other agencies' parts: asked for, reviewed and released by their owner ------------------


@pytest.fixture
def police_ig(world, member):
    linked, _, _ = world
    return member(Role.IG_OFFICER, in_agency=linked.police.agency, full_name="Peta Records")


def _ask(ig, person, *, fresh=False):
    return subject_access_ask(
        user=ig, membership=_membership(ig), person=person, fresh=fresh, channel="web"
    )


def _release(user, part, *, withheld=()):
    review = part_review(user=user, membership=_membership(user), part_id=part.pk, channel="web")
    return part_release(
        user=user,
        membership=_membership(user),
        part_id=part.pk,
        withheld=set(withheld),
        fingerprint=review.fingerprint,
        channel="web",
    )


def _police_values(report) -> dict[tuple[str, str], set[str]]:
    return {key: v for key, v in _values(report).items() if key[0] in {"A1", "A2"}}


def test_finding_1_police_part_enters_the_report_only_as_police_release_it(
    world, police_ig, client
):
    linked, ig, _ = world
    request = _ask(ig, linked.alice)
    part = ReleasePart.objects.get(request=request)
    assert part.agency == linked.police.agency
    # Police's IG officer is told, with a link to the part and nothing but a reference.
    (notice,) = Notification.objects.filter(kind=NotificationKind.RELEASE_REQUESTED)
    assert notice.recipient == police_ig and notice.link == f"/subject-access/parts/{part.pk}/"
    assert "Alice" not in notice.message and linked.alice.reference in notice.message
    # Asked, not released: still nothing of police's records.
    pending = _report(ig, linked.alice, names=False)
    assert pending.agencies[1].status == "pending" and not _police_values(pending)
    assert "9434765919" not in repr(pending)

    a1, a2 = linked.records["A1"].pk, linked.records["A2"].pk
    release = _release(police_ig, part, withheld={f"r{a1}:f:summary", f"r{a2}:f:summary"})
    report = _report(ig, linked.alice, names=False)
    assert [a.status for a in report.agencies] == ["own", "released"]
    values = _police_values(report)
    assert values["A2", "Risk grade"] == {"medium"} and values["A1", "NHS number"] == {"9434765919"}
    assert ("A1", "Summary") not in values and "Verbal argument" not in repr(report)
    assert report.agencies[1].withheld_count == 2 and not report.pending
    # Social care's IG officers hear of it; police's request notice is settled.
    (done,) = Notification.objects.filter(kind=NotificationKind.RELEASE_DONE)
    assert done.recipient == ig
    notice.refresh_from_db()
    assert notice.is_read
    # What is stored is sealed: no value of the release in its row.
    row = repr(list(PartRelease.objects.values()))
    for value in ("9434765919", "medium", "Verbal argument", "SMITH", "Smith"):
        assert value not in row
    assert release.withheld == {"keys": sorted([f"r{a1}:f:summary", f"r{a2}:f:summary"])}

    # The page and its PDF agree: released values in, the withheld summary out.
    client.force_login(ig)
    html = client.get(reverse("subject_access:report", args=[linked.alice.reference]))
    html = html.content.decode()
    assert "medium" in html and "Verbal argument" not in html
    assert 'data-testid="sar-pending"' not in html
    pdf = client.get(reverse("subject_access:report_pdf", args=[linked.alice.reference]))
    reader = pypdf.PdfReader(io.BytesIO(pdf.content))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "Risk grade" in text and "Verbal argument" not in text and "Not complete" not in text


def test_each_step_is_audited_with_ids_and_no_content(world, police_ig):
    linked, ig, _ = world
    request = _ask(ig, linked.alice)
    part = ReleasePart.objects.get(request=request)
    a1 = linked.records["A1"].pk
    release = _release(police_ig, part, withheld={f"r{a1}"})
    _report(ig, linked.alice, names=False)
    asked, read = AuditEntry.objects.filter(action=AuditAction.SUBJECT_ACCESS).order_by("pk")
    assert asked.actor == ig and asked.detail["step"] == "ask"
    assert asked.detail["parts"] == [{"part": part.pk, "agency": linked.police.agency_id}]
    assert read.detail["parts"] == {str(linked.police.agency_id): f"released:{release.pk}"}
    assert read.detail["records"] == 2  # S1, and A2 (A1 withheld whole)
    review, released = AuditEntry.objects.filter(action=AuditAction.RELEASE).order_by("pk")
    assert review.actor == released.actor == police_ig
    assert review.agency_id == linked.police.agency_id
    assert review.detail["step"] == "review" and sorted(review.detail["records"]) == sorted(
        [a1, linked.records["A2"].pk]
    )
    assert released.detail["step"] == "release" and released.detail["records"] == [
        linked.records["A2"].pk
    ]
    assert released.detail["withheld"] == [f"r{a1}"]
    assert all(e.person_reference == linked.alice.reference for e in (asked, read, review))
    trail = repr(list(AuditEntry.objects.values("detail")))
    for value in ("9434765919", "medium", "Verbal", "Smith", "SMITH", "2015"):
        assert value not in trail


def test_only_the_owning_agencys_ig_officer_reviews_or_releases_its_part(
    world, police_ig, member, client
):
    linked, ig, practitioner = world
    part = ReleasePart.objects.get(request=_ask(ig, linked.alice))
    third = AgencyFactory(code="HSG", name="Test Housing")
    housing_ig = member(Role.IG_OFFICER, in_agency=third)
    for outsider in (ig, housing_ig):
        with pytest.raises(PartNotFound):
            part_review(
                user=outsider, membership=_membership(outsider), part_id=part.pk, channel="web"
            )
        with pytest.raises(PartNotFound):
            part_release(
                user=outsider,
                membership=_membership(outsider),
                part_id=part.pk,
                withheld=set(),
                fingerprint="",
                channel="web",
            )
    assert not PartRelease.objects.exists()
    refused = AuditEntry.objects.filter(action=AuditAction.RELEASE, outcome="not_found")
    assert refused.count() == 4
    url = reverse("subject_access:part", args=[part.pk])
    client.force_login(ig)
    assert client.get(url).status_code == 404
    assert client.post(url, {"fingerprint": "x"}).status_code == 404
    client.force_login(practitioner)  # police, but not its IG officer
    assert client.get(url).status_code == 403
    assert not PartRelease.objects.exists()


def test_a_release_never_changes_and_a_new_release_takes_its_place(world, police_ig):
    linked, ig, _ = world
    part = ReleasePart.objects.get(request=_ask(ig, linked.alice))
    first = _release(police_ig, part)
    sealed = bytes(first.content)
    first.withheld = {"keys": ["anything"]}
    with pytest.raises(ReleaseFrozen):
        first.save()
    first.refresh_from_db()
    assert bytes(first.content) == sealed and first.withheld == {"keys": []}
    assert _police_values(_report(ig, linked.alice, names=False))["A2", "Risk grade"] == {"medium"}
    a2 = linked.records["A2"].pk
    second = _release(police_ig, part, withheld={f"r{a2}:f:risk_grade"})
    assert (first.number, second.number) == (1, 2)
    values = _police_values(_report(ig, linked.alice, names=False))
    assert ("A2", "Risk grade") not in values and values["A1", "Risk grade"] == {"high"}
    first.refresh_from_db()
    assert bytes(first.content) == sealed


def test_a_release_is_refused_if_the_records_changed_since_review(world, police_ig):
    linked, ig, _ = world
    part = ReleasePart.objects.get(request=_ask(ig, linked.alice))
    review = part_review(
        user=police_ig, membership=_membership(police_ig), part_id=part.pk, channel="web"
    )
    SourceRecord.objects.filter(pk=linked.records["A1"].pk).update(
        updated_at=timezone.now() + timedelta(minutes=1)
    )
    with pytest.raises(ReleaseRefused):
        part_release(
            user=police_ig,
            membership=_membership(police_ig),
            part_id=part.pk,
            withheld=set(),
            fingerprint=review.fingerprint,
            channel="web",
        )
    with pytest.raises(ReleaseRefused):
        _release(police_ig, part, withheld={"r999999:f:summary"})
    assert not PartRelease.objects.exists()


def test_another_agencys_notes_wait_for_its_release(world, police_ig):
    linked, ig, practitioner = world
    ConsentRecord.objects.create(
        person=linked.alice,
        state="given",
        purpose=Purpose.SAFEGUARDING,
        recorded_by=practitioner,
        recorded_by_agency=linked.police.agency,
        note="Mother agreed at the station.",
    )
    report = _report(ig, linked.alice, names=False)
    (consent,) = report.consents
    assert consent.note == "" and consent.note_held_by == "Test Police"
    assert "agreed at the station" not in repr(report)
    part = ReleasePart.objects.get(request=_ask(ig, linked.alice))
    _release(police_ig, part)
    (consent,) = _report(ig, linked.alice, names=False).consents
    assert consent.note == "Mother agreed at the station." and not consent.note_held_by


def test_owner_reviews_and_releases_through_the_pages(world, police_ig, client):
    linked, ig, _ = world
    client.force_login(ig)
    report_url = reverse("subject_access:report", args=[linked.alice.reference])
    assert (
        client.get(reverse("subject_access:ask", args=[linked.alice.reference])).status_code == 405
    )
    assert client.post(reverse("subject_access:ask", args=[linked.alice.reference])).url == (
        report_url
    )
    part = ReleasePart.objects.get()

    client.force_login(police_ig)
    listing = client.get(reverse("subject_access:parts")).content.decode()
    assert reverse("subject_access:part", args=[part.pk]) in listing
    page = client.get(reverse("subject_access:part", args=[part.pk]))
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    html = page.content.decode()
    assert "Verbal argument" in html and "Withhold Summary of record A1" in html
    fingerprint = page.context["fingerprint"]
    a1 = linked.records["A1"].pk
    bad = client.post(
        reverse("subject_access:part", args=[part.pk]),
        {"fingerprint": fingerprint, "withhold": ["r1:f:nonsense"]},
    )
    assert bad.status_code == 200 and "govuk-error-summary" in bad.content.decode()
    done = client.post(
        reverse("subject_access:part", args=[part.pk]),
        {"fingerprint": fingerprint, "withhold": [f"r{a1}:f:summary"]},
    )
    assert done.status_code == 302
    (release,) = PartRelease.objects.all()
    assert release.withheld == {"keys": [f"r{a1}:f:summary"]}

    client.force_login(ig)
    html = client.get(report_url).content.decode()
    assert html.count('data-testid="sar-record"') == 3
    # A2's summary was released; A1's was withheld.
    assert html.count("Verbal argument, child upstairs.") == 1


def test_key_rotation_reseals_released_parts(world, police_ig):
    from sharehub.rotation import agency_key_rotate, sealed_versions_in_use

    linked, ig, _ = world
    part = ReleasePart.objects.get(request=_ask(ig, linked.alice))
    _release(police_ig, part)
    csc = ig.memberships.get().agency_id
    result = agency_key_rotate(agency_id=csc)
    assert result.complete and result.resealed.get("released subject access parts") == 1
    assert sealed_versions_in_use(agency_id=csc) == [result.version]
    values = _police_values(_report(ig, linked.alice, names=False))
    assert values["A2", "Risk grade"] == {"medium"}


def test_a_new_request_asks_every_agency_again(world, police_ig):
    linked, ig, _ = world
    first = _ask(ig, linked.alice)
    _release(police_ig, ReleasePart.objects.get(request=first))
    assert not _report(ig, linked.alice, names=False).pending
    # Asking again on the same request adds nothing and tells nobody twice.
    assert _ask(ig, linked.alice) == first and ReleasePart.objects.count() == 1
    second = _ask(ig, linked.alice, fresh=True)
    assert second != first
    report = _report(ig, linked.alice, names=False)
    assert [a.name for a in report.pending] == ["Test Police"] and not _police_values(report)
    assert Notification.objects.filter(kind=NotificationKind.RELEASE_REQUESTED).count() == 2
