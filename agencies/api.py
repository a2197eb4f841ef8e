"""The REST API for agencies' systems: datasets, uploads and extract status.

Every view acts for exactly one agency: the API token's, or for a signed-in agency admin the
agency they are acting in. Objects of any other agency answer 404, as if they did not exist.
"""

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.parsers import BaseParser, FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from agencies.downloads import quarantine_csv_response
from agencies.ingest.receive import extract_receive
from agencies.models import (
    Agency,
    ApiToken,
    Dataset,
    Extract,
    ExtractChannel,
    ExtractMode,
    Role,
    SealedUpload,
)
from agencies.quality import dataset_quality
from agencies.sealed_uploads import (
    ChunkConflict,
    SealedUploadError,
    sealed_upload_chunk_put,
    sealed_upload_complete,
    sealed_upload_create,
)
from agencies.selectors import agency_datasets, dataset_extract_history, extract_progress_data
from agencies.services import dataset_define
from core.access import api_roles
from core.api import CSV, DETAIL, DOCUMENT, answers
from core.keys import ingest_public_key
from sharehub_bridge.definitions import IDENTIFIER_FIELDS, DefinitionError, definition_parse
from sharehub_bridge.envelope import ALGORITHM, b64encode
from sharehub_bridge.readers import ExtractFileError


def acting_agency(request) -> Agency:
    if isinstance(request.auth, ApiToken):
        return request.auth.agency
    membership = getattr(request._request, "membership", None)
    if membership is not None and membership.role == Role.AGENCY_ADMIN:
        return membership.agency
    raise PermissionDenied("Use an agency API token, or sign in as an agency admin.")


class ActsForAnAgency(BasePermission):
    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        acting_agency(request)
        return True


class AgencyAPIView(APIView):
    permission_classes = [ActsForAnAgency]

    def agency(self) -> Agency:
        return acting_agency(self.request)

    def own_dataset(self, pk: int) -> Dataset:
        return get_object_or_404(Dataset, pk=pk, agency=self.agency())


class DatasetSerializer(serializers.ModelSerializer):
    version = serializers.SerializerMethodField()
    set_aside_limit = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = ["id", "name", "created_at", "version", "set_aside_limit"]

    def get_set_aside_limit(self, dataset) -> float:
        """The share of an extract's rows that may be set aside before none is loaded: the
        bridge checks it before sending a file ShareHub would refuse."""
        return settings.SHAREHUB_QUARANTINE_THRESHOLD

    def get_version(self, dataset) -> dict | None:
        version = dataset.current_version
        if version is None:
            return None
        return {
            "number": version.number,
            "source_id_column": version.source_id_column,
            "event_date_column": version.event_date_column or None,
            "columns": version.columns,
            "created_at": version.created_at,
        }


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    mode = serializers.ChoiceField(choices=ExtractMode.values, default=ExtractMode.INCREMENTAL)


