import tempfile
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from agencies.access import (
    ACTIVE_MEMBERSHIP_SESSION_KEY,
    ALL_ROLES,
    MemberRequest,
    SignedInRequest,
    role_required,
    signed_in,
    usable_memberships,
)
from agencies.downloads import quarantine_csv_response, warnings_csv_response
from agencies.forms import ApiTokenForm, ExtractUploadForm, MappingForm, SampleFileForm
from agencies.ingest.receive import extract_limits, extract_receive
from agencies.mapping import mapping_propose
from agencies.models import ApiToken, Dataset, Extract, ExtractChannel, Role
from agencies.quality import dataset_quality_page
from agencies.selectors import (
    agency_datasets,
    agency_team,
    dataset_extract_history,
    dataset_record_counts,
    extract_contact_lines,
    extract_free_text_line,
    extract_progress_data,
    extract_repair_lines,
    extract_set_aside_reasons,
    partnership_agencies,
)
from agencies.services import dataset_define
from agencies.tokens import api_token_create, api_token_revoke
from sharehub_bridge.definitions import (
    CONTACT_ROLES,
    IDENTIFIER_FIELDS,
    SENSITIVE_TYPES,
    DefinitionError,
    definition_parse,
)
from sharehub_bridge.readers import ExtractFileError, extract_open


@role_required(*ALL_ROLES)
def partnership(request: MemberRequest) -> HttpResponse:
    return render(request, "agencies/partnership.html", {"agencies": partnership_agencies()})


@role_required(Role.AGENCY_ADMIN, Role.IG_OFFICER)
def team(request: MemberRequest) -> HttpResponse:
    agency = request.membership.own_agency
    return render(request, "agencies/team.html", {"agency": agency, "team": agency_team(agency)})


@signed_in
@require_POST
def switch_role(request: SignedInRequest) -> HttpResponse:
    """Act in another of the user's own memberships; ids of anyone else's are ignored."""
    wanted = request.POST.get("membership")
    for membership in usable_memberships(request.user):
        if str(membership.pk) == wanted:
            request.session[ACTIVE_MEMBERSHIP_SESSION_KEY] = membership.pk
            break
    return redirect("home")


# --- Datasets and extracts (agency admins of the owning agency only) ---------------------------


def own_dataset(request: MemberRequest, pk: int) -> Dataset:
    # Another agency's dataset answers 404, exactly like one that does not exist.
    return get_object_or_404(Dataset, pk=pk, agency=request.membership.agency)


def own_extract(request: MemberRequest, pk: int) -> Extract:
    return get_object_or_404(
        Extract.objects.select_related("dataset", "version", "uploaded_by"),
        pk=pk,
        dataset__agency=request.membership.agency,
    )


@contextmanager
def _uploaded_path(uploaded):
    """A filesystem path for an uploaded file, wherever Django put it."""
    if hasattr(uploaded, "temporary_file_path"):
        yield Path(uploaded.temporary_file_path())
        return
    with tempfile.NamedTemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR, suffix=".upload") as copy:
        for chunk in uploaded.chunks():
            copy.write(chunk)
        copy.flush()
        yield Path(copy.name)


@role_required(Role.AGENCY_ADMIN)
def dataset_list(request: MemberRequest) -> HttpResponse:
    agency = request.membership.own_agency
    return render(
        request,
        "agencies/dataset_list.html",
        {"agency": agency, "datasets": agency_datasets(agency)},
    )


@role_required(Role.AGENCY_ADMIN)
def dataset_new(request: MemberRequest) -> HttpResponse:
    """Step 1: a sample file, from whose header a mapping is proposed."""
    form = SampleFileForm(request.POST or None, request.FILES or None)
    if refusal := getattr(request, "upload_refusal", ""):
        form.refuse_as_too_large(refusal)
    elif request.method == "POST" and form.is_valid():
        uploaded = form.cleaned_data["sample"]
        try:
            with (
                _uploaded_path(uploaded) as path,
                extract_open(path, filename=uploaded.name, limits=extract_limits()) as reader,
            ):
                proposal = mapping_propose(reader.header, reader.rows())
        except ExtractFileError as error:
            form.add_error("sample", str(error))
        else:
            columns = [c["column"] for c in proposal["columns"]]
            mapping = MappingForm(
                columns=columns, initial=MappingForm.initial_from_definition(proposal)
            )
            return render(
                request,
                "agencies/dataset_mapping.html",
                {"form": mapping, "proposed_from": uploaded.name, "dataset": None},
            )
    return render(request, "agencies/dataset_new.html", {"form": form})


