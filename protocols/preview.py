"""The "view as" preview (issue 22): what a draft or submitted version would show a holder in a
role at an agency, beside what the version in force shows them, before anyone approves it.

An approver reading rule tables cannot tell what a practitioner will actually see; here they
see the case summary itself, laid out as practitioners read it (protocols.summary_page), for a
made-up person whose every field is a placeholder or, if they name one, a person their own
agency holds a record about; of a real person, only their own agency's records show values, the
others show the field names in brackets (see _masked). The disclosure engine decides both sides
(engine.version_grants, disclose_as_holder, disclose_synthetic): the preview is never a second
copy of the rules.
Every preview is audited, and one of a real person counts as a read of each agency's records
it showed (audit.reads), as a case summary does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from agencies.models import Agency, Dataset, Membership
from matching.models import LinkageRecord, Person
from protocols.engine import (
    PersonView,
    disclose_as_holder,
    disclose_synthetic,
    version_grants,
)
from protocols.models import DatasetRule, ProtocolVersion, VersionStatus
from protocols.seals import SealLine, seal_lines, seal_rules_for

# What each side of a field's comparison is called, with words and not colour alone.
ADDED = "New in this version"
NEWLY_WITHHELD = "Withheld in this version"
NO_LONGER_WITHHELD = "No longer withheld"
# Shown in the in-force column, so it names the new version as the one that drops the field:
# "Not shown by this version" there read as if the version in force did not show it.
REMOVED = "Dropped in the new version"


@dataclass
class DatasetChange:
    """How one dataset's part of the summary differs between the version in force and this
    one, in field labels."""

    agency: Agency
    dataset_name: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    newly_withheld: list[str] = field(default_factory=list)
    no_longer_withheld: list[str] = field(default_factory=list)
    # "Known to" itself: the agency's involvement newly shown, or no longer shown.
    involvement: str = ""

    @property
    def any(self) -> bool:
        return bool(
            self.added
            or self.removed
            or self.newly_withheld
            or self.no_longer_withheld
            or self.involvement
        )


@dataclass
class Preview:
    version: ProtocolVersion
    in_force: ProtocolVersion | None
    role: str
    agency: Agency
    purpose: str
    person: Person | None  # None: the made-up person
    this_view: PersonView | None
    in_force_view: PersonView | None
    changes: list[DatasetChange]
    # The seal rules that would keep records of other agencies' datasets this version names
    # from the holder, in words (its own and partnership-wide ones), and for a real person how
    # many of their records each dataset keeps back ({"Agency: Dataset": count}).
    seals: list[SealLine] = field(default_factory=list)
    sealed_counts: dict[str, int] = field(default_factory=dict)


def version_in_force(version: ProtocolVersion, *, today=None) -> ProtocolVersion | None:
    """The protocol's version in force today, other than `version` itself."""
    today = today or timezone.localdate()
    live = (
        ProtocolVersion.objects.filter(protocol_id=version.protocol_id, status=VersionStatus.ACTIVE)
        .exclude(pk=version.pk)
        .select_related("protocol")
        .first()
    )
    return live if live is not None and live.in_force_on(today) else None


def person_for_preview(*, membership: Membership, reference: str) -> Person | None:
    """The active person with exactly this reference, only if the previewer's own agency holds
    a current record about them; None for every other reason alike (no such reference, merged
    away, held only by other agencies), so the answer says nothing about who exists."""
    reference = reference.strip().upper()
    if not reference or membership.agency_id is None:
        return None
    held = LinkageRecord.objects.filter(
        person__reference=reference,
        person__is_active=True,
        agency_id=membership.agency_id,
        record__is_retired=False,
    ).select_related("person")
    found = held.first()
    return found.person if found is not None else None


def _masked(view: PersonView | None, *, own_agency_id: int | None) -> None:
    """Replace every value and date of another agency's records with a placeholder naming the
    field ("[Risk grade]"), keeping what is shown, withheld and known to.

    A version being previewed is not yet agreed by the agencies whose records it would open,
    and an IG officer is not a holder of the version in force either: neither side gives them a
    lawful basis to read another agency's records about this person. What they need to judge
    is the shape (which fields of which record a holder would see, which would wait for
    consent), and their own agency's records, whose values they may see, show how it reads.
    """
    if view is None:
        return
    for record in view.records:
        if record.agency.pk == own_agency_id:
            continue
        record.event_date = None
        record.masked = True
        for f in record.fields:
            if f.shown:
                f.value = f"[{f.label}]"
    for involvement in view.involvements:
        if involvement.agency.pk != own_agency_id:
            involvement.latest = None
            involvement.masked = True


