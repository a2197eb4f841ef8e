"""Who to contact at each agency that knows a person, from what the disclosure engine shows.

    involvement_contacts(view) -> {dataset id: Contact}

Read from a PersonView alone, never from a record: a contact field the user's protocols do not
share is not in the view's shown fields, so it is never shown, and what is shown is already in
the access log with the rest of the view. Pure: no query, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import quote

from sharehub_bridge.contacts import (
    LEAD_WORKER,
    TEAM,
    TEAM_EMAIL,
    TEAM_PHONE,
    contact_phone_href,
    contact_value_read,
)

if TYPE_CHECKING:
    from protocols.engine import PersonView, RecordView


@dataclass(frozen=True)
class ContactPart:
    kind: str  # a contact role
    text: str
    href: str = ""  # tel: or mailto:, for the phone and the email
    hidden_label: str = ""  # said before the text to screen reader users, as links need context


@dataclass(frozen=True)
class Contact:
    """The contact details of one agency dataset's latest record; any of them may be empty."""

    lead_worker: str = ""
    team: str = ""
    phone: str = ""
    email: str = ""

    def __bool__(self) -> bool:
        return any((self.lead_worker, self.team, self.phone, self.email))

    @property
    def phone_href(self) -> str:
        return contact_phone_href(self.phone) if self.phone else ""

    @property
    def email_href(self) -> str:
        return f"mailto:{quote(self.email, safe='@')}" if self.email else ""

    @property
    def parts(self) -> list[ContactPart]:
        """The details there are, in the order they are read out: who, team, phone, email."""
        parts = []
        if self.lead_worker:
            parts.append(ContactPart(LEAD_WORKER, self.lead_worker))
        if self.team:
            parts.append(ContactPart(TEAM, self.team))
        if self.phone:
            parts.append(ContactPart(TEAM_PHONE, self.phone, self.phone_href, "Phone "))
        if self.email:
            parts.append(ContactPart(TEAM_EMAIL, self.email, self.email_href, "Email "))
        return parts


_ATTRIBUTE = {LEAD_WORKER: "lead_worker", TEAM: "team", TEAM_PHONE: "phone", TEAM_EMAIL: "email"}


def record_contact(record: RecordView) -> Contact:
    """The contact details among the record's shown fields. A phone or email is read again with
    ingest's rules (sharehub_bridge.contacts): a record loaded before its column was mapped as a
    contact may hold anything there, and it is not made into a link."""
    found: dict[str, str] = {}
    for field in record.fields:
        if not field.shown or field.contact not in _ATTRIBUTE or field.value in (None, ""):
            continue
        value = contact_value_read(field.contact, str(field.value))
        if value:
            found.setdefault(_ATTRIBUTE[field.contact], value)
    return Contact(**found)


def _recency(record: RecordView) -> tuple[bool, date, int]:
    # The timeline's order: a record whose event date is shown before one whose is not, newest
    # first; among equals, the one loaded last. An event date the user is not shown (the view
    # leaves it out) does not order anything.
    return (record.event_date is not None, record.event_date or date.min, record.record_id)


def involvement_contacts(view: PersonView) -> dict[int, Contact]:
    """{dataset id: who to contact}, for each dataset of which the view shows a contact detail.

    Each comes whole from one record: the latest, by event date, of the dataset's records that
    show any contact detail. A worker from one record and a team from another would name
    someone who never held the case; a newer record without a contact (a case not allocated
    yet, or loaded under a mapping with no contact columns) leaves the last known one standing.
    """
    latest: dict[int, tuple[tuple[bool, date, int], Contact]] = {}
    for record in view.records:
        contact = record_contact(record)
        if not contact:
            continue
        recency = _recency(record)
        held = latest.get(record.dataset_id)
        if held is None or recency > held[0]:
            latest[record.dataset_id] = (recency, contact)
    return {dataset_id: contact for dataset_id, (_, contact) in latest.items()}
