"""The service navigation, per role, derived from what each page declares (core.access)."""

from dataclasses import dataclass

from django.urls import resolve, reverse

from core.access import PUBLIC, SIGNED_IN, admits


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str


# Order is the order shown. A role sees an item only if the page's own declaration admits it.
NAV_ITEMS = [
    NavItem("Home", "practitioner_home"),
    NavItem("Home", "ig_home"),
    NavItem("Home", "agency_admin_home"),
    NavItem("Home", "analyst_home"),
    NavItem("Home", "platform_home"),
    NavItem("Find a person", "protocols:search"),
    NavItem("Alerts", "alerts:inbox"),
    NavItem("Dashboard", "insights:dashboard"),
    NavItem("Consent requests", "consent:request_list"),
    NavItem("Overrides to review", "consent:override_list"),
    NavItem("Protocols", "protocols:protocol_list"),
    NavItem("Audit trail", "audit:audit"),
    NavItem("Subject access", "subject_access:find"),
    NavItem("Datasets", "agencies:dataset_list"),
    NavItem("Retention periods", "retention:retention_list"),
    NavItem("Erasures", "retention:erasure_list"),
    NavItem("API tokens", "agencies:api_tokens"),
    NavItem("Agency team", "agencies:team"),
    NavItem("Partnership", "agencies:partnership"),
    NavItem("Review links", "matching:review_queue"),
    NavItem("Linkage", "matching:linkage_status"),
    NavItem("Linked data export", "matching:linkage_export"),
    NavItem("De-identified export", "insights:export"),
    NavItem("Risk indicators", "risk:indicator_list"),
    NavItem("Alert rules", "alerts:rule_list"),
]


def allows(url_name: str, role: str | None, *, user=None, membership=None) -> bool:
    view = resolve(reverse(url_name)).func
    audience = getattr(view, "allowed_roles", None)
    if audience in (PUBLIC, SIGNED_IN):
        return True
    if audience is None:
        return False
    if role in audience:
        return True
    permission = getattr(view, "allowed_permission", None)
    return (
        permission is not None
        and user is not None
        and admits(user, membership, permission=permission)
    )


def nav_for(role: str | None, current_path: str, *, user=None, membership=None) -> list[dict]:
    """The navigation for someone acting in `role`; with `user` and their `membership`, pages
    opened by a permission granted to the person (reviewing links) are shown too."""
    items = []
    for item in NAV_ITEMS:
        if role is None or not allows(item.url_name, role, user=user, membership=membership):
            continue
        href = reverse(item.url_name)
        items.append({"text": item.label, "href": href, "active": current_path == href})
    return items
