from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q


class AgencyKind(models.TextChoices):
    CHILDRENS_SOCIAL_CARE = "childrens_social_care", "Children's social care"
    POLICE = "police", "Police"
    HEALTH = "health", "Health"
    EDUCATION = "education", "Education"
    HOUSING = "housing", "Housing"
    PROBATION = "probation", "Probation"
    OTHER = "other", "Other"


class Agency(models.Model):
    """A partner organisation of the safeguarding partnership, bringing its records to ShareHub."""

    name = models.CharField(max_length=200, unique=True)
    code = models.CharField(
        max_length=20,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Z][A-Z0-9_-]{1,19}$",
                "Use 2 to 20 capital letters, digits, hyphens or underscores, "
                "starting with a letter.",
            )
        ],
        help_text="Short code for the API, the command line and exports, e.g. CSC or POL.",
    )
    kind = models.CharField(max_length=32, choices=AgencyKind.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "agencies"

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    PRACTITIONER = "practitioner", "Safeguarding practitioner"
    IG_OFFICER = "ig_officer", "IG officer"
    AGENCY_ADMIN = "agency_admin", "Agency admin"
    ANALYST = "analyst", "Analyst"
    PLATFORM_ADMIN = "platform_admin", "Platform admin"


class Membership(models.Model):
    """A user's role in one agency. A person may hold several, and chooses which one they act in.

    Platform admins run the partnership's platform rather than act for one agency, so theirs is the
    only role that may be held without an agency.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="memberships", null=True, blank=True
    )
    role = models.CharField(max_length=32, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["agency__name", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "agency", "role"], name="membership_unique_role_in_agency"
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(agency__isnull=True),
                name="membership_one_platform_role_per_user",
            ),
            models.CheckConstraint(
                condition=Q(agency__isnull=False) | Q(role="platform_admin"),
                name="membership_agency_required_unless_platform_admin",
            ),
        ]

    def __str__(self) -> str:
        where = self.agency.name if self.agency else "the partnership"
        return f"{self.get_role_display()}, {where}"
