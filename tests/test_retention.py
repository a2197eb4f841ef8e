"""Retention and erasure: the nightly run removes records past their dataset's period and
everything made from them; an agency admin withdraws an extract or a whole dataset."""

from datetime import timedelta
from unittest import mock

import pytest
from django.apps import apps
from django.db import models
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from agencies.models import (
    Dataset,
    Extract,
    ExtractStatus,
    QuarantinedRow,
    Role,
    SourceRecord,
)
from alerts.delivery import alerts_deliver
from alerts.models import Alert, AlertDelivery, RuleKind
from alerts.rules import RuleInput, rule_save, subscription_set
from audit.models import AuditAction, AuditEntry
from audit.services import access_log_write, audit_verify
from core.purpose import Purpose
from insights.models import PersonProfile
from matching.linkage.keys import keys_refresh
from matching.models import (
    LinkageRecord,
    Person,
    PersonEvent,
    ReviewDecision,
    ReviewItem,
    SearchKey,
)
from notifications.models import Notification, NotificationKind
from protocols.models import CaseUnlock
from retention.models import ErasureKind, ErasureRun, ErasureStatus
from retention.services import erasure_perform, withdrawal_request
from retention.tasks import erase_nightly
from risk.indicators import IndicatorInput
from risk.models import PersonRisk, RiskFinding, RiskRun
from risk.services import enrich_run, indicator_save
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload
from tests.protocol_helpers import give, linked_people, protocol_in_force

pytestmark = pytest.mark.django_db

EXPIRED = ["A2", "B1", "D1"]


def derived_rows(record_ids) -> dict[type[models.Model], set]:
    """Every row made from the records, found by walking the models' relations rather than a
    list: a table added later that points at a record (or at a row made from one) is found
    too. A relation that only loses its pointer (SET_NULL) marks a row that is not derived;
    `references_to` checks those separately."""
    found: dict[type[models.Model], set] = {SourceRecord: set(record_ids)}
    queue = [SourceRecord]
    while queue:
        model = queue.pop()
        for relation in _reverse_relations(model):
            if relation.on_delete is models.SET_NULL:
                continue
            related = relation.related_model
            rows = set(
                related._base_manager.filter(
                    **{f"{relation.field.name}__in": found[model]}
                ).values_list("pk", flat=True)
            )
            new = rows - found.get(related, set())
            if new:
                found.setdefault(related, set()).update(new)
                queue.append(related)
    return found


def _reverse_relations(model):
    # include_hidden: most relations here are declared related_name="+", which
    # _meta.related_objects leaves out.
    return [
        f
        for f in model._meta.get_fields(include_hidden=True)
        if f.auto_created and not f.concrete and (f.one_to_many or f.one_to_one)
    ]


def references_to(model, ids) -> dict[str, int]:
    """How many rows of any table point at these rows, by any foreign key."""
    counts = {}
    for other in apps.get_models():
        for field in other._meta.get_fields():
            pointer = field.is_relation and (field.many_to_one or field.one_to_one)
            if pointer and field.concrete and field.related_model is model:
                n = other._base_manager.filter(**{f"{field.name}__in": ids}).count()
                if n:
                    counts[f"{other._meta.label}.{field.name}"] = n
    return counts


