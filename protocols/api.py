"""REST API for protocols (IG officers) and for search and case summaries (practitioners).

Signed-in sessions only: agency API tokens are for agencies' systems to upload, and must not read
person data. A person the caller's protocols do not cover answers 404, as on the pages.
"""

from django.contrib.auth.models import Group
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from accounts.models import User
from agencies.models import Role
from core.api import DOCUMENT, SessionAPIView, answers, declared, no_store
from core.purpose import Purpose, api_purpose
from matching.search import SearchError, SearchQuery
from protocols.diff import comparison_base, version_diff
from protocols.fields import dataset_catalogue
from protocols.models import (
    DEFAULT_OVERRIDE_HOURS,
    MAX_OVERRIDE_HOURS,
    ConsentFromOthers,
    Protocol,
    ProtocolVersion,
)
from protocols.search import person_search
from protocols.selectors import protocols_for_ig
from protocols.services import (
    TIER_KEYS,
    TIER_NAMES,
    ProtocolError,
    ProtocolInput,
    RuleInput,
    protocol_assign,
    protocol_draft_create,
    protocol_draft_update,
    protocol_holders,
    protocol_resume,
    protocol_revise,
    protocol_suspend,
    protocol_unassign,
)
from protocols.summary import (
    PersonHidden,
    UnlockError,
    case_summary,
    case_unlock,
    person_by_reference,
    summary_json,
)
from protocols.views import READERS, VERSION_ACTIONS, version_action_run
from sharehub_bridge.normalise import date_parse


def _problems_response(error: ProtocolError) -> Response:
    return Response(
        {key or "non_field_errors": messages for key, messages in error.problems.items()},
        status=status.HTTP_400_BAD_REQUEST,
    )


def version_json(version: ProtocolVersion) -> dict:
    return {
        "protocol": version.protocol.reference,
        "number": version.number,
        "status": version.status,
        "status_label": version.status_label_on(timezone.localdate()),
        "name": version.name,
        "purpose": version.purpose,
        "purpose_detail": version.purpose_detail,
        "lawful_basis": version.lawful_basis,
        "legal_gateway": version.legal_gateway,
        "dpia_reference": version.dpia_reference,
        "parties": [a.code for a in version.parties.order_by("code")],
        "roles": version.roles,
        "valid_from": version.valid_from,
        "valid_to": version.valid_to,
        "staged": version.staged,
        "override_max_hours": version.override_max_hours,
        "override_default_hours": version.override_default_hours,
        "consent_from_others": version.consent_from_others,
        "author": version.author.get_full_name(),
        "submitted_at": version.submitted_at,
        "approved_at": version.approved_at,
        "approvals": [
            {"agency": a.agency.code, "by": a.approved_by.get_full_name(), "at": a.approved_at}
            for a in version.approvals.select_related("agency", "approved_by")
        ],
        "rules": [
            {
                "dataset": rule.dataset_id,
                "dataset_name": rule.dataset.name,
                "agency": rule.dataset.agency.code,
                "tier": TIER_KEYS[rule.tier],
                "fields": rule.fields,
                "consent": rule.consent,
                "lookback_days": rule.lookback_days,
            }
            for rule in version.rules.select_related("dataset__agency")
        ],
    }


class RuleSerializer(serializers.Serializer):
    dataset = serializers.IntegerField()
    tier = serializers.ChoiceField(choices=list(TIER_NAMES))
    fields = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    consent = serializers.CharField(required=False, default="none")
    lookback_days = serializers.IntegerField(required=False, allow_null=True, default=None)


class ProtocolInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    purpose = serializers.ChoiceField(choices=Purpose.values)
    purpose_detail = serializers.CharField(required=False, allow_blank=True, default="")
    lawful_basis = serializers.CharField(max_length=300)
    legal_gateway = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=300
    )
    dpia_reference = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100
    )
    parties = serializers.ListField(child=serializers.CharField(), min_length=2)
    roles = serializers.ListField(
        child=serializers.CharField(), required=False, default=["practitioner"]
    )
    valid_from = serializers.CharField()
    valid_to = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, default=None
    )
    staged = serializers.BooleanField(required=False, default=False)
    override_max_hours = serializers.IntegerField(
        required=False, default=DEFAULT_OVERRIDE_HOURS, min_value=1, max_value=MAX_OVERRIDE_HOURS
    )
    override_default_hours = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=MAX_OVERRIDE_HOURS,
        help_text="The length the override form offers at first, at most override_max_hours; "
        "24 when left out, or override_max_hours if that is shorter.",
    )
    # How consent recorded by one agency about another's records takes effect; by default, once
    # the owning agency confirms it.
    consent_from_others = serializers.ChoiceField(
        choices=ConsentFromOthers.values,
        required=False,
        default=ConsentFromOthers.OWNER_CONFIRMS,
    )
    change_note = serializers.CharField(required=False, allow_blank=True, default="")
    rules = RuleSerializer(many=True)

    def validate_valid_from(self, value):
        parsed = date_parse(value)
        if parsed is None:
            raise serializers.ValidationError("Send the start date as YYYY-MM-DD.")
        return parsed

    def validate_valid_to(self, value):
        if not value:
            return None
        parsed = date_parse(value)
        if parsed is None:
            raise serializers.ValidationError("Send the end date as YYYY-MM-DD, or null.")
        return parsed

    def validate_parties(self, value):
        from agencies.models import Agency

        found = dict(Agency.objects.filter(code__in=value).values_list("code", "pk"))
        unknown = [code for code in value if code not in found]
        if unknown:
            raise serializers.ValidationError(f"No agency with code {', '.join(unknown)}.")
        return tuple(found[code] for code in value)

    def protocol_input(self) -> ProtocolInput:
        data = self.validated_data
        return ProtocolInput(
            name=data["name"],
            purpose=data["purpose"],
            purpose_detail=data["purpose_detail"],
            lawful_basis=data["lawful_basis"],
            legal_gateway=data["legal_gateway"],
            dpia_reference=data["dpia_reference"],
            party_ids=data["parties"],
            roles=tuple(data["roles"]),
            valid_from=data["valid_from"],
            valid_to=data["valid_to"],
            staged=data["staged"],
            override_max_hours=data["override_max_hours"],
            override_default_hours=data["override_default_hours"],
            consent_from_others=data["consent_from_others"],
            change_note=data["change_note"],
            rules=tuple(
                RuleInput(
                    dataset_id=rule["dataset"],
                    tier=TIER_NAMES[rule["tier"]],
                    fields=tuple(rule["fields"]),
                    consent=rule["consent"],
                    lookback_days=rule["lookback_days"],
                )
                for rule in data["rules"]
            ),
        )


class IGView(SessionAPIView):
    roles = (Role.IG_OFFICER,)


class ProtocolListAPI(IGView):
    @extend_schema(responses=answers({200: DOCUMENT}))
    def get(self, request):
        rows = protocols_for_ig(request._request.membership.agency)
        return Response(
            [
                {
                    "reference": row["protocol"].reference,
                    "name": row["latest"].name,
                    "latest_version": row["latest"].number,
                    "latest_status": row["latest"].status,
                    "live_version": row["live"].number if row["live"] else None,
                    "live_status": row["live"].status_label_on(timezone.localdate())
                    if row["live"]
                    else None,
                    "your_agency_is_party": row["is_party"],
                }
                for row in rows
            ]
        )

    @extend_schema(
        request=ProtocolInputSerializer, responses=answers({201: DOCUMENT}, problems=True)
    )
    def post(self, request):
        serializer = ProtocolInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            version = protocol_draft_create(
                membership=request._request.membership, data=serializer.protocol_input()
            )
        except ProtocolError as error:
            return _problems_response(error)
        return Response(version_json(version), status=status.HTTP_201_CREATED)


