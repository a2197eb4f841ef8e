"""What every consent action checks before it writes: who is acting and what the disclosure
engine shows them of the person, and that free text names nobody they are not shown."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from agencies.models import Role
from consent.errors import NotFound
from matching.models import Person
from matching.screening import identifiers_in_text, screen_problem
from protocols.engine import PersonView, disclose_or_deny, identifiers_shown

MAX_TEXT = 2000


def text_problems(
    problems: dict[str, str],
    name: str,
    text: str,
    *,
    what: str,
    shown: dict[str, set[int]],
    minimum: int = 0,
    required_message: str = "",
) -> None:
    text = text.strip()
    if minimum and len(text) < minimum:
        problems[name] = required_message or f"Write at least {minimum} characters in the {what}."
        return
    if len(text) > MAX_TEXT:
        problems[name] = f"Shorten the {what} to {MAX_TEXT} characters or fewer."
        return
    if text:
        kinds = identifiers_in_text(text, shown=shown)
        if kinds:
            problems[name] = screen_problem(kinds, what=what)


def _household_ids(person: Person) -> list[int]:
    """The person and the members of their household: whose identifiers the screen looks for,
    of those the writer is shown (shown_to)."""
    if person.household_id is None:
        return [person.pk]
    return list(
        Person.objects.filter(Q(pk=person.pk) | Q(household_id=person.household_id)).values_list(
            "pk", flat=True
        )
    )


def shown_to(*, user, membership, person: Person, purpose: str) -> dict[str, set[int]]:
    """The surnames, dates of birth and postcodes of the person's household that the writer is
    shown, as the disclosure engine decides: all a note of theirs is judged against. Judged
    against more, a refusal would tell them a withheld identifier."""
    return identifiers_shown(
        user=user,
        membership=membership,
        person_ids=_household_ids(person),
        purpose=purpose,
        now=timezone.now(),
    )


def practitioner_view(
    *, user, membership, person: Person, purpose: str, attempted: str, channel: str
) -> PersonView:
    """The engine's view of the person for a practitioner about to act on it. Raises NotFound
    for anyone else, and for a person their protocols do not cover, which is logged as a
    denial of what they `attempted` (an audit.models.READ_ACTIONS read), as a summary's is."""
    if membership is None or membership.role != Role.PRACTITIONER:
        raise NotFound()
    view = disclose_or_deny(
        user=user,
        membership=membership,
        person=person,
        purpose=purpose,
        now=timezone.now(),
        action=attempted,
        channel=channel,
    ).get(person.pk)
    if view is None:
        raise NotFound()
    return view
