"""A subject access request and the parts other agencies release into it.

Each agency is the controller of its own records and answers for them (UK GDPR Art 15; police
and health records may fall under exemptions only their owners can judge). So a report compiled
by one agency's IG officer holds that agency's records and the partnership's own data about the
person; every other agency holding records has a part here, which its own IG officer reviews
and releases, with fields withheld as it decides. What was released is kept sealed under the
requesting agency's data key, exactly as released: a later change to the records, or a second
thought, needs a new release, never an edit of the old one.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class SubjectAccessRequest(models.Model):
    """One agency answering one person's request. Kept when the person's records are erased:
    it is the record of how the request was answered."""

    person = models.ForeignKey(
        "matching.Person", on_delete=models.PROTECT, related_name="subject_access_requests"
    )
    agency = models.ForeignKey("agencies.Agency", on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-requested_at", "-pk"]

    def __str__(self) -> str:
        return f"subject access request {self.pk}"


class ReleasePart(models.Model):
    """What one other agency holds about the person, for its IG officers to release."""

    request = models.ForeignKey(
        SubjectAccessRequest, on_delete=models.CASCADE, related_name="parts"
    )
    agency = models.ForeignKey("agencies.Agency", on_delete=models.PROTECT, related_name="+")
    asked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["request", "agency__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "agency"], name="release_part_one_per_agency"
            )
        ]

    def __str__(self) -> str:
        return f"release part {self.pk}"

    def latest_release(self) -> "PartRelease | None":
        return self.releases.order_by("-number").first()


class ReleaseFrozen(Exception):
    """A release is never changed once made; release again instead."""


class PartRelease(models.Model):
    """One release of a part, as its owner's IG officer reviewed it. The newest one counts."""

    part = models.ForeignKey(ReleasePart, on_delete=models.PROTECT, related_name="releases")
    number = models.PositiveIntegerField()
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(default=timezone.now)
    # Ids and field keys only, never a value: which records went out, and what was held back.
    record_ids = models.JSONField(default=list)
    withheld = models.JSONField(default=dict)
    # The released records and notes, sealed under the requesting agency's data key
    # (matching.pseudonymise.release_seal); key rotation reseals it (sharehub.rotation).
    content = models.BinaryField()

    class Meta:
        ordering = ["part", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["part", "number"], name="part_release_unique_number")
        ]

    def __str__(self) -> str:
        return f"release {self.number} of part {self.part_id}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ReleaseFrozen("A release is never changed; make a new release instead.")
        super().save(*args, **kwargs)