class VersionAPI(IGView):
    @extend_schema(responses=answers({200: DOCUMENT}))
    def get(self, request, reference, number):
        version = get_object_or_404(ProtocolVersion, protocol__reference=reference, number=number)
        data = version_json(version)
        previous = version.protocol.versions.filter(number__lt=number).order_by("-number").first()
        data["changes_from_previous"] = (
            [
                {"what": c.what, "before": c.before, "after": c.after}
                for c in version_diff(previous, version)
            ]
            if previous
            else None
        )
        # What the changes page shows (protocols.diff.comparison_base): a draft or submitted
        # version against the version in force, which approving it replaces. The key above
        # stays as it was for clients that read it.
        base = comparison_base(version)
        data["changes"] = (
            {
                "compared_with": base.version.number,
                "compared_with_in_force": base.in_force,
                "changes": [
                    {"what": c.what, "before": c.before, "after": c.after}
                    for c in version_diff(base.version, version)
                ],
            }
            if base
            else None
        )
        return Response(data)

    @extend_schema(
        request=ProtocolInputSerializer, responses=answers({200: DOCUMENT}, problems=True)
    )
    def put(self, request, reference, number):
        version = get_object_or_404(ProtocolVersion, protocol__reference=reference, number=number)
        serializer = ProtocolInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            version = protocol_draft_update(
                membership=request._request.membership,
                version=version,
                data=serializer.protocol_input(),
            )
        except ProtocolError as error:
            return _problems_response(error)
        return Response(version_json(version))


class VersionActionAPI(IGView):
    @extend_schema(request=DOCUMENT, responses=answers({200: DOCUMENT}, problems=True))
    def post(self, request, reference, number, action):
        version = get_object_or_404(ProtocolVersion, protocol__reference=reference, number=number)
        if action not in VERSION_ACTIONS:
            raise Http404("No such action.")
        note = request.data.get("note", "") if hasattr(request.data, "get") else ""
        try:
            result, _ = version_action_run(
                request._request.membership, version, action, str(note or "")
            )
        except ProtocolError as error:
            return _problems_response(error)
        return Response(version_json(result))


class ProtocolActionAPI(IGView):
    @extend_schema(
        operation_id="protocols_action_create",
        request=DOCUMENT,
        responses=answers({200: DOCUMENT}, problems=True),
    )
    def post(self, request, reference, action):
        protocol = get_object_or_404(Protocol, reference=reference)
        membership = request._request.membership
        data = request.data if hasattr(request.data, "get") else {}
        try:
            if action == "suspend":
                result = protocol_suspend(
                    membership=membership, protocol=protocol, reason=str(data.get("reason", ""))
                )
            elif action == "resume":
                result = protocol_resume(
                    membership=membership, protocol=protocol, reason=str(data.get("reason", ""))
                )
            elif action == "revise":
                result = protocol_revise(membership=membership, protocol=protocol)
            else:
                raise Http404("No such action.")
        except ProtocolError as error:
            return _problems_response(error)
        return Response(version_json(result))


class HoldersAPI(IGView):
    @extend_schema(responses=answers({200: DOCUMENT}))
    def get(self, request, reference):
        protocol = get_object_or_404(Protocol, reference=reference)
        users, groups = protocol_holders(protocol)
        return Response(
            {"users": sorted(u.email for u in users), "groups": sorted(g.name for g in groups)}
        )

    @extend_schema(request=DOCUMENT, responses=answers({200: DOCUMENT}, problems=True))
    def post(self, request, reference):
        protocol = get_object_or_404(Protocol, reference=reference)
        data = request.data if hasattr(request.data, "get") else {}
        user: User | None = None
        group: Group | None = None
        if data.get("user"):
            user = User.objects.filter(email__iexact=str(data["user"])).first()
            if user is None:
                return Response(
                    {"user": ["Nobody with that email address uses ShareHub."]}, status=400
                )
        elif data.get("group"):
            group = Group.objects.filter(name=str(data["group"])).first()
            if group is None:
                return Response({"group": ["There is no group with that name."]}, status=400)
        else:
            return Response(
                {"non_field_errors": ["Send user (an email address) or group."]}, status=400
            )
        membership = request._request.membership
        try:
            if data.get("remove"):
                protocol_unassign(membership=membership, protocol=protocol, user=user, group=group)
            else:
                protocol_assign(membership=membership, protocol=protocol, user=user, group=group)
        except ProtocolError as error:
            return _problems_response(error)
        return self.get(request, reference)