@pytest.fixture
def world(agency, other_agency, member):
    """Alice (police A1, A2; social care S1), Bob (police B1), Carol (social care S2), and Dave
    (police D1), each scored, alerted, reviewed and linked. A2, B1 and D1 are past the police
    dataset's 30 days; the social care dataset keeps six years."""
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    admin = member(Role.PLATFORM_ADMIN)
    practitioner = member(Role.PRACTITIONER, full_name="Pat Worker")
    version = protocol_in_force(
        author=practitioner,
        parties=[agency, other_agency],
        rules=[{"dataset": linked.police}, {"dataset": linked.csc}],
    )
    give(version, practitioner)
    police = linked.police
    # Loaded without the linkage run that follows an extract, which would re-cluster the
    # persons linked_people set by hand; Dave's keys are made and his person set below.
    with mock.patch("matching.tasks.link_after_extract.delay"):
        extract = upload(
            police, csv_bytes([good_row("D1", forename="Dave", dob="09/09/2009", nhs_number="")])
        )
    dave_record = SourceRecord.objects.get(dataset=police, source_id="D1")
    keys_refresh(record_ids=[dave_record.pk])
    dave = Person.objects.create()
    run = PersonEvent.objects.filter(person=linked.alice).first().run
    PersonEvent.objects.create(person=dave, kind=PersonEvent.Kind.CREATED, run=run, records=1)
    LinkageRecord.objects.filter(record=dave_record).update(person=dave, linked_at=timezone.now())
    records = {**linked.records, "D1": dave_record}
    # Someone linkage once merged into Dave: a reference holding nothing, pointing at him.
    merged = Person.objects.create(is_active=False, merged_into=dave)
    PersonEvent.objects.create(person=dave, kind=PersonEvent.Kind.MERGED, other=merged, run=run)
    PersonEvent.objects.create(
        person=merged, kind=PersonEvent.Kind.MERGED_INTO, other=dave, run=run
    )

    for name, grade, weight in (("High risk incident", "high", 30), ("Medium", "medium", 10)):
        indicator_save(
            by=admin,
            rescore=False,
            data=IndicatorInput(
                name=name,
                kind="structured",
                datasets=[police],
                weight=weight,
                conditions=[{"column": "risk_grade", "op": "is", "value": grade}],
            ),
        )
    rule = rule_save(
        by=admin, data=RuleInput(name="Above 5", kind=RuleKind.SCORE_ABOVE, threshold=5)
    )
    subscription_set(membership=practitioner.memberships.get(), rule=rule, subscribed=True)
    enrich_run(kind=RiskRun.Kind.NIGHTLY)
    alerts_deliver(now=timezone.now())
    # An alert raised by one record's finding, as a new-event rule raises it.
    Alert.objects.create(
        rule=rule,
        person=linked.alice,
        cause_key=f"record:{records['A2'].pk}",
        raised_on=timezone.localdate(),
        record=records["A2"],
    )

    # Link review: an open question about an expired record, and a decided one with a decision.
    def pair(a, b):
        return sorted([records[a].pk, records[b].pk])

    a, b = pair("A2", "S2")
    ReviewItem.objects.create(record_a_id=a, record_b_id=b, score=3.0, probability=0.5)
    a, b = pair("B1", "S1")
    decided = ReviewItem.objects.create(
        record_a_id=a, record_b_id=b, score=4.0, probability=0.6, status="rejected"
    )
    ReviewDecision.objects.create(item=decided, decision="rejected", decided_by=admin)
    # Carol's record points at Bob's as its strongest link; Carol is not re-clustered.
    LinkageRecord.objects.filter(record=records["S2"]).update(linked_with=records["B1"])
    # Bob's summary was read after an assessment step: the step names him (accountability),
    # so an empty reference of him stays. The read alone would not keep him (issue 24).
    CaseUnlock.objects.create(user=practitioner, person=linked.bob, step="initial_assessment")
    access_log_write(
        user=practitioner,
        membership=practitioner.memberships.get(),
        action=AuditAction.SUMMARY,
        channel="web",
        purpose=Purpose.SAFEGUARDING,
        person=linked.bob,
        fields={str(records["B1"].pk): ["police.risk_grade"]},
    )
    dave_alert = Alert.objects.filter(person=dave).first()
    Notification.objects.create(
        recipient=practitioner,
        kind=NotificationKind.ALERT_ASSIGNED,
        message=f"An alert about person {dave.reference} was assigned to you.",
        link=f"/alerts/{dave_alert.pk}/",
    )
    QuarantinedRow.objects.create(
        extract=extract, row_number=2, source_id="D2", reasons=["bad date"], sealed_row=b"x"
    )

    Dataset.objects.filter(pk=police.pk).update(retention_days=30)
    long_ago = timezone.now() - timedelta(days=60)
    SourceRecord.objects.filter(dataset=police, source_id__in=EXPIRED).update(updated_at=long_ago)
    Extract.objects.filter(pk=extract.pk).update(uploaded_at=long_ago)
    return {
        "linked": linked,
        "records": records,
        "dave": dave,
        "merged": merged,
        "admin": admin,
        "practitioner": practitioner,
    }