class DatasetListAPI(AgencyAPIView):
    parser_classes = [JSONParser]

    @extend_schema(responses=answers({200: DatasetSerializer(many=True)}))
    def get(self, request):
        datasets = agency_datasets(self.agency()).prefetch_related("versions")
        return Response(DatasetSerializer(datasets, many=True).data)

    @extend_schema(request=DOCUMENT, responses=answers({201: DatasetSerializer}, problems=True))
    def post(self, request):
        """Create a dataset, or a new version of the one with this name (format in the README)."""
        try:
            definition = definition_parse(request.data)
        except DefinitionError as error:
            raise ValidationError({"problems": error.problems}) from error
        version = dataset_define(
            agency=self.agency(), definition=definition, created_by=request.user
        )
        return Response(DatasetSerializer(version.dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailAPI(AgencyAPIView):
    @extend_schema(responses=answers({200: DatasetSerializer}))
    def get(self, request, pk: int):
        return Response(DatasetSerializer(self.own_dataset(pk)).data)


class DatasetExtractsAPI(AgencyAPIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=answers({200: DOCUMENT}))
    def get(self, request, pk: int):
        extracts = dataset_extract_history(self.own_dataset(pk))[:200]
        return Response([extract_progress_data(e, with_reasons=False) for e in extracts])

    @extend_schema(request=UploadSerializer, responses=answers({202: DOCUMENT}, problems=True))
    def post(self, request, pk: int):
        """Upload an extract (multipart: `file`, and `mode` full or incremental)."""
        dataset = self.own_dataset(pk)
        request.data  # noqa: B018 - parse the body first: the size-limit handler runs then
        if refusal := getattr(request._request, "upload_refusal", ""):
            raise ValidationError({"file": [refusal]})
        upload = UploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        uploaded = upload.validated_data["file"]
        try:
            with uploaded.open("rb") as stream:
                extract = extract_receive(
                    dataset=dataset,
                    uploaded_by=request.user,
                    stream=stream,
                    filename=uploaded.name,
                    mode=upload.validated_data["mode"],
                    channel=ExtractChannel.API,
                )
        except ExtractFileError as error:
            raise ValidationError({"file": [str(error)]}) from error
        extract.refresh_from_db()
        return Response(extract_progress_data(extract), status=status.HTTP_202_ACCEPTED)


class ExtractDetailAPI(AgencyAPIView):
    @extend_schema(responses=answers({200: DOCUMENT}))
    def get(self, request, pk: int):
        extract = get_object_or_404(
            Extract.objects.select_related("version"), pk=pk, dataset__agency=self.agency()
        )
        return Response(extract_progress_data(extract))


class QualityIdentifierSerializer(serializers.Serializer):
    identifier = serializers.ChoiceField(choices=list(IDENTIFIER_FIELDS))
    label = serializers.CharField()
    rule = serializers.CharField(
        allow_null=True, help_text="What a valid value is; null when any value counts."
    )


class IdentifierQualitySerializer(serializers.Serializer):
    identifier = serializers.ChoiceField(choices=list(IDENTIFIER_FIELDS))
    present = serializers.IntegerField(help_text="Rows loaded that had a value.")
    complete_percent = serializers.FloatField(
        allow_null=True, help_text="present as a share of the rows measured, in per cent."
    )
    valid = serializers.IntegerField(
        allow_null=True, help_text="Values passing the rule; null when the identifier has none."
    )
    valid_percent = serializers.FloatField(
        allow_null=True, help_text="valid as a share of present, in per cent."
    )


class QualityRepairsSerializer(serializers.Serializer):
    date_of_birth_repaired = serializers.IntegerField(help_text="Day and month swapped, OCR.")
    date_of_birth_kept_in_part = serializers.IntegerField(help_text="Month and year, or year.")
    date_of_birth_left_out = serializers.IntegerField(help_text="Could not be read at all.")
    nhs_number_check_digit = serializers.IntegerField()
    contacts_left_out = serializers.IntegerField()


class QualityLinkedSerializer(serializers.Serializer):
    records = serializers.IntegerField(help_text="The dataset's current records.")
    linked = serializers.IntegerField(
        help_text="Of those, linked to a current record of another agency, to the nearest 10."
    )
    linked_percent = serializers.FloatField(allow_null=True)


class ExtractQualitySerializer(serializers.Serializer):
    extract = serializers.IntegerField()
    label = serializers.CharField()
    uploaded_at = serializers.DateTimeField()
    mode = serializers.ChoiceField(choices=ExtractMode.values)
    rows_loaded = serializers.IntegerField()
    measured = serializers.BooleanField(
        help_text="False for an extract loaded before data quality was counted."
    )
    rows_measured = serializers.IntegerField(allow_null=True)
    identifiers = IdentifierQualitySerializer(many=True, allow_null=True)
    repairs = QualityRepairsSerializer(allow_null=True)
    linked = QualityLinkedSerializer(
        allow_null=True, help_text="Null until the linkage after the extract has finished."
    )


class DatasetQualitySerializer(serializers.Serializer):
    dataset = serializers.IntegerField()
    identifiers = QualityIdentifierSerializer(many=True)
    extracts = ExtractQualitySerializer(many=True, help_text="Latest loaded, oldest first.")


class DatasetQualityAPI(AgencyAPIView):
    @extend_schema(responses=answers({200: DatasetQualitySerializer}))
    def get(self, request, pk: int):
        """The dataset's data quality across its latest loaded extracts: counts and shares of
        rows and values, never a value."""
        quality = dataset_quality(self.own_dataset(pk))
        return Response(DatasetQualitySerializer(quality).data)


class ExtractQuarantineAPI(AgencyAPIView):
    @extend_schema(responses=answers({(200, "text/csv"): CSV}))
    def get(self, request, pk: int):
        extract = get_object_or_404(Extract, pk=pk, dataset__agency=self.agency())
        if not extract.is_finished:
            raise NotFound("The extract is still being processed.")
        return quarantine_csv_response(extract)


# --- The IG bridge channel (bridge/PROTOCOL.md) ---------------------------------------------------


class IngestKeySerializer(serializers.Serializer):
    key_version = serializers.IntegerField()
    public_key = serializers.CharField(help_text="Base64 of the 32-byte X25519 public key.")
    algorithm = serializers.CharField()


class IngestKeyAPI(AgencyAPIView):
    @extend_schema(responses=answers({200: IngestKeySerializer}))
    def get(self, request):
        """The ingest public key the IG bridge seals identities to (the current one)."""
        version, public_key = ingest_public_key()
        return Response(
            {"key_version": version, "public_key": b64encode(public_key), "algorithm": ALGORITHM}
        )


SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"


class SealedUploadCreateSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=ExtractMode.values)
    filename = serializers.CharField(max_length=255)
    file_sha256 = serializers.RegexField(SHA256_PATTERN, max_length=64, min_length=64)
    definition_version = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    size = serializers.IntegerField(min_value=1, max_value=2**62)
    sha256 = serializers.RegexField(SHA256_PATTERN, max_length=64, min_length=64)


class SealedUploadSerializer(serializers.ModelSerializer):
    chunks = serializers.IntegerField(source="chunk_count", read_only=True)
    received = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    extract = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = SealedUpload
        fields = ["id", "chunk_bytes", "chunks", "received", "status", "extract", "expires_at"]


class SealedUploadsAPI(AgencyAPIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=SealedUploadCreateSerializer,
        responses=answers({201: SealedUploadSerializer}, problems=True),
    )
    def post(self, request, pk: int):
        """Open a sealed upload from the IG bridge; its chunks follow (bridge/PROTOCOL.md)."""
        dataset = self.own_dataset(pk)
        form = SealedUploadCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            upload = sealed_upload_create(
                dataset=dataset,
                uploaded_by=request.user,
                mode=data["mode"],
                filename=data["filename"],
                file_sha256=data["file_sha256"],
                definition_version=data["definition_version"],
                size=data["size"],
                sha256=data["sha256"],
            )
        except SealedUploadError as error:
            raise ValidationError({"detail": str(error)}) from error
        return Response(SealedUploadSerializer(upload).data, status=status.HTTP_201_CREATED)


class ChunkParser(BaseParser):
    """A chunk's raw bytes, read no further than one chunk and a byte (the rest is refused)."""

    media_type = "application/octet-stream"

    def parse(self, stream, media_type=None, parser_context=None):
        if stream is None:
            return b""
        return stream.read(settings.SHAREHUB_SEALED_CHUNK_BYTES + 1)


class SealedUploadMixin:
    def own_upload(self, upload_id) -> SealedUpload:
        return get_object_or_404(
            SealedUpload,
            pk=upload_id,
            dataset__agency=self.agency(),  # type: ignore[attr-defined]
        )


class SealedUploadDetailAPI(SealedUploadMixin, AgencyAPIView):
    @extend_schema(responses=answers({200: SealedUploadSerializer}))
    def get(self, request, upload_id):
        """The upload as it stands: `received` lists the chunks held, what a resumed push skips."""
        return Response(SealedUploadSerializer(self.own_upload(upload_id)).data)


class SealedUploadChunkAPI(SealedUploadMixin, AgencyAPIView):
    parser_classes = [ChunkParser]

    @extend_schema(
        request={"application/octet-stream": OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter(
                "X-Chunk-SHA256",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="Hex SHA-256 of the chunk's bytes.",
            )
        ],
        responses=answers(
            {
                200: OpenApiTypes.OBJECT,
                409: DETAIL,
                413: DETAIL,
                415: DETAIL,
            },
            problems=True,
        ),
    )
    def put(self, request, upload_id, index: int):
        """One chunk of a sealed upload, at its index (from 0); sending it again is harmless."""
        upload = self.own_upload(upload_id)
        data = request.data if isinstance(request.data, bytes) else b""
        try:
            sealed_upload_chunk_put(
                upload_id=upload.pk,
                index=index,
                data=data,
                sha256=request.headers.get("X-Chunk-SHA256", ""),
            )
        except ChunkConflict as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        except SealedUploadError as error:
            raise ValidationError({"detail": str(error)}) from error
        return Response({"index": index, "received": True})


class SealedUploadCompleteAPI(SealedUploadMixin, AgencyAPIView):
    parser_classes = [JSONParser]

    @extend_schema(request=None, responses=answers({202: SealedUploadSerializer}, problems=True))
    def post(self, request, upload_id):
        """Check the whole file and queue it for ingestion; answers the extract it became."""
        upload = self.own_upload(upload_id)
        try:
            upload = sealed_upload_complete(upload_id=upload.pk)
        except SealedUploadError as error:
            raise ValidationError({"detail": str(error)}) from error
        return Response(SealedUploadSerializer(upload).data, status=status.HTTP_202_ACCEPTED)


dataset_list = api_roles(Role.AGENCY_ADMIN)(DatasetListAPI.as_view())
dataset_detail = api_roles(Role.AGENCY_ADMIN)(DatasetDetailAPI.as_view())
dataset_extracts = api_roles(Role.AGENCY_ADMIN)(DatasetExtractsAPI.as_view())
extract_detail = api_roles(Role.AGENCY_ADMIN)(ExtractDetailAPI.as_view())
extract_quarantine = api_roles(Role.AGENCY_ADMIN)(ExtractQuarantineAPI.as_view())
ingest_key = api_roles(Role.AGENCY_ADMIN)(IngestKeyAPI.as_view())
sealed_uploads = api_roles(Role.AGENCY_ADMIN)(SealedUploadsAPI.as_view())
sealed_upload_detail = api_roles(Role.AGENCY_ADMIN)(SealedUploadDetailAPI.as_view())
sealed_upload_chunk = api_roles(Role.AGENCY_ADMIN)(SealedUploadChunkAPI.as_view())
sealed_upload_complete_view = api_roles(Role.AGENCY_ADMIN)(SealedUploadCompleteAPI.as_view())
dataset_quality_api = api_roles(Role.AGENCY_ADMIN)(DatasetQualityAPI.as_view())
