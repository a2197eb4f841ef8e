"""The combined case summary and staged-disclosure unlocks, each read logged in the audit trail.

Views and API endpoints call these; what is shown comes only from the disclosure engine.
"""

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import access_log_write
from consent.models import SafeguardingOverride
from matching.models import Person
from protocols.engine import PersonView, disclose, disclose_or_deny, disclose_view
from protocols.models import CaseUnlock, ProtocolVersion
from protocols.summary_page import summary_page

# The steps a practitioner can say they have completed; a list, so no free text about a
# family is written into the unlock record.
ASSESSMENT_STEPS = {
    "screening": "Screening of the referral",
    "strategy_discussion": "Strategy discussion",
    "initial_assessment": "Initial assessment",
    "section_47": "Section 47 enquiry started",
}


@dataclass
class CaseSummary:
    view: PersonView
    household_reference: str | None = None
    # Only the members the reader may see. How many others there are is not said: a count of
    # people outside the reader's protocols is itself about them.
    household_members: list[PersonView] = field(default_factory=list)
    protocols: list[ProtocolVersion] = field(default_factory=list)
    # The user's safeguarding overrides that opened something shown here.
    overrides: list[SafeguardingOverride] = field(default_factory=list)


def person_by_reference(reference: str) -> Person | None:
    """The person with this reference, following merges to the person it now is."""
    person = Person.objects.filter(reference=reference).first()
    seen = set()
    while person is not None and person.merged_into_id and person.pk not in seen:
        seen.add(person.pk)
        person = Person.objects.filter(pk=person.merged_into_id).first()
    return person


def merged_person_visible(*, user, membership, person: Person, purpose: str, channel: str) -> bool:
    """Whether the engine lets the user see `person`, reached through the old reference of
    someone merged into them: asked before saying where the reference went. A refusal is
    logged as a denied summary, as for any person the user may not see."""
    views = disclose_or_deny(
        user=user,
        membership=membership,
        person=person,
        purpose=purpose,
        now=timezone.now(),
        action=AuditAction.SUMMARY,
        channel=channel,
    )
    return person.pk in views


def case_summary(
    *, user, membership, person: Person, purpose: str, channel: str, now=None
) -> CaseSummary | None:
    """What the user may see of `person` and their household, logged; None means "not found"
    (the user holds no protocol that covers the person), which is logged as a denial too."""
    now = now or timezone.now()
    members = (
        list(
            Person.objects.filter(household_id=person.household_id, is_active=True).exclude(
                pk=person.pk
            )
        )
        if person.household_id
        else []
    )
    views = disclose_or_deny(
        user=user,
        membership=membership,
        person=person,
        others=members,
        purpose=purpose,
        now=now,
        action=AuditAction.SUMMARY,
        channel=channel,
    )
    view = views.get(person.pk)
    if view is None:
        return None
    shown_members = [views[m.pk] for m in members if m.pk in views]
    summary = CaseSummary(
        view=view,
        household_reference=person.household.reference if person.household is not None else None,
        household_members=shown_members,
        protocols=list(
            ProtocolVersion.objects.filter(pk__in=view.versions).select_related("protocol")
        ),
        overrides=list(SafeguardingOverride.objects.filter(pk__in=view.overrides))
        if view.overrides
        else [],
    )
    access_log_write(
        user=user,
        membership=membership,
        action=AuditAction.SUMMARY,
        channel=channel,
        purpose=purpose,
        person=person,
        versions=sorted(set(view.versions).union(*(m.versions for m in shown_members))),
        fields=_fields_logged(view, shown_members),
    )
    return summary


def _fields_logged(view: PersonView, members: list[PersonView]) -> dict:
    """{record id: {field key: [version ids]}}, the datasets shown as "known to", and for the
    household members shown, the same per member: which protocol version disclosed what."""
    fields: dict = {str(record): keys for record, keys in view.disclosed_by().items()}
    fields["known_to"] = sorted({i.dataset_id for i in view.involvements})
    if view.overrides:
        fields["overrides"] = sorted(view.overrides)
    if members:
        fields["household"] = {
            m.person.reference: {
                "known_to": sorted({i.dataset_id for i in m.involvements}),
                "fields": {str(record): keys for record, keys in m.disclosed_by().items()},
            }
            for m in members
        }
    return fields


class UnlockError(ValueError):
    pass


class PersonHidden(UnlockError):
    """No protocol of the user's covers the person: answer as if they did not exist."""


def person_hidden(*, user, membership, person: Person, purpose: str) -> bool:
    view = disclose(
        user=user, membership=membership, persons=[person], purpose=purpose, now=timezone.now()
    )
    return person.pk not in view