def test_nightly_run_leaves_nothing_derived_from_expired_records(world):
    records, linked, dave = world["records"], world["linked"], world["dave"]
    expired = [records[s].pk for s in EXPIRED]
    kept = {s: (r.pk, r.payload, r.identity) for s, r in records.items() if s not in EXPIRED}
    before = derived_rows(expired)
    # The walk is only worth something if each kind of derived row was there to find.
    for model in (
        LinkageRecord,
        SearchKey,
        RiskFinding,
        ReviewItem,
        ReviewDecision,
        Alert,
    ):
        assert before.get(model), f"the fixture made no {model.__name__} to erase"
    scored_alerts = Alert.objects.filter(person=linked.alice, record__isnull=True)
    assert any({r for _, r in a.finding_keys} & set(expired) for a in scored_alerts)
    assert AlertDelivery.objects.filter(alert__person=dave).exists()
    assert PersonRisk.objects.filter(person=dave).exists()
    assert PersonProfile.objects.filter(person=dave).exists()
    assert QuarantinedRow.objects.exists()

    erase_nightly()

    for model, ids in before.items():
        assert not model._base_manager.filter(pk__in=ids).exists(), model.__name__
        assert references_to(model, ids) == {}, model.__name__
    assert not QuarantinedRow.objects.exists()
    for alert in Alert.objects.all():
        assert not {record for _, record in alert.finding_keys} & set(expired)
    # Dave had nothing but D1 and nothing names him: he is gone, history and all.
    # So is the person once merged into him, and the notification about his alert.
    gone = [dave.pk, world["merged"].pk]
    assert not Person.objects.filter(pk__in=gone).exists()
    assert not PersonEvent.objects.filter(person_id__in=gone).exists()
    assert not PersonEvent.objects.filter(other_id__in=gone).exists()
    assert not Notification.objects.filter(message__contains=dave.reference).exists()
    # Bob's assessment step keeps his reference, holding nothing; the read of him stays.
    bob = Person.objects.get(pk=linked.bob.pk)
    assert not bob.is_active and bob.household is None
    assert not bob.records.exists()
    assert not PersonRisk.objects.filter(person=bob).exists()
    assert not PersonProfile.objects.filter(person=bob).exists()
    assert not Alert.objects.filter(person=bob).exists()
    assert AuditEntry.objects.reads().filter(person_reference=bob.reference).count() == 1

    # What was not expired is exactly as it was, and every live record still has a person.
    for source_id, (pk, payload, identity) in kept.items():
        record = SourceRecord.objects.get(pk=pk)
        assert (record.payload, bytes(record.identity)) == (payload, bytes(identity)), source_id
        assert not record.is_retired
        assert LinkageRecord.objects.get(record_id=pk).person_id is not None
    assert LinkageRecord.objects.get(record=records["S2"]).linked_with_id is None
    # Alice still scores, on A1 alone now.
    alice = LinkageRecord.objects.get(record=records["A1"]).person_id
    assert PersonRisk.objects.get(person_id=alice).findings == 1