class DatasetFieldsAPI(IGView):
    """The field keys a rule can name for a dataset."""

    @extend_schema(responses=answers({200: DOCUMENT}))
    def get(self, request, pk):
        from agencies.models import Dataset

        dataset = get_object_or_404(Dataset, pk=pk)
        return Response(
            [{"key": f.key, "label": f.label, "type": f.type} for f in dataset_catalogue(dataset)]
        )


# --- Practitioners ----------------------------------------------------------------------------


class ReaderView(SessionAPIView):
    roles = READERS


class SearchInputSerializer(serializers.Serializer):
    forename = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    surname = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    date_of_birth = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=30
    )
    postcode = serializers.CharField(required=False, allow_blank=True, default="", max_length=12)
    identifier = serializers.CharField(required=False, allow_blank=True, default="", max_length=30)
    purpose = serializers.ChoiceField(
        choices=Purpose.values, required=False, default=Purpose.SAFEGUARDING
    )


class SearchAPI(ReaderView):
    # The same per-user limit as the web search (settings: DEFAULT_THROTTLE_RATES).
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "search"

    @extend_schema(request=SearchInputSerializer, responses=answers({200: DOCUMENT}, problems=True))
    def post(self, request):
        serializer = SearchInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        purpose = data.pop("purpose")
        try:
            results, _ = person_search(
                user=request.user,
                membership=request._request.membership,
                query=SearchQuery(**data),
                purpose=purpose,
                now=timezone.now(),
                channel="api",
            )
        except SearchError as error:
            return Response(
                {key or "non_field_errors": [message] for key, message in error.problems.items()},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return no_store(
            {
                "results": [
                    {
                        "reference": r.person.reference,
                        "name": r.view.name or None,
                        "date_of_birth": r.view.date_of_birth or None,
                        "known_to": sorted({i.agency.code for i in r.view.involvements}),
                        # A band, never the score: a number would move with details withheld.
                        "match": r.band,
                    }
                    for r in results
                ],
                # More people the caller may see matched than the closest shown: narrow it.
                "capped": results.capped,
                "limit": results.limit,
            }
        )


class SummaryAPI(ReaderView):
    @extend_schema(responses=answers({200: DOCUMENT}, problems=True))
    def get(self, request, reference):
        purpose = api_purpose(request)
        person = person_by_reference(reference)
        if person is None or person.reference != reference:
            # A merged person's old reference: say where it went only if the caller may see it.
            raise Http404("No such person.")
        found = case_summary(
            user=request.user,
            membership=request._request.membership,
            person=person,
            purpose=purpose,
            channel="api",
        )
        if found is None:
            raise Http404("No such person.")
        return no_store(summary_json(found))


class UnlockAPI(ReaderView):
    @extend_schema(
        request=DOCUMENT, responses=answers({200: DOCUMENT, 201: DOCUMENT}, problems=True)
    )
    def post(self, request, reference):
        purpose = api_purpose(request)
        person = person_by_reference(reference)
        if person is None or person.reference != reference:
            raise Http404("No such person.")
        step = request.data.get("step", "") if hasattr(request.data, "get") else ""
        try:
            created = case_unlock(
                user=request.user,
                membership=request._request.membership,
                person=person,
                step=str(step),
                purpose=purpose,
                channel="api",
            )
        except PersonHidden:
            raise Http404("No such person.") from None
        except UnlockError as error:
            return Response({"step": [str(error)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"recorded": created}, status=status.HTTP_201_CREATED if created else 200)


protocol_list = declared(ProtocolListAPI)
version_detail = declared(VersionAPI)
version_action = declared(VersionActionAPI)
protocol_action = declared(ProtocolActionAPI)
holders = declared(HoldersAPI)
dataset_fields = declared(DatasetFieldsAPI)
search = declared(SearchAPI)
summary = declared(SummaryAPI)
unlock = declared(UnlockAPI)
