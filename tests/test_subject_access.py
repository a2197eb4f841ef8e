"""Subject access reports: the whole record of one person across agencies, for the IG officer."""

import io

import pypdf
import pytest
from django.urls import reverse

from agencies.models import Membership, Role
from audit.models import AuditEntry
from protocols.models import AccessLog, Purpose
from subject_access.services import (
    AUDIT_ACTION,
    SubjectAccessDenied,
    subject_access_report,
)
from tests.protocol_helpers import linked_people


@pytest.fixture
def world(agency, other_agency, member):
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    ig = member(Role.IG_OFFICER, full_name="Iris Governance")
    practitioner = member(Role.PRACTITIONER, in_agency=other_agency, full_name="Pat Constable")
    for person in (linked.alice, linked.carol):
        AccessLog.objects.create(
            user=practitioner,
            agency=other_agency,
            role=Role.PRACTITIONER,
            action=AccessLog.Action.SUMMARY,
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


def test_report_holds_every_field_of_every_record_across_agencies(world):
    linked, ig, _ = world
    report = subject_access_report(
        user=ig,
        membership=_membership(ig),
        person=linked.alice,
        show_staff_names=True,
        channel="web",
    )
    assert [a.name for a in report.agencies] == ["Test Children's Services", "Test Police"]
    source_ids = {r.source_id for a in report.agencies for d in a.datasets for r in d.records}
    assert source_ids == {"A1", "A2", "S1"}
    values = _values(report)
    # Identifiers decrypted (normalised as stored), labelled from IDENTIFIER_FIELDS.
    assert {"A1", "A2", "S1"} == {sid for sid, label in values if label == "Surname"}
    assert values["A1", "NHS number"] == {"9434765919"}
    assert values["A1", "Incident date"] == {"2026-01-10"}
    assert values["A2", "Risk grade"] == {"medium"}
    assert values["A1", "Child present"] == {"Yes"}
    assert values["A1", "Summary"] == {"Verbal argument, child upstairs."}
    assert values["S1", "Case notes"] == {"Referred by school nurse."}
    assert values["S1", "Category of need"] == {"abuse or neglect"}
    labels = {label for _, label in values}
    assert {"Forename", "Date of birth", "Postcode", "Child protection plan"} <= labels
    all_text = repr(report)
    # Nothing of Bob (same household) or Carol (another person).
    assert "Carol" not in all_text.title() and "B1" not in source_ids and "S2" not in source_ids
    records = [r for a in report.agencies for d in a.datasets for r in d.records]
    assert all(r.linked_at is not None for r in records)


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
    assert entry.detail == {"staff_names_shown": False, "records": 3}
    assert not AccessLog.objects.filter(user=ig).exists()


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
    assert report.record_count == 3


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
    assert html.count('data-testid="sar-record"') == 3
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
    for fact in ("Referred by school nurse.", "Verbal argument", "Test Police", "Risk grade"):
        assert fact in text
    assert "Safeguarding practitioner, Test Police" in text and "Pat Constable" not in text
    # Tagged (pdf/ua-1): the catalogue carries a structure tree and says it is marked.
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root and root["/MarkInfo"]["/Marked"]

    # 1 search + 3 reports, each one audit entry; none an access-log "view".
    assert AuditEntry.objects.filter(action=AUDIT_ACTION, actor=ig).count() == 4
    assert not AccessLog.objects.filter(user=ig).exists()
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