def test_a_person_who_was_only_read_goes_and_the_read_stays(world):
    """A read names the person by reference, not by a key: it no longer keeps an empty person
    row alive after their records are erased, and it outlives them in the audit trail."""
    dave, practitioner = world["dave"], world["practitioner"]
    access_log_write(
        user=practitioner,
        membership=practitioner.memberships.get(),
        action=AuditAction.SUMMARY,
        channel="web",
        purpose=Purpose.SAFEGUARDING,
        person=dave,
        fields={str(world["records"]["D1"].pk): ["field:risk_grade"]},
    )
    erase_nightly()
    assert not Person.objects.filter(pk=dave.pk).exists()
    (read,) = AuditEntry.objects.reads().filter(person_reference=dave.reference)
    assert (read.actor, read.action) == (practitioner, AuditAction.SUMMARY)
    assert audit_verify().intact


def test_erasure_logs_counts_and_nothing_of_the_records(world):
    erase_nightly()
    run = ErasureRun.objects.get(kind=ErasureKind.RETENTION)
    assert run.status == ErasureStatus.DONE
    figures = run.figures
    assert figures["records"] == 3
    assert figures["linkage_keys"] == figures["search_keys"] == 3
    assert figures["findings"] == 3  # A2 medium, B1 and D1 high
    assert figures["review_items"] == 2 and figures["review_decisions"] == 1
    assert figures["rows_set_aside"] == 1
    assert figures["links_cleared"] == 1
    assert figures["persons"] == 2 and figures["persons_kept_as_reference"] == 1
    assert figures["notifications"] == 1
    assert all(isinstance(v, int) for v in figures.values())
    entry = AuditEntry.objects.get(action=AuditAction.ERASURE)
    assert entry.detail["erasure"] == run.pk and entry.detail["records"] == 3
    text = repr(entry.detail) + repr(figures)
    for leak in ("A2", "B1", "D1", "Smith", "Bob", "Dave", "2012", "LS6"):
        assert leak not in text


def test_a_second_run_erases_nothing_more(world):
    erase_nightly()
    counts = {m: m.objects.count() for m in (SourceRecord, LinkageRecord, RiskFinding, Alert)}
    erase_nightly()
    assert {m: m.objects.count() for m in counts} == counts
    second = ErasureRun.objects.filter(kind=ErasureKind.RETENTION).order_by("pk").last()
    assert second.status == ErasureStatus.DONE and not second.figures.get("records")


def test_a_record_sent_again_while_the_erasure_runs_is_kept(world, monkeypatch):
    """Removal re-checks each record: one an extract sent again since it was marked (so no
    longer retired, and updated since) is current again and stays."""
    import retention.services as services

    records = world["records"]
    original = services.linkage_run

    def resent_meanwhile(**kwargs):
        SourceRecord.objects.filter(pk=records["A2"].pk).update(
            is_retired=False, updated_at=timezone.now() + timedelta(seconds=1)
        )
        return original(**kwargs)

    monkeypatch.setattr(services, "linkage_run", resent_meanwhile)
    erase_nightly()
    assert SourceRecord.objects.filter(pk=records["A2"].pk).exists()
    assert not SourceRecord.objects.filter(pk__in=[records["B1"].pk, records["D1"].pk]).exists()


def test_records_within_the_period_are_kept(world):
    Dataset.objects.filter(pk=world["linked"].police.pk).update(retention_days=90)
    before = SourceRecord.objects.count()
    erase_nightly()
    assert SourceRecord.objects.count() == before


# --- Withdrawal by the agency admin -------------------------------------------------------------


@pytest.fixture
def police_admin(client, member, other_agency):
    user = member(Role.AGENCY_ADMIN, in_agency=other_agency, full_name="Ada Admin")
    client.force_login(user)
    return user


def _post(client, url, data):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url, data)


