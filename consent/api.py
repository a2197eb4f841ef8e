"""The consent API, for practitioners' and IG officers' own tools, signed in as themselves: agency
API tokens (which upload extracts) are refused here as on every person-data endpoint. The same
services as the pages, and the same 404s."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from agencies.models import Agency, Role
from consent.errors import AlreadyRequested, ConsentError, NotFound
from consent.models import (
    ConsentGivenBy,
    ConsentMethod,
    ConsentRecord,
    ConsentRequest,
    ConsentState,
    OverrideCategory,
    ReviewOutcome,
    SafeguardingOverride,
)
from consent.overrides import override_options, override_review, override_start
from consent.records import (
    ConsentInput,
    consent_history_read,
    consent_record,
    consent_scopes,
    consent_withdraw,
)
from consent.requests import (
    ANSWER_STATES,
    consent_request_answer,
    consent_request_create,
    withheld_for_consent,
)
from consent.selectors import (
    consent_awaiting,
    consent_request_for,
    override_for_ig,
    overrides_for_ig,
    person_or_not_found,
    requests_received,
    requests_sent,
)
from core.api import DOCUMENT, SessionAPIView, answers, declared, no_store
from core.purpose import api_purpose
from notifications.models import Notification


def _person(reference: str):
    try:
        return person_or_not_found(reference)
    except NotFound:
        raise Http404("No such person.") from None


def _choice(choices, **kwargs) -> serializers.ChoiceField:
    """A choice field whose error lists the choices and never repeats what was sent."""
    return serializers.ChoiceField(
        choices=choices,
        error_messages={"invalid_choice": f"Use one of: {', '.join(map(str, choices))}."},
        **kwargs,
    )


def _problems(error: ConsentError) -> Response:
    return Response(
        {key or "non_field_errors": [message] for key, message in error.problems.items()},
        status=status.HTTP_400_BAD_REQUEST,
    )


def _membership(request):
    return request._request.membership


def record_json(record: ConsentRecord, agencies=None) -> dict:
    """A statement; `agencies`, when given, are the ones the reader may see it names."""
    return {
        "id": record.pk,
        "state": record.state,
        "protocol": record.protocol.reference if record.protocol else None,
        "purpose": record.purpose or None,
        "agencies": sorted(
            a.code for a in (record.agencies.all() if agencies is None else agencies)
        ),
        "method": record.method or None,
        "given_by": record.given_by or None,
        "evidence_reference": record.evidence_reference or None,
        "expires_on": record.expires_on,
        "note": record.note or None,
        "recorded_by": record.recorded_by.full_name,
        "recorded_by_agency": record.recorded_by_agency.code,
        "recorded_at": record.recorded_at,
        "replaces": record.replaces_id,
        "request": record.request_id,
    }


def request_json(request: ConsentRequest) -> dict:
    return {
        "id": request.pk,
        "person": request.person.reference,
        "protocol": request.protocol.reference,
        "purpose": request.purpose,
        "owner_agency": request.owner_agency.code,
        "requester_agency": request.requester_agency.code,
        "requested_by": request.requested_by.full_name,
        "reason": request.reason,
        "status": request.status,
        "created_at": request.created_at,
        "answered_at": request.answered_at,
        "answer_note": request.answer_note or None,
    }


def override_json(override: SafeguardingOverride) -> dict:
    return {
        "id": override.pk,
        "person": override.person.reference,
        "user": override.user.full_name,
        "agency": override.agency.code,
        "protocol": override.protocol.reference,
        "version": override.version.number,
        "category": override.category,
        "justification": override.justification,
        "hours": override.hours,
        "started_at": override.started_at,
        "expires_at": override.expires_at,
        "ended_at": override.ended_at,
        "opened": override.opened,
        "review": override.review,
        "review_note": override.review_note or None,
    }


class HowSerializer(serializers.Serializer):
    method = _choice(ConsentMethod.values, required=False, allow_blank=True, default="")
    given_by = _choice(ConsentGivenBy.values, required=False, allow_blank=True, default="")
    evidence_reference = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100
    )
    expires_on = serializers.DateField(required=False, allow_null=True, default=None)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ConsentInputSerializer(HowSerializer):
    state = _choice(ConsentState.values)
    protocol = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="A protocol reference; leave out to cover every protocol of the purpose.",
    )
    agencies = serializers.ListField(child=serializers.CharField(), min_length=1)


class PersonConsentAPI(SessionAPIView):
    roles = (Role.PRACTITIONER,)

    def _scopes(self, request, person, purpose):
        try:
            return consent_scopes(
                user=request.user,
                membership=_membership(request),
                person=person,
                purpose=purpose,
                channel="api",
            )
        except NotFound:
            raise Http404("No such person.") from None

    @extend_schema(responses=answers({200: DOCUMENT}, problems=True))
    def get(self, request, reference):
        purpose = api_purpose(request)
        person = _person(reference)
        try:
            _, shown = consent_history_read(
                user=request.user,
                membership=_membership(request),
                person=person,
                purpose=purpose,
                channel="api",
            )
        except NotFound:
            raise Http404("No such person.") from None
        return no_store({"records": [record_json(s.record, s.agencies) for s in shown]})

    @extend_schema(
        request=ConsentInputSerializer, responses=answers({201: DOCUMENT}, problems=True)
    )
    def post(self, request, reference):
        purpose = api_purpose(request)
        person = _person(reference)
        scopes = self._scopes(request, person, purpose)
        serializer = ConsentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        protocols = {v.protocol.reference: v.protocol_id for v in scopes.protocols}
        if data["protocol"] and data["protocol"] not in protocols:
            return Response(
                {"protocol": ["Send the reference of a protocol you see this person under."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        agencies = dict(Agency.objects.filter(code__in=data["agencies"]).values_list("code", "pk"))
        unknown = [code for code in data["agencies"] if code not in agencies]
        if unknown:
            return Response(
                {"agencies": ["Send the codes of partner agencies, such as CSC or POL."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            record = consent_record(
                user=request.user,
                membership=_membership(request),
                person=person,
                purpose=purpose,
                data=ConsentInput(
                    state=data["state"],
                    agency_ids=tuple(agencies[code] for code in data["agencies"]),
                    protocol_id=protocols.get(data["protocol"]),
                    purpose="" if data["protocol"] else purpose,
                    method=data["method"],
                    given_by=data["given_by"],
                    evidence_reference=data["evidence_reference"],
                    expires_on=data["expires_on"],
                    note=data["note"],
                ),
                channel="api",
            )
        except NotFound:
            raise Http404("No such person.") from None
        except ConsentError as error:
            return _problems(error)
        # The agencies whose records stay withheld until their IG officers confirm it.
        awaiting = [a.code for a in consent_awaiting(record)]
        return Response(
            {**record_json(record), "awaiting_confirmation": awaiting},
            status=status.HTTP_201_CREATED,
        )


class ConsentWithdrawAPI(SessionAPIView):
    roles = (Role.PRACTITIONER,)

    @extend_schema(request=DOCUMENT, responses=answers({201: DOCUMENT}, problems=True))
    def post(self, request, reference, pk):
        purpose = api_purpose(request)
        person = _person(reference)
        note = request.data.get("note", "") if hasattr(request.data, "get") else ""
        try:
            record = consent_withdraw(
                user=request.user,
                membership=_membership(request),
                person=person,
                purpose=purpose,
                record_id=pk,
                note=str(note),
                channel="api",
            )
        except NotFound:
            raise Http404("No such consent record.") from None
        except ConsentError as error:
            return _problems(error)
        return Response(record_json(record), status=status.HTTP_201_CREATED)


class RequestInputSerializer(serializers.Serializer):
    dataset = serializers.IntegerField(help_text="The withheld dataset's id, from the summary.")
    reason = serializers.CharField(max_length=2000)


class PersonRequestAPI(SessionAPIView):
    roles = (Role.PRACTITIONER,)

    @extend_schema(
        request=RequestInputSerializer, responses=answers({201: DOCUMENT}, problems=True)
    )
    def post(self, request, reference):
        purpose = api_purpose(request)
        person = _person(reference)
        # Whether the caller may see the person is answered before their input is read: a 400
        # for a hidden person would tell them the reference exists.
        try:
            withheld_for_consent(
                user=request.user,
                membership=_membership(request),
                person=person,
                purpose=purpose,
                dataset_id=None,
                channel="api",
            )
        except NotFound:
            raise Http404("No such person.") from None
        serializer = RequestInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            created = consent_request_create(
                user=request.user,
                membership=_membership(request),
                person=person,
                purpose=purpose,
                dataset_id=serializer.validated_data["dataset"],
                reason=serializer.validated_data["reason"],
                channel="api",
            )
        except NotFound:
            raise Http404("No such person.") from None
        except AlreadyRequested as error:
            # The open request the caller's agency already sent: what to follow instead.
            refused = _problems(error)
            refused.data["existing_request"] = error.existing.pk
            return refused
        except ConsentError as error:
            return _problems(error)
        return Response(request_json(created), status=status.HTTP_201_CREATED)


class RequestListAPI(SessionAPIView):
    roles = (Role.PRACTITIONER, Role.IG_OFFICER)

    @extend_schema(responses=answers({200: DOCUMENT}))
    def get(self, request):
        return no_store(
            {
                "received": [
                    request_json(r) for r in requests_received(_membership(request))[:200]
                ],
                "sent": [request_json(r) for r in requests_sent(request.user)[:200]],
            }
        )


class AnswerSerializer(HowSerializer):
    outcome = _choice(list(ANSWER_STATES))


class RequestAnswerAPI(SessionAPIView):
    roles = (Role.PRACTITIONER, Role.IG_OFFICER)

    @extend_schema(request=AnswerSerializer, responses=answers({200: DOCUMENT}, problems=True))
    def post(self, request, pk):
        try:
            consent_request_for(user=request.user, membership=_membership(request), request_id=pk)
        except NotFound:
            raise Http404("No such request.") from None
        serializer = AnswerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            answered = consent_request_answer(
                user=request.user,
                membership=_membership(request),
                request_id=pk,
                **serializer.validated_data,
            )
        except NotFound:
            raise Http404("No such request.") from None
        except ConsentError as error:
            return _problems(error)
        return Response(request_json(answered))


class OverrideInputSerializer(serializers.Serializer):
    protocol = serializers.CharField(help_text="The protocol reference.")
    category = _choice(OverrideCategory.values)
    justification = serializers.CharField(max_length=2000)
    hours = serializers.IntegerField(min_value=1)


class PersonOverrideAPI(SessionAPIView):
    roles = (Role.PRACTITIONER,)

    @extend_schema(
        request=OverrideInputSerializer, responses=answers({201: DOCUMENT}, problems=True)
    )
    def post(self, request, reference):
        from protocols.models import Protocol

        person = _person(reference)
        # As for requests: 404 for a hidden person before the input is read.
        try:
            override_options(
                user=request.user, membership=_membership(request), person=person, channel="api"
            )
        except NotFound:
            raise Http404("No such person.") from None
        serializer = OverrideInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        protocol = Protocol.objects.filter(reference=data["protocol"]).first()
        try:
            override = override_start(
                user=request.user,
                membership=_membership(request),
                person=person,
                # An unknown reference is answered like a protocol that allows no override.
                protocol_id=protocol.pk if protocol else 0,
                category=data["category"],
                justification=data["justification"],
                hours=data["hours"],
                channel="api",
            )
        except NotFound:
            raise Http404("No such person.") from None
        except ConsentError as error:
            return _problems(error)
        return Response(override_json(override), status=status.HTTP_201_CREATED)


class OverrideListAPI(SessionAPIView):
    roles = (Role.IG_OFFICER,)

    @extend_schema(responses=answers({200: DOCUMENT}, problems=True))
    def get(self, request):
        found = overrides_for_ig(_membership(request))
        review = request.query_params.get("review")
        if review:
            if review not in ReviewOutcome.values:
                return Response(
                    {"review": [f"Use one of: {', '.join(ReviewOutcome.values)}."]},
                    status=status.HTTP_400_BAD_REQUEST,
                )
            found = found.filter(review=review)
        return no_store({"overrides": [override_json(o) for o in found[:200]]})


class ReviewSerializer(serializers.Serializer):
    outcome = _choice([ReviewOutcome.JUSTIFIED.value, ReviewOutcome.NOT_JUSTIFIED.value])
    note = serializers.CharField(max_length=2000)


class OverrideReviewAPI(SessionAPIView):
    roles = (Role.IG_OFFICER,)

    @extend_schema(request=ReviewSerializer, responses=answers({200: DOCUMENT}, problems=True))
    def post(self, request, pk):
        try:
            override_for_ig(membership=_membership(request), override_id=pk)
        except NotFound:
            raise Http404("No such override.") from None
        serializer = ReviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            override = override_review(
                user=request.user,
                membership=_membership(request),
                override_id=pk,
                outcome=serializer.validated_data["outcome"],
                note=serializer.validated_data["note"],
            )
        except NotFound:
            raise Http404("No such override.") from None
        except ConsentError as error:
            return _problems(error)
        return Response(override_json(override))


class NotificationListAPI(SessionAPIView):
    roles = tuple(Role.values)

    @extend_schema(responses=answers({200: DOCUMENT}))
    def get(self, request):
        found = Notification.objects.filter(recipient=request.user)
        if request.query_params.get("unread") in ("1", "true"):
            found = found.filter(read_at__isnull=True)
        return no_store(
            {
                "notifications": [
                    {
                        "id": n.pk,
                        "kind": n.kind,
                        "message": n.message,
                        "link": n.link,
                        "created_at": n.created_at,
                        "read": n.is_read,
                    }
                    for n in found[:200]
                ]
            }
        )


person_consent = declared(PersonConsentAPI)
consent_withdrawal = declared(ConsentWithdrawAPI)
person_request = declared(PersonRequestAPI)
request_list = declared(RequestListAPI)
request_answer = declared(RequestAnswerAPI)
person_override = declared(PersonOverrideAPI)
override_list = declared(OverrideListAPI)
override_review_api = declared(OverrideReviewAPI)
notification_list = declared(NotificationListAPI)