@role_required(Role.AGENCY_ADMIN)
@require_POST
def dataset_create(request: MemberRequest) -> HttpResponse:
    """Step 2: the admin's confirmed mapping becomes the dataset's first version."""
    columns = request.POST.getlist("columns")
    form = MappingForm(request.POST, columns=columns)
    return _mapping_save(request, form, dataset=None)


@role_required(Role.AGENCY_ADMIN)
def dataset_mapping(request: MemberRequest, pk: int) -> HttpResponse:
    """Change an existing dataset's mapping: saving makes a new version."""
    dataset = own_dataset(request, pk)
    version = dataset.current_version
    mapped: list[dict] = version.columns if version else []
    current = {
        "name": dataset.name,
        "source_id_column": version.source_id_column if version else "",
        "event_date_column": version.event_date_column if version else "",
        "columns": mapped,
    }
    columns = [c["column"] for c in mapped]
    if request.method == "POST":
        data = request.POST.copy()
        data["name"] = dataset.name  # the name identifies the dataset; it is not edited here
        form = MappingForm(data, columns=columns)
        return _mapping_save(request, form, dataset=dataset)
    form = MappingForm(columns=columns, initial=MappingForm.initial_from_definition(current))
    return render(request, "agencies/dataset_mapping.html", {"form": form, "dataset": dataset})


def _mapping_save(
    request: MemberRequest, form: MappingForm, *, dataset: Dataset | None
) -> HttpResponse:
    if form.is_valid():
        try:
            definition = definition_parse(form.definition_data())
        except DefinitionError as error:
            for problem in error.problems:
                form.add_error(None, problem)
        else:
            agency = request.membership.own_agency
            clash = Dataset.objects.filter(agency=agency, name=definition.name)
            if dataset is None and clash.exists():
                form.add_error("name", "Your agency already has a dataset with this name.")
            else:
                version = dataset_define(
                    agency=agency, definition=definition, created_by=request.user
                )
                messages.success(
                    request, f"Mapping saved as version {version.number} of {version.dataset}."
                )
                return redirect("agencies:dataset_detail", pk=version.dataset_id)
    return render(
        request,
        "agencies/dataset_mapping.html",
        {"form": form, "dataset": dataset},
        status=400,
    )


@role_required(Role.AGENCY_ADMIN)
def dataset_detail(request: MemberRequest, pk: int) -> HttpResponse:
    dataset = own_dataset(request, pk)
    version = dataset.current_version
    columns = [
        {
            **column,
            "contact_label": CONTACT_ROLES.get(column.get("contact", ""), ""),
            "role": _column_role(column),
        }
        for column in (version.columns if version else [])
    ]
    return render(
        request,
        "agencies/dataset_detail.html",
        {
            "dataset": dataset,
            "version": version,
            "columns": columns,
            "has_contacts": any(column["contact_label"] for column in columns),
            "extracts": dataset_extract_history(dataset),
            "record_counts": dataset_record_counts(dataset),
        },
    )


def _column_role(column: dict) -> str:
    """What a mapped column is, in words: "Risk grade (category: standard, medium, high)",
    "Officer in case (free text; contact detail: lead worker)", "Identifier: Date of birth"."""
    if identifier := column.get("identifier"):
        return f"Identifier: {IDENTIFIER_FIELDS.get(identifier, identifier)}"
    if not column.get("type"):
        return "Ignored"
    kind = SENSITIVE_TYPES.get(column["type"], column["type"]).lower()
    if column.get("values"):
        kind += ": " + ", ".join(str(value) for value in column["values"])
    parts = [kind]
    if contact := CONTACT_ROLES.get(column.get("contact", "")):
        parts.append(f"contact detail: {contact.lower()}")
    return f"{column.get('label') or column['column']} ({'; '.join(parts)})"


