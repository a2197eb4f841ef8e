"""Record the granting agency of every protocol already given (issue 20, finding 6).

The engine now counts a `use_protocol` permission only with a ProtocolGrant naming the agency
its holder acts for. For grants made before, the agency is the one whose IG officer gave it:
the latest "Given to" event of the protocol naming the holder says who gave it, and that
officer's IG membership in an agency party to the protocol (or its owner) says for whom; for a
user grant the holder must also work there, as protocol_assign required. Where no event names
the holder, a user working in exactly one such agency is taken to have been given it by that
agency. Anything else is left without a grant, so it opens nothing (fail closed) until an IG
officer gives it again; the count is printed so a deployment can see it.
"""

from django.db import migrations


def _user_label(user) -> str:
    # accounts.models.User.__str__, which historical models do not carry.
    return user.full_name or user.email


def grants_backfill(apps, schema_editor):
    Protocol = apps.get_model("protocols", "Protocol")
    ProtocolEvent = apps.get_model("protocols", "ProtocolEvent")
    ProtocolGrant = apps.get_model("protocols", "ProtocolGrant")
    Membership = apps.get_model("agencies", "Membership")
    UserObjectPermission = apps.get_model("guardian", "UserObjectPermission")
    GroupObjectPermission = apps.get_model("guardian", "GroupObjectPermission")
    held = {
        "permission__codename": "use_protocol",
        "content_type__app_label": "protocols",
        "content_type__model": "protocol",
    }

    def parties(protocol) -> set[int]:
        latest = protocol.versions.order_by("-number").first()
        found = set(latest.parties.values_list("pk", flat=True)) if latest else set()
        return found | {protocol.owner_agency_id}

    def granter(protocol, label: str):
        event = (
            ProtocolEvent.objects.filter(protocol=protocol, kind="assigned", detail=label[:300])
            .order_by("-at", "-pk")
            .select_related("by")
            .first()
        )
        return event.by if event is not None else None

    def ig_agencies(user, among: set[int]) -> set[int]:
        return set(
            Membership.objects.filter(
                user=user, role="ig_officer", agency_id__in=among
            ).values_list("agency_id", flat=True)
        )

    def works_in(user, among: set[int]) -> set[int]:
        return set(
            Membership.objects.filter(user=user, agency_id__in=among, is_active=True).values_list(
                "agency_id", flat=True
            )
        )

    made = left = 0
    protocols = Protocol.objects.in_bulk()
    for row in UserObjectPermission.objects.filter(**held).select_related("user"):
        protocol = protocols.get(int(row.object_pk))
        if protocol is None:
            continue
        among = parties(protocol)
        by = granter(protocol, _user_label(row.user))
        agencies = ig_agencies(by, among) & works_in(row.user, among) if by else set()
        if not agencies and by is None:
            agencies = works_in(row.user, among)
        if len(agencies) != 1:
            left += 1
            continue
        _, created = ProtocolGrant.objects.get_or_create(
            protocol=protocol, user=row.user, agency_id=agencies.pop(), defaults={"granted_by": by}
        )
        made += created
    for row in GroupObjectPermission.objects.filter(**held).select_related("group"):
        protocol = protocols.get(int(row.object_pk))
        if protocol is None:
            continue
        by = granter(protocol, row.group.name)
        agencies = ig_agencies(by, parties(protocol)) if by else set()
        if len(agencies) != 1:
            left += 1
            continue
        _, created = ProtocolGrant.objects.get_or_create(
            protocol=protocol,
            group=row.group,
            agency_id=agencies.pop(),
            defaults={"granted_by": by},
        )
        made += created
    if made or left:
        print(
            f"\n  Protocol grants: {made} given their agency; {left} left without one, which "
            "open nothing until an IG officer gives them again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("protocols", "0004_protocol_grants"),
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more"),
        ("agencies", "0008_extract_repairs"),
    ]

    operations = [migrations.RunPython(grants_backfill, migrations.RunPython.noop)]
