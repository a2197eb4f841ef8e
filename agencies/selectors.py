"""Reads about agencies and their staff, shared by the home pages and the agency pages."""

from django.db.models import Count, Q, QuerySet

from agencies.models import Agency, Membership, Role


def partnership_agencies() -> QuerySet[Agency]:
    """Active partner agencies with how many active staff each has in ShareHub."""
    return Agency.objects.filter(is_active=True).annotate(
        staff_count=Count(
            "memberships__user",
            filter=Q(memberships__is_active=True, memberships__user__is_active=True),
            distinct=True,
        )
    )


def agency_team(agency: Agency) -> QuerySet[Membership]:
    """Everyone holding a role in `agency`, for the people who look after its access."""
    return (
        Membership.objects.filter(agency=agency)
        .select_related("user")
        .order_by("user__full_name", "role")
    )


def role_counts(agency: Agency | None = None) -> dict[str, int]:
    """Active memberships per role, across the partnership or in one agency."""
    memberships = Membership.objects.filter(is_active=True, user__is_active=True)
    if agency is not None:
        memberships = memberships.filter(agency=agency)
    counts = dict(memberships.values_list("role").annotate(n=Count("id")).order_by())
    return {
        label: counts.get(value, 0)
        for value, label in Role.choices
        # Platform admins belong to the partnership, never to one agency.
        if agency is None or value != Role.PLATFORM_ADMIN
    }
