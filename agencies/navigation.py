"""The service navigation, per role, derived from what each page declares in agencies.access."""

from dataclasses import dataclass

from django.urls import resolve, reverse

from agencies.access import PUBLIC, SIGNED_IN


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
    NavItem("Datasets", "agencies:dataset_list"),
    NavItem("API tokens", "agencies:api_tokens"),
    NavItem("Agency team", "agencies:team"),
    NavItem("Partnership", "agencies:partnership"),
]


def allows(url_name: str, role: str | None) -> bool:
    audience = getattr(resolve(reverse(url_name)).func, "allowed_roles", None)
    if audience in (PUBLIC, SIGNED_IN):
        return True
    return audience is not None and role in audience


def nav_for(role: str | None, current_path: str) -> list[dict]:
    items = []
    for item in NAV_ITEMS:
        if role is None or not allows(item.url_name, role):
            continue
        href = reverse(item.url_name)
        items.append({"text": item.label, "href": href, "active": current_path == href})
    return items