def case_unlock(*, user, membership, person: Person, step: str, purpose: str, channel: str) -> bool:
    """Record that the user's own assessment step is done for `person`, which releases the
    detail of staged protocols to them. Only for a person they can already see (known to).
    Returns False if they had recorded it before."""
    before = disclose_view(
        user=user, membership=membership, person=person, purpose=purpose, now=timezone.now()
    )
    if before is None:
        raise PersonHidden()
    if step not in ASSESSMENT_STEPS:
        raise UnlockError("Choose the assessment step you have completed.")
    try:
        with transaction.atomic():
            CaseUnlock.objects.create(user=user, person=person, step=step)
    except IntegrityError:
        return False
    access_log_write(
        user=user,
        membership=membership,
        action=AuditAction.UNLOCK,
        channel=channel,
        purpose=purpose,
        person=person,
        fields={"step": step, "opens": _opened_by_step(before, user, membership, purpose)},
    )
    return True


def _opened_by_step(before: PersonView, user, membership, purpose: str) -> list[int]:
    """The datasets whose detail the step releases (held back before it, shown after), so their
    owners see the step among the reads of their records (audit.reads)."""
    after = disclose_view(
        user=user, membership=membership, person=before.person, purpose=purpose, now=timezone.now()
    )
    held = {i.dataset_id for i in before.involvements if not i.detail_shown}
    shown = {i.dataset_id for i in after.involvements if i.detail_shown} if after else set()
    return sorted(held & shown)


def _contact_json(contact) -> dict | None:
    if not contact:
        return None
    return {
        "lead_worker": contact.lead_worker or None,
        "team": contact.team or None,
        "phone": contact.phone or None,
        "email": contact.email or None,
    }


def _link_json(confidence) -> dict | None:
    if confidence is None:
        return None
    return {"band": confidence.band or None, "how": confidence.words}


def summary_json(summary: CaseSummary) -> dict:
    """The summary as the API returns it: exactly what the page shows, with each link's band
    and how it was made in words (never its weight)."""
    view = summary.view
    page = summary_page(view, household=summary.household_members)
    links = page.confidence
    weakest = page.weakest_link
    return {
        "person": {
            "reference": view.person.reference,
            "name": view.name or None,
            "date_of_birth": view.date_of_birth or None,
        },
        "purpose": view.purpose,
        "staged_detail_locked": view.staged_locked,
        "weakest_link": None
        if weakest is None or page.weakest_link_at is None
        else {
            "band": weakest.band,
            "how": weakest.words,
            "agency": page.weakest_link_at.agency.code,
            "dataset": page.weakest_link_at.involvement.dataset_name,
        },
        "protocols": [
            {"reference": v.protocol.reference, "version": v.number, "name": v.name}
            for v in summary.protocols
        ],
        "known_to": [
            {
                "agency": i.agency.code,
                "agency_name": i.agency.name,
                "dataset": i.dataset_name,
                "latest_involvement": i.latest.isoformat() if i.latest else None,
                "detail_shown": i.detail_shown,
                "allowed_by": i.allowed_by,
                "link_band": block.confidence.band if block.confidence else None,
                "contact": _contact_json(block.contact),
            }
            for i, block in zip(view.involvements, page.agencies, strict=True)
        ],
        "records": [
            {
                "id": r.record_id,
                "agency": r.agency.code,
                "dataset": r.dataset_name,
                "event_date": r.event_date.isoformat() if r.event_date else None,
                "fields": [
                    {"key": f.key, "label": f.label, "value": f.value, "allowed_by": f.allowed_by}
                    for f in r.shown_fields
                ],
                "withheld": [
                    {
                        "key": f.key,
                        "label": f.label,
                        "reason": f.withheld,
                        "reason_text": f.withheld_text,
                    }
                    for f in r.withheld_fields
                ],
                "fields_not_shared": r.not_shared,
                "fields_not_shared_labels": r.not_shared_labels,
                "link": _link_json(links.get(r.record_id)),
            }
            for r in view.timeline()
        ],
        "withheld": [
            {
                "agency": w.agency.code,
                "dataset": w.dataset_name,
                "reason": w.reason,
                "reason_text": w.reason_text,
                "consent": w.consent_text or None,
                "override_possible": bool(w.overridable),
                "protocols": w.protocols,
                "fields": w.field_labels,
            }
            for w in view.withheld
        ],
        "household": None
        if summary.household_reference is None
        else {
            "reference": summary.household_reference,
            "members": [
                {
                    "reference": m.person.reference,
                    "name": m.name or None,
                    "known_to": sorted({i.agency.code for i in m.involvements}),
                }
                for m in summary.household_members
            ],
        },
    }
