"""Writes about agencies and who works in them."""

from django.db import transaction

from accounts.models import User
from agencies.models import Agency, Membership


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
