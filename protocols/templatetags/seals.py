from django import template

from protocols.seals import seals_of_version, seals_partnership_wide

register = template.Library()


@register.inclusion_tag("protocols/_sealed_records.html")
def sealed_records(version):
    """The version's sealing rules in words, and the partnership-wide ones beside them, so an
    officer reading a protocol sees everything that stays sealed whatever it says."""
    return {
        "own": seals_of_version(version) if version is not None else [],
        "wide": seals_partnership_wide(),
    }
