"""What the consent services raise: input to fix, or something the user may not act on."""

from __future__ import annotations

from django.utils import timezone

from consent.models import ConsentRequest


class ConsentError(ValueError):
    """Input that cannot be recorded; `problems` maps each input to what to fix."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(problems.values()))
        self.problems = problems


class NotFound(ConsentError):
    """The person, request or override is not one the user may act on: answer 404."""

    def __init__(self):
        super().__init__({"": "Not found."})


class AlreadyRequested(ConsentError):
    """The practitioner's agency has already asked the agency holding the records, and the
    request is open: `existing` is it, for the page to link to."""

    def __init__(self, existing: ConsentRequest, *, user):
        self.existing = existing
        who = (
            "You"
            if existing.requested_by_id == user.pk
            else f"{existing.requested_by.full_name}, of your agency,"
        )
        asked_on = timezone.localdate(existing.created_at)
        super().__init__(
            {
                "": f"{who} already asked {existing.owner_agency.name} to seek consent for "
                f"this person on {asked_on.day} {asked_on:%B %Y}; the request is waiting for "
                "an answer. Asking again would send them the same question twice."
            }
        )