def test_admin_withdraws_an_extract_after_confirming(world, client, police_admin):
    police = world["linked"].police
    extract = Extract.objects.filter(dataset=police).order_by("pk").first()
    url = reverse("retention:extract_withdraw", args=[extract.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert "3 records" in page.content.decode()  # A1, A2 and B1 came in this extract

    refused = _post(client, url, {})
    assert refused.status_code == 400
    assert "Confirm that you understand" in refused.content.decode()
    assert SourceRecord.objects.filter(last_extract=extract).count() == 3

    done = _post(client, url, {"confirm": "on"})
    run = ErasureRun.objects.get(kind=ErasureKind.EXTRACT)
    assert done.status_code == 302 and done.url == reverse(
        "retention:erasure_detail", args=[run.pk]
    )
    run.refresh_from_db()
    assert run.status == ErasureStatus.DONE and run.figures["records"] == 3
    assert not SourceRecord.objects.filter(first_extract=extract).exists()
    assert SourceRecord.objects.filter(source_id="D1").exists()  # another extract's
    extract.refresh_from_db()
    assert extract.status == ExtractStatus.WITHDRAWN
    assert "3 records" in extract.message
    page = client.get(done.url).content.decode()
    assert "Erased" in page and "Keyed tokens and encodings" in page
    assert AuditEntry.objects.filter(action=AuditAction.WITHDRAWAL, actor=police_admin).exists()


def test_admin_withdraws_a_dataset_and_it_takes_no_more_extracts(world, client, police_admin):
    police = world["linked"].police
    _post(client, reverse("retention:dataset_withdraw", args=[police.pk]), {"confirm": "on"})
    police.refresh_from_db()
    assert police.withdrawn_at is not None
    assert not SourceRecord.objects.filter(dataset=police).exists()
    assert set(police.extracts.values_list("status", flat=True)) == {ExtractStatus.WITHDRAWN}
    # Social care's records are untouched.
    assert SourceRecord.objects.filter(dataset=world["linked"].csc).count() == 2

    extracts = Extract.objects.count()
    response = _post(
        client,
        reverse("agencies:extract_upload", args=[police.pk]),
        {"file": _file(csv_bytes([good_row("N1")])), "mode": "incremental"},
    )
    assert response.status_code == 400
    assert "was withdrawn on" in response.content.decode()
    assert Extract.objects.count() == extracts
    again = _post(
        client, reverse("retention:dataset_withdraw", args=[police.pk]), {"confirm": "on"}
    )
    assert again.status_code == 400 and "already withdrawn" in again.content.decode()


def _file(content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("extract.csv", content)


def test_withdrawal_waits_for_an_extract_in_flight(world, client, police_admin):
    police = world["linked"].police
    busy = Extract.objects.filter(dataset=police).first()
    Extract.objects.filter(pk=busy.pk).update(status=ExtractStatus.PROCESSING)
    response = _post(
        client, reverse("retention:dataset_withdraw", args=[police.pk]), {"confirm": "on"}
    )
    assert response.status_code == 400
    busy_text = f"Extract {busy.number} of this dataset is still being processed"
    assert busy_text in response.content.decode()
    police.refresh_from_db()
    assert police.withdrawn_at is None and not ErasureRun.objects.exists()
    assert SourceRecord.objects.filter(dataset=police).count() == 4


def test_an_interrupted_withdrawal_is_finished_by_the_nightly_run(world, police_admin, monkeypatch):
    """Removal fails after its first batch: the run says so, and the nightly run finishes it
    with the counts of both attempts, the people of the records the first attempt removed, and
    the scores computed again."""
    import retention.services as services

    police, dave = world["linked"].police, world["dave"]
    monkeypatch.setattr(services, "BATCH", 1)
    original, calls = services._delete_batch, []

    def fails_second_time(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return original(*args)

    monkeypatch.setattr(services, "_delete_batch", fails_second_time)
    # Robust on_commit: the admin's request succeeds, the task fails part way.
    with TestCase.captureOnCommitCallbacks(execute=True):
        withdrawal_request(
            user=police_admin, membership=police_admin.memberships.get(), dataset=police
        )
    run = ErasureRun.objects.get(kind=ErasureKind.DATASET)
    assert run.status == ErasureStatus.FAILED and "stopped part way" in run.message
    assert run.figures["records"] == 1 and run.persons_to_check
    assert SourceRecord.objects.filter(dataset=police).count() == 3

    monkeypatch.setattr(services, "_delete_batch", original)
    erase_nightly()
    run.refresh_from_db()
    assert run.status == ErasureStatus.DONE and run.persons_to_check == []
    assert run.figures["records"] == 4 and run.records_by_agency == {str(police.agency_id): 4}
    assert "risk_run" in run.figures
    assert not SourceRecord.objects.filter(dataset=police).exists()
    assert not Person.objects.filter(pk=dave.pk).exists()
    assert not PersonRisk.objects.filter(person__records__isnull=True).exists()
    entry = AuditEntry.objects.get(action=AuditAction.ERASURE, detail__erasure=run.pk)
    assert entry.detail["records"] == 4
    assert erasure_perform(erasure_id=run.pk).status == ErasureStatus.DONE


def test_a_person_whose_records_left_long_ago_is_erased_with_them(agency):
    """The usual path: a full refresh retires a record (linkage takes it out of its person),
    and years later the retention period passes. The person it left is found and erased."""
    dataset = police_dataset(agency)
    upload(dataset, csv_bytes([good_row("E1", forename="Eve", dob="02/02/2002", nhs_number="")]))
    eve = LinkageRecord.objects.get(record__source_id="E1").person
    assert eve is not None
    upload(dataset, csv_bytes([good_row("K1", forename="Kim", dob="03/03/2003")]), mode="full")
    record = SourceRecord.objects.get(source_id="E1")
    assert record.is_retired
    assert LinkageRecord.objects.get(record=record).retired_from_person_id == eve.pk
    SourceRecord.objects.filter(pk=record.pk).update(
        updated_at=timezone.now() - timedelta(days=3000)
    )
    erase_nightly()
    assert not SourceRecord.objects.filter(pk=record.pk).exists()
    assert not Person.objects.filter(pk=eve.pk).exists()
    assert SourceRecord.objects.filter(source_id="K1").exists()


def test_erasure_writes_no_record_content_to_the_log(world, caplog):
    caplog.set_level("DEBUG")
    erase_nightly()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "erasure" in logged
    for leak in ("A2", "B1", "D1", "Smith", "Bob", "Dave", "LS6", "9434765919"):
        assert leak not in logged


def test_a_failure_is_logged_by_its_class_alone(world, caplog, monkeypatch):
    import retention.services as services

    def fails(*args):
        raise ValueError("DETAIL: Key (source_id)=(A2) is still referenced")

    monkeypatch.setattr(services, "_alerts_trim", fails)
    erase_nightly()
    assert ErasureRun.objects.get(kind=ErasureKind.RETENTION).status == ErasureStatus.FAILED
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "ValueError" in logged and "A2" not in logged


def test_only_a_loaded_extract_can_be_withdrawn(world, client, police_admin):
    extract = Extract.objects.filter(dataset=world["linked"].police).first()
    Extract.objects.filter(pk=extract.pk).update(status=ExtractStatus.REJECTED)
    url = reverse("retention:extract_withdraw", args=[extract.pk])
    page = client.get(url).content.decode()
    assert "was not loaded (rejected)" in page and 'name="confirm"' not in page
    response = _post(client, url, {"confirm": "on"})
    assert response.status_code == 400 and "nothing to withdraw" in response.content.decode()
    assert not ErasureRun.objects.exists()


def test_retention_period_form_checks_what_is_typed(world, client, member, agency):
    client.force_login(member(Role.AGENCY_ADMIN, in_agency=agency))
    csc = world["linked"].csc
    url = reverse("retention:retention_period", args=[csc.pk])
    for typed, message in (
        ("", "Enter how many days"),
        ("six years", "whole number of days"),
        ("0", "at least 1 day"),
        ("40000", "at most 36,500 days"),
    ):
        response = client.post(url, {"days": typed})
        assert response.status_code == 400, typed
        assert message in response.content.decode(), typed
    csc.refresh_from_db()
    assert csc.retention_days == 2190
    response = client.post(url, {"days": "395"})
    assert response.status_code == 302
    csc.refresh_from_db()
    assert csc.retention_days == 395
    entry = AuditEntry.objects.get(action=AuditAction.RETENTION)
    assert entry.detail == {"dataset": csc.pk, "days_before": 2190, "days": 395}


def test_a_shorter_period_that_would_erase_records_asks_first(world, client, member, agency):
    client.force_login(member(Role.AGENCY_ADMIN, in_agency=agency))
    csc = world["linked"].csc
    SourceRecord.objects.filter(dataset=csc, source_id="S1").update(
        updated_at=timezone.now() - timedelta(days=400)
    )
    url = reverse("retention:retention_period", args=[csc.pk])
    asked = client.post(url, {"days": "395"})
    assert asked.status_code == 200
    assert "1 record of this dataset is older than 1 year and 1 month" in asked.content.decode()
    unconfirmed = client.post(url, {"days": "395", "asked": "1"})
    assert unconfirmed.status_code == 400
    assert "Confirm that you understand" in unconfirmed.content.decode()
    csc.refresh_from_db()
    assert csc.retention_days == 2190
    assert client.post(url, {"days": "395", "asked": "1", "confirm": "on"}).status_code == 302
    csc.refresh_from_db()
    assert csc.retention_days == 395


def test_platform_admin_sets_any_datasets_period(world, client, member):
    client.force_login(member(Role.PLATFORM_ADMIN))
    listing = client.get(reverse("retention:retention_list")).content.decode()
    police = world["linked"].police
    assert police.name in listing and "social care - referrals" in listing
    url = reverse("retention:retention_period", args=[police.pk])
    # Police's three old records are already past 30 days: shortening to 20 erases no more.
    assert client.post(url, {"days": "20"}).status_code == 302
    police.refresh_from_db()
    assert police.retention_days == 20


def test_agency_users_see_their_own_share_of_a_nightly_run(world, client, member, agency):
    erase_nightly()
    run = ErasureRun.objects.get(kind=ErasureKind.RETENTION)
    client.force_login(member(Role.AGENCY_ADMIN, in_agency=agency))  # social care lost nothing
    page = client.get(reverse("retention:erasure_detail", args=[run.pk])).content.decode()
    assert "0 records of Test Children" in page
    assert "Keyed tokens and encodings" not in page and "People left with no record" not in page
    client.force_login(member(Role.PLATFORM_ADMIN))
    page = client.get(reverse("retention:erasure_detail", args=[run.pk])).content.decode()
    assert "3 records and everything" in page and "Keyed tokens and encodings" in page


def test_another_agencys_admin_cannot_withdraw_or_see_the_erasure(world, client, member, agency):
    police = world["linked"].police
    client.force_login(member(Role.AGENCY_ADMIN, in_agency=agency))
    for name in ("retention:dataset_withdraw", "retention:retention_period"):
        assert client.post(reverse(name, args=[police.pk]), {"confirm": "on"}).status_code == 404
    assert not ErasureRun.objects.exists()
    police_admin = world["linked"].police.agency.memberships.create(
        user=world["admin"], role=Role.AGENCY_ADMIN
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        run = withdrawal_request(user=world["admin"], membership=police_admin, dataset=police)
    assert client.get(reverse("retention:erasure_detail", args=[run.pk])).status_code == 404
    assert client.get(reverse("retention:erasure_progress", args=[run.pk])).status_code == 404
    assert "Erasure " not in client.get(reverse("retention:erasure_list")).content.decode()