def _states(view: PersonView | None) -> dict[tuple[int, str], str]:
    """{(record id, field key): "shown" or the withholding reason}."""
    if view is None:
        return {}
    return {
        (record.record_id, f.key): "shown" if f.shown else f.withheld
        for record in view.records
        for f in record.fields
    }


def _mark(this: PersonView | None, in_force: PersonView | None) -> None:
    """Tag each field and "known to" row whose showing differs between the two sides, in
    words, for the summary template (`preview_change`); set on the views' own objects, which
    are made for this page alone."""
    new, old = _states(this), _states(in_force)
    for view, mine, theirs in ((this, new, old), (in_force, old, new)):
        if view is None:
            continue
        is_this = view is this
        for record in view.records:
            for f in record.fields:
                state, other = (
                    mine[(record.record_id, f.key)],
                    theirs.get((record.record_id, f.key)),
                )
                text = ""
                if state == other:
                    text = ""
                elif is_this and state == "shown":
                    text = NO_LONGER_WITHHELD if other else ADDED
                elif is_this:
                    text = NEWLY_WITHHELD if other == "shown" else ADDED
                elif state == "shown":
                    text = NEWLY_WITHHELD if other else REMOVED
                else:
                    text = REMOVED if other is None else ""
                setattr(f, "preview_change", text)  # noqa: B010 - a page-only attribute
        other_view = in_force if is_this else this
        theirs_known = {i.dataset_id for i in other_view.involvements} if other_view else set()
        for involvement in view.involvements:
            if involvement.dataset_id not in theirs_known:
                setattr(involvement, "preview_change", ADDED if is_this else REMOVED)  # noqa: B010


def _changes(this: PersonView | None, in_force: PersonView | None) -> list[DatasetChange]:
    """Per dataset, which field labels are shown or withheld differently, in the order the
    datasets appear on the summary."""
    shown: dict[str, dict[int, dict[str, str]]] = {}
    held: dict[str, dict[int, dict[str, str]]] = {}
    agencies: dict[int, tuple[Agency, str]] = {}
    for side, view in (("new", this), ("old", in_force)):
        shown[side], held[side] = {}, {}
        if view is None:
            continue
        for involvement in view.involvements:
            agencies[involvement.dataset_id] = (involvement.agency, involvement.dataset_name)
        for record in view.records:
            for f in record.fields:
                target = shown if f.shown else held
                target[side].setdefault(record.dataset_id, {})[f.key] = f.label
        for withheld in view.withheld:
            for key, label in zip(withheld.field_keys, withheld.field_labels, strict=True):
                held[side].setdefault(withheld.dataset_id, {})[key] = label
    known = {
        side: {i.dataset_id for i in view.involvements} if view else set()
        for side, view in (("new", this), ("old", in_force))
    }
    changes = []
    for dataset_id, (agency, name) in sorted(
        agencies.items(), key=lambda item: (item[1][0].name, item[1][1])
    ):
        new_shown = shown["new"].get(dataset_id, {})
        old_shown = shown["old"].get(dataset_id, {})
        new_held = held["new"].get(dataset_id, {})
        old_held = held["old"].get(dataset_id, {})
        change = DatasetChange(agency=agency, dataset_name=name)
        change.added = [v for k, v in new_shown.items() if k not in old_shown and k not in old_held]
        change.removed = [
            v for k, v in old_shown.items() if k not in new_shown and k not in new_held
        ]
        change.newly_withheld = [v for k, v in new_held.items() if k in old_shown]
        change.no_longer_withheld = [v for k, v in new_shown.items() if k in old_held]
        if dataset_id in known["new"] - known["old"]:
            change.involvement = "Now shown as known to"
        elif dataset_id in known["old"] - known["new"]:
            change.involvement = "No longer shown at all"
        if change.any:
            changes.append(change)
    return changes


def _own_sealed(
    view: PersonView | None, names: dict[int, str], *, own_agency_id: int | None
) -> dict[str, int]:
    """How many of the person's records each of the previewer's own agency's datasets keeps
    sealed from the holder. Never another agency's: that a person has records a seal keeps
    back (a sexual health clinic's, an adoption) is what the seal is there to hide."""
    if view is None or not view.sealed or own_agency_id is None:
        return {}
    own = set(
        Dataset.objects.filter(pk__in=list(view.sealed), agency_id=own_agency_id).values_list(
            "pk", flat=True
        )
    )
    return {names.get(d, "Your agency's dataset"): n for d, n in view.sealed.items() if d in own}


