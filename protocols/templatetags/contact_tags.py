"""{% involvement_contact view dataset_id as contact %}: who to contact at the agency of one
"Known to" line, from protocols.contacts (what the disclosure engine shows, nothing else)."""

from django import template

from protocols.contacts import Contact, involvement_contacts

register = template.Library()


@register.simple_tag
def involvement_contact(view, dataset_id) -> Contact | None:
    if view is None:
        return None
    return involvement_contacts(view).get(dataset_id)
