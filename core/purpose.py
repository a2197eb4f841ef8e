"""Why a user reads person data, and the one reader of the purpose a request names.

The disclosure engine is always asked for one purpose; a protocol serves exactly one, so data
shared to safeguard a child is not reused to plan services. Consent, risk, alerts, insights and
the audit trail speak of the same purposes, so they are defined here, below all of them.
"""

from django.db import models
from django.http import Http404, HttpRequest
from rest_framework import serializers


class Purpose(models.TextChoices):
    """Why a user reads person data."""

    SAFEGUARDING = "safeguarding", "Safeguarding a child or adult at risk"
    SERVICE_DELIVERY = "service_delivery", "Joined-up service delivery"
    COMMISSIONING = "commissioning", "Planning and commissioning services"
    EVALUATION = "evaluation", "Evaluating services"


class PurposeUnknown(ValueError):
    """A request named a purpose that is none of Purpose's."""


def purpose_parse(value: str | None) -> str:
    """The purpose named by `value` (a request's `purpose` parameter): safeguarding when it names
    none; PurposeUnknown when it names one that is not a purpose."""
    purpose = value or Purpose.SAFEGUARDING
    if purpose not in Purpose.values:
        raise PurposeUnknown(purpose)
    return purpose


def page_purpose(request: HttpRequest) -> str:
    """The purpose a page is asked for (`?purpose=`); 404 for one that is not a purpose, as for a
    page that does not exist."""
    try:
        return purpose_parse(request.GET.get("purpose"))
    except PurposeUnknown:
        raise Http404("No such purpose.") from None


def api_purpose(request) -> str:
    """The purpose an API endpoint is asked for (`?purpose=`); 400 saying which purposes there
    are for one that is not a purpose."""
    try:
        return purpose_parse(request.query_params.get("purpose"))
    except PurposeUnknown:
        raise serializers.ValidationError(
            {"purpose": [f"Use one of: {', '.join(Purpose.values)}."]}
        ) from None