@role_required(Role.AGENCY_ADMIN)
def dataset_quality(request: MemberRequest, pk: int) -> HttpResponse:
    dataset = own_dataset(request, pk)
    return render(
        request,
        "agencies/dataset_quality.html",
        {"dataset": dataset, "quality": dataset_quality_page(dataset)},
    )


@role_required(Role.AGENCY_ADMIN)
def extract_upload(request: MemberRequest, pk: int) -> HttpResponse:
    dataset = own_dataset(request, pk)
    version = dataset.current_version
    form = ExtractUploadForm(
        request.POST or None,
        request.FILES or None,
        has_record_id=version is None or bool(version.source_id_column),
    )
    if refusal := getattr(request, "upload_refusal", ""):
        form.refuse_as_too_large(refusal)
    elif dataset.current_version is None:
        form.add_error(None, "Define the dataset's columns before uploading an extract.")
    elif request.method == "POST" and form.is_valid():
        uploaded = form.cleaned_data["file"]
        try:
            with uploaded.open("rb") as stream:
                extract = extract_receive(
                    dataset=dataset,
                    uploaded_by=request.user,
                    stream=stream,
                    filename=uploaded.name,
                    mode=form.cleaned_data["mode"],
                    channel=ExtractChannel.WEB,
                )
        except ExtractFileError as error:
            form.add_error("file", str(error))
        else:
            return redirect("agencies:extract_detail", pk=extract.pk)
    return render(
        request,
        "agencies/extract_upload.html",
        {
            "dataset": dataset,
            "form": form,
            "threshold": f"{settings.SHAREHUB_QUARANTINE_THRESHOLD:.0%}",
        },
        status=400 if form.errors else 200,
    )


@role_required(Role.AGENCY_ADMIN)
def extract_detail(request: MemberRequest, pk: int) -> HttpResponse:
    extract = own_extract(request, pk)
    set_aside = extract_set_aside_reasons(extract) if extract.is_finished else []
    return render(
        request,
        "agencies/extract_detail.html",
        {
            "extract": extract,
            "repair_lines": extract_repair_lines(extract),
            "contact_lines": extract_contact_lines(extract),
            "free_text_line": extract_free_text_line(extract),
            "set_aside": set_aside,
            "set_aside_rows_shown": len({line["row"] for line in set_aside}),
        },
    )


@role_required(Role.AGENCY_ADMIN)
def extract_progress(request: MemberRequest, pk: int) -> JsonResponse:
    extract = own_extract(request, pk)
    return JsonResponse(extract_progress_data(extract))


@role_required(Role.AGENCY_ADMIN)
def extract_quarantine_download(request: MemberRequest, pk: int) -> StreamingHttpResponse:
    extract = own_extract(request, pk)
    return quarantine_csv_response(extract)


@role_required(Role.AGENCY_ADMIN)
def extract_warnings_download(request: MemberRequest, pk: int) -> StreamingHttpResponse:
    extract = own_extract(request, pk)
    return warnings_csv_response(extract)


@role_required(Role.AGENCY_ADMIN)
def api_tokens(request: MemberRequest) -> HttpResponse:
    """The agency's API tokens; a new one is shown once, right after it is made."""
    agency = request.membership.own_agency
    form = ApiTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        _, new_token = api_token_create(
            agency=agency,
            name=form.cleaned_data["name"],
            created_by=request.user,
            days=form.cleaned_data["days"],
        )
        form = ApiTokenForm()
    response = render(
        request,
        "agencies/api_tokens.html",
        {
            "agency": agency,
            "form": form,
            "new_token": new_token,
            "tokens": ApiToken.objects.filter(agency=agency).select_related("created_by"),
            "now": timezone.now(),
        },
        status=400 if form.errors else 200,
    )
    response["Cache-Control"] = "no-store"
    return response


@role_required(Role.AGENCY_ADMIN)
@require_POST
def api_token_revoke_view(request: MemberRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, agency=request.membership.agency)
    api_token_revoke(token=token)
    messages.success(request, f"The token {token.name} is revoked. It stopped working at once.")
    return redirect("agencies:api_tokens")
