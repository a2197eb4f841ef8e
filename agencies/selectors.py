"""Reads about agencies and their staff, shared by the home pages and the agency pages."""

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone
from django.utils.formats import date_format

from agencies.models import Agency, Dataset, Extract, Membership, Role
from sharehub_bridge.normalise import DOB_ORDER_MONTH_FIRST, DOB_REPAIRS


def partnership_agencies() -> QuerySet[Agency]:
    """Active partner agencies with how many active staff each has in ShareHub."""
    return Agency.objects.filter(is_active=True).annotate(
        staff_count=Count(
            "memberships__user",
            filter=Q(memberships__is_active=True, memberships__user__is_active=True),
            distinct=True,
        )
    )


def ig_officers(agency_ids: Iterable[int]) -> QuerySet:
    """The active users acting as IG officers, in an active membership, of any of these
    agencies: who is told of what concerns an agency's records."""
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            memberships__agency_id__in=list(agency_ids),
            memberships__is_active=True,
            memberships__role=Role.IG_OFFICER,
        )
        .distinct()
    )


def agency_team(agency: Agency) -> QuerySet[Membership]:
    """Everyone holding a role in `agency`, for the people who look after its access."""
    return (
        Membership.objects.filter(agency=agency)
        .select_related("user")
        .order_by("user__full_name", "role")
    )


def role_counts(agency: Agency | None = None) -> dict[str, int]:
    """Active memberships per role, across the partnership or in one agency."""
    memberships = Membership.objects.filter(is_active=True, user__is_active=True)
    if agency is not None:
        memberships = memberships.filter(agency=agency)
    counts = dict(memberships.values_list("role").annotate(n=Count("id")).order_by())
    return {
        label: counts.get(value, 0)
        for value, label in Role.choices
        # Platform admins belong to the partnership, never to one agency.
        if agency is None or value != Role.PLATFORM_ADMIN
    }


def agency_datasets(agency: Agency) -> QuerySet[Dataset]:
    """The agency's datasets with their live record counts and latest version number."""
    return (
        Dataset.objects.filter(agency=agency)
        .annotate(
            live_records=Count("records", filter=Q(records__is_retired=False)),
            latest_version=Max("versions__number"),
            extract_count=Count("extracts", distinct=True),
        )
        .order_by("name")
    )


def dataset_extract_history(dataset: Dataset) -> QuerySet[Extract]:
    return (
        Extract.objects.filter(dataset=dataset)
        .select_related("uploaded_by", "version")
        .order_by("-uploaded_at", "-id")
    )


def extract_label(extract: Extract) -> str:
    """How an extract is named on pages, charts and in the API: the one place to change it."""
    return f"Uploaded {date_format(timezone.localtime(extract.uploaded_at), 'j M Y, H:i')}"


def dataset_record_counts(dataset: Dataset) -> dict[str, int]:
    counts = dict(dataset.records.values_list("is_retired").annotate(n=Count("id")).order_by())
    return {"live": counts.get(False, 0), "retired": counts.get(True, 0)}


def extract_repair_lines(extract: Extract) -> list[str]:
    """Sentences for the extract's result: how many identifier values were damaged and what was
    done with them, so the agency can fix its source. Counts only, never a value."""
    lines = []
    if extract.repairs.get("date_of_birth_order") == DOB_ORDER_MONTH_FIRST:
        lines.append(
            "Dates of birth in this file are written month first (as 06/19/1968), so they "
            "were read that way."
        )
    for repair, count in sorted(
        extract.repairs.get("date_of_birth", {}).items(), key=lambda item: -item[1]
    ):
        if repair in DOB_REPAIRS:
            noun = "date of birth" if count == 1 else "dates of birth"
            lines.append(f"{count:,} {noun} {DOB_REPAIRS[repair]}.")
    failures = extract.repairs.get("nhs_number", {}).get("check_digit", 0)
    if failures:
        one = failures == 1
        lines.append(
            f"{failures:,} NHS number{' fails its' if one else 's fail their'} check digit: "
            f"{'its record' if one else 'their records'} loaded, but "
            f"{'does' if one else 'do'} not link on the NHS number."
        )
    return lines


def extract_contact_lines(extract: Extract) -> list[str]:
    """Sentences for the extract's result: how many contact details were left out and why.
    Counts only, never a value."""
    counts = extract.repairs.get("contacts", {})
    lines = []
    if phones := counts.get("not_phone", 0):
        lines.append(
            f"{phones:,} team phone {'number is' if phones == 1 else 'numbers are'} not a UK "
            "phone number, so left out of the contact details."
        )
    if emails := counts.get("not_email", 0):
        lines.append(
            f"{emails:,} team email {'address is' if emails == 1 else 'addresses are'} not an "
            "email address, so left out of the contact details."
        )
    if same := counts.get("subject_identifier", 0):
        lines.append(
            f"{same:,} contact {'detail was' if same == 1 else 'details were'} the same as the "
            "person's own name or identifiers on the row, so not kept: contact columns hold "
            "your agency's details, never the person's."
        )
    return lines


def extract_progress_data(extract: Extract) -> dict:
    """What the progress bar and the API show about an extract in flight or finished."""
    return {
        "id": extract.pk,
        "dataset": extract.dataset_id,
        "status": extract.status,
        "status_label": extract.get_status_display(),
        "finished": extract.is_finished,
        "percent": extract.progress_percent,
        "mode": extract.mode,
        "rows_read": extract.rows_read,
        "rows_loaded": extract.rows_loaded,
        "rows_warned": extract.rows_warned,
        "rows_quarantined": extract.rows_quarantined,
        "records_retired": extract.records_retired,
        "repairs": extract_repair_lines(extract),
        "repair_counts": extract.repairs,
        "contact_warnings": extract_contact_lines(extract),
        "message": extract.message,
        "definition_version": extract.version.number,
        "uploaded_at": extract.uploaded_at.isoformat(),
        "finished_at": extract.finished_at.isoformat() if extract.finished_at else None,
    }