def _logged(views: list[PersonView]) -> dict:
    """What a case summary logs (protocols.summary._fields_logged), over both sides: the record
    ids and field keys shown and the datasets shown as "known to"."""
    fields: dict = {}
    known: set[int] = set()
    for view in views:
        for record_id, keys in view.disclosed_by().items():
            mine = fields.setdefault(str(record_id), {})
            for key, versions in keys.items():
                mine[key] = sorted(set(mine.get(key, [])) | set(versions))
        known |= {i.dataset_id for i in view.involvements}
    fields["known_to"] = sorted(known)
    return fields


def protocol_preview(
    *,
    membership: Membership,
    version: ProtocolVersion,
    role: str,
    agency: Agency,
    purpose: str,
    person: Person | None = None,
    now: datetime | None = None,
) -> Preview:
    """What `version`, and the version in force, would show a holder acting in `role` for
    `agency` for `purpose`: of `person` (found with person_for_preview) or of a made-up person
    with one record in each dataset either version names. Audited."""
    from audit.models import AuditAction
    from audit.services import audit_record

    now = now or timezone.now()
    in_force = version_in_force(version, today=timezone.localdate(now))
    grants = version_grants(version=version, role=role, agency_id=agency.pk, purpose=purpose)
    in_force_grants = (
        version_grants(version=in_force, role=role, agency_id=agency.pk, purpose=purpose)
        if in_force
        else []
    )
    if person is None:
        dataset_ids = set(
            DatasetRule.objects.filter(
                version__in=[v for v in (version, in_force) if v is not None]
            ).values_list("dataset_id", flat=True)
        )
        this_view = disclose_synthetic(
            grants=grants, dataset_ids=dataset_ids, purpose=purpose, now=now
        )
        in_force_view = (
            disclose_synthetic(
                grants=in_force_grants, dataset_ids=dataset_ids, purpose=purpose, now=now
            )
            if in_force
            else None
        )
    else:
        this_view = disclose_as_holder(
            grants=grants,
            persons=[person],
            purpose=purpose,
            now=now,
            agency_id=agency.pk,
            version_id=version.pk,
        ).get(person.pk)
        in_force_view = (
            disclose_as_holder(
                grants=in_force_grants,
                persons=[person],
                purpose=purpose,
                now=now,
                agency_id=agency.pk,
            ).get(person.pk)
            if in_force
            else None
        )
        _masked(this_view, own_agency_id=membership.agency_id)
        _masked(in_force_view, own_agency_id=membership.agency_id)
    _mark(this_view, in_force_view)
    shown = [v for v in (this_view, in_force_view) if v is not None]
    detail: dict = {
        "protocol": version.protocol.reference,
        "version": version.number,
        "in_force_version": in_force.number if in_force else None,
        "as": {"role": role, "agency": agency.pk},
    }
    if person is not None:
        # A real person's records, shown to the previewer: a read of each owning agency's
        # records (audit.reads), logged as a case summary logs them.
        detail["fields"] = _logged(shown)
    else:
        # The made-up person's field keys per dataset: no record was read, so not "fields".
        detail["example"] = {
            str(r.dataset_id): sorted(f.key for f in r.shown_fields)
            for view in shown
            for r in view.records
        }
    audit_record(
        action=AuditAction.PROTOCOL_PREVIEW,
        actor=membership.user,
        membership=membership,
        channel="web",
        purpose=purpose,
        person=person,
        versions=[version.pk, *([in_force.pk] if in_force else [])],
        detail=detail,
    )
    named = DatasetRule.objects.filter(version=version).exclude(dataset__agency_id=agency.pk)
    seals = seal_lines(
        seal_rules_for(
            dataset_ids=named.values_list("dataset_id", flat=True),
            today=timezone.localdate(now),
            version_id=version.pk,
        )
    )
    names = {line.dataset_id: line.dataset for line in seals}
    return Preview(
        version=version,
        in_force=in_force,
        role=role,
        agency=agency,
        purpose=purpose,
        person=person,
        this_view=this_view,
        in_force_view=in_force_view,
        changes=_changes(this_view, in_force_view),
        seals=seals,
        sealed_counts=_own_sealed(this_view, names, own_agency_id=membership.agency_id),
    )
