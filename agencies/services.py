"""Writes about agencies and who works in them."""

from django.db import transaction

from accounts.models import User
from agencies.models import Agency, Dataset, DatasetVersion, Membership
from sharehub_bridge.definitions import Definition


def agency_create_or_update(*, code: str, name: str, kind: str) -> Agency:
    """Create the agency with this code, or bring its name and kind up to date."""
    agency = Agency.objects.filter(code=code).first() or Agency(code=code)
    agency.name = name
    agency.kind = kind
    agency.full_clean()
    agency.save()
    return agency


@transaction.atomic
def user_with_membership_ensure(
    *, email: str, full_name: str, agency: Agency | None, role: str, password: str | None = None
) -> Membership:
    """Make sure a user exists and holds `role` in `agency`; idempotent, for seeding and setup."""
    user = User.objects.filter(email=email.lower()).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password, full_name=full_name)
    elif password is not None and not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    membership, _ = Membership.objects.update_or_create(
        user=user, agency=agency, role=role, defaults={"is_active": True}
    )
    return membership


@transaction.atomic
def dataset_define(*, agency: Agency, definition: Definition, created_by=None) -> DatasetVersion:
    """Create the dataset or give it a new version; an unchanged definition makes no new version."""
    dataset, _ = Dataset.objects.get_or_create(
        agency=agency, name=definition.name, defaults={"created_by": created_by}
    )
    data = definition.to_json()
    latest = dataset.versions.select_for_update().order_by("-number").first()
    if latest is not None and (
        latest.columns == data["columns"]
        and latest.source_id_column == definition.source_id_column
        and latest.event_date_column == definition.event_date_column
    ):
        return latest
    return DatasetVersion.objects.create(
        dataset=dataset,
        number=(latest.number + 1) if latest else 1,
        source_id_column=definition.source_id_column,
        event_date_column=definition.event_date_column,
        columns=data["columns"],
        created_by=created_by,
    )
