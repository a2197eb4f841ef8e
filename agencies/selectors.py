"""Reads about agencies and their staff, shared by the home pages and the agency pages."""

from collections.abc import Collection, Iterable

from django.contrib.auth import get_user_model
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone
from django.utils.formats import date_format

from agencies.models import (
    Agency,
    Dataset,
    Extract,
    ExtractChannel,
    Membership,
    QuarantinedRow,
    Role,
    SourceRecord,
)
from sharehub_bridge.normalise import DOB_ORDER_MONTH_FIRST, DOB_REPAIRS


def dataset_owners(dataset_ids: Collection[int]) -> dict[int, int]:
    """{dataset id: its agency's id}: what the audit trail files a read of the dataset under
    (registered as audit.owners' lookup in AgenciesConfig.ready)."""
    return dict(Dataset.objects.filter(pk__in=dataset_ids).values_list("pk", "agency_id"))


def record_owners(record_ids: Collection[int]) -> dict[int, tuple[int, int]]:
    """{record id: (its agency's id, its dataset's id)}, for the audit trail likewise."""
    return {
        record_id: (agency_id, dataset_id)
        for record_id, agency_id, dataset_id in SourceRecord.objects.filter(
            pk__in=record_ids
        ).values_list("pk", "dataset__agency_id", "dataset_id")
    }


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
    uploaded = date_format(timezone.localtime(extract.uploaded_at), "j M Y")
    return f"Extract {extract.number}, {uploaded}"


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


# Each kind of identifier taken out of free text (sharehub_bridge.redaction.PLACEHOLDERS), as
# one and as many, in the order the sentence names them.
FREE_TEXT_KIND_NOUNS = {
    "name": ("name", "names"),
    "date_of_birth": ("date of birth", "dates of birth"),
    "nhs_number": ("NHS number", "NHS numbers"),
    "postcode": ("postcode", "postcodes"),
    "address": ("address line", "address lines"),
    "phone": ("phone number", "phone numbers"),
    "email": ("email address", "email addresses"),
    "upn": ("UPN", "UPNs"),
    "pnc_id": ("PNC id", "PNC ids"),
    "local_id": ("local id", "local ids"),
}


def extract_free_text_line(extract: Extract) -> str:
    """The sentence for the extract's result saying how many of the person's own identifiers
    were taken out of free-text columns, or "" if none were. Counts only, never a value."""
    counts = extract.repairs.get("free_text", {})
    kinds = [(kind, counts[kind]) for kind in FREE_TEXT_KIND_NOUNS if counts.get(kind)]
    if not kinds:
        return ""
    found = [f"{count:,} {FREE_TEXT_KIND_NOUNS[kind][count != 1]}" for kind, count in kinds]
    listed = found[0] if len(found) == 1 else f"{', '.join(found[:-1])} and {found[-1]}"
    one = sum(count for _, count in kinds) == 1
    rows = counts.get("rows", 0)
    return (
        f"Free text: {listed} of the person each row is about {'was' if one else 'were'} "
        f"replaced with placeholders in {rows:,} row{'' if rows == 1 else 's'}, so "
        f"{'it is' if one else 'they are'} not kept as written."
    )


# Rows set aside listed on the extract's page and in its API document; the download has them all.
SET_ASIDE_SHOWN = 100


def extract_set_aside_reasons(extract: Extract, *, limit: int = SET_ASIDE_SHOWN) -> list[dict]:
    """Why each row set aside could not load, one line per reason: its row in the file, the
    column the reason is about ("" for the row as a whole) and the reason. The reasons name
    columns and rules, never a value, so they can be shown; the rows themselves stay sealed.
    At most `limit` rows, in file order."""
    columns = _definition_columns(extract)
    record_id_column = extract.version.source_id_column
    rows = QuarantinedRow.objects.filter(extract=extract).order_by("row_number")
    return [
        {
            "row": row_number,
            "column": reason_column(reason, columns, record_id_column=record_id_column),
            "reason": reason,
        }
        for row_number, reasons in rows.values_list("row_number", "reasons")[:limit]
        for reason in reasons
    ]


def _definition_columns(extract: Extract) -> list[str]:
    version = extract.version
    names = [column["column"] for column in version.columns]
    if version.source_id_column and version.source_id_column not in names:
        names.append(version.source_id_column)
    # Longest first, so a column whose name holds another's ("dob" in "dob_2") is found whole.
    return sorted(names, key=len, reverse=True)


def reason_column(reason: str, columns: list[str], *, record_id_column: str = "") -> str:
    """The column a row's reason is about, or "" for the row as a whole: the validator writes
    it as "(name)", "Column name" or "Required field name is missing"; a repeated record id is
    about the record id column."""
    found = [
        (position, name)
        for name in columns
        for pattern in (f"({name})", f"Column {name} ", f" {name} is missing")
        if (position := reason.find(pattern)) >= 0
    ]
    if found:
        return min(found)[1]
    return record_id_column if reason.startswith("The record id") else ""


def extract_progress_data(extract: Extract, *, with_reasons: bool = True) -> dict:
    """What the progress bar and the API show about an extract in flight or finished.

    `with_reasons`: the rows set aside and why (capped at SET_ASIDE_SHOWN rows), once the
    extract is finished; a list of many extracts leaves them out (one query each)."""
    data = _extract_document(extract)
    if with_reasons:
        data["set_aside"] = (
            extract_set_aside_reasons(extract)
            if extract.is_finished and extract.rows_quarantined
            else []
        )
        data["set_aside_complete"] = extract.rows_quarantined <= SET_ASIDE_SHOWN
    return data


def _extract_document(extract: Extract) -> dict:
    return {
        "id": extract.pk,
        "number": extract.number,
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
        # Rows of a bridge extract set aside are at the agency, never here: nothing to download.
        "rows_kept_at_agency": (
            extract.rows_quarantined if extract.channel == ExtractChannel.BRIDGE else 0
        ),
        "records_retired": extract.records_retired,
        "repairs": extract_repair_lines(extract),
        "repair_counts": extract.repairs,
        "contact_warnings": extract_contact_lines(extract),
        "free_text": extract_free_text_line(extract),
        "message": extract.message,
        "definition_version": extract.version.number,
        "uploaded_at": extract.uploaded_at.isoformat(),
        "finished_at": extract.finished_at.isoformat() if extract.finished_at else None,
    }
