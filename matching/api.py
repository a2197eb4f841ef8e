"""REST API for link review, person explanations and the linked export (signed-in sessions).

Agency API tokens are refused here: they exist for an agency's systems to upload extracts, and a
token must not carry its maker's review permission or role to a machine.
"""

from dataclasses import asdict
from datetime import date

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from agencies.models import Role
from core.api import CSV, DOCUMENT, SessionAPIView, answers, declared
from matching import views as pages
from matching.challenges import item_reports, reported_record_id
from matching.explain import person_explain
from matching.export import EXPORT_PURPOSES, ExportError, ExportRefused, linkage_export_start
from matching.models import ReviewDecision, ReviewItem
from matching.review import (
    DECISIONS,
    NOTE_MAX_LENGTH,
    REVIEW_PERMISSION,
    ReviewError,
    explain_read_audit,
    identifier_comparison,
    review_decide,
    review_history,
    review_item_get,
    review_item_readable,
    review_item_sides,
    review_queue,
    review_read_audit,
    review_reasons,
)

# --- Serializers ----------------------------------------------------------------------------------


class DecisionInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(
        choices=DECISIONS,
        error_messages={
            "required": "Send decision: confirmed (the same person) or rejected (different "
            "people).",
            "invalid_choice": '"{input}" is not a decision. Send confirmed (the same person) or '
            "rejected (different people).",
        },
    )
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=NOTE_MAX_LENGTH,
        error_messages={
            "max_length": f"Shorten the note to {NOTE_MAX_LENGTH:,} characters or fewer.",
            "invalid": "Send the note as text.",
        },
    )


def _record_brief(record) -> dict:
    return {
        "agency_code": record.dataset.agency.code,
        "dataset": record.dataset.name,
        "source_id": record.source_id,
    }


def _reported_on(item: ReviewItem):
    """The day a practitioner's report on the pair began waiting, or None: the day only, as the
    reviewer is shown it, so the report cannot be matched to its audit entry by the time."""
    return timezone.localdate(item.reported_at) if item.reported_at is not None else None


class ReviewItemSerializer(serializers.ModelSerializer):
    records = serializers.SerializerMethodField()
    reported_on = serializers.SerializerMethodField()

    class Meta:
        model = ReviewItem
        fields = [
            "id", "status", "reason", "why", "score", "probability", "created_at",
            "reported_on", "records",
        ]  # fmt: skip

    def get_reported_on(self, item) -> date | None:
        return _reported_on(item)

    def get_records(self, item) -> list[dict]:
        return [_record_brief(item.record_a), _record_brief(item.record_b)]


def _decision_data(decision: ReviewDecision) -> dict:
    return {
        "decision": decision.decision,
        "decided_by": decision.decided_by.get_full_name(),
        "decided_at": decision.decided_at,
        "note": decision.note,
        "channel": decision.channel,
    }


def review_item_data(item: ReviewItem, user) -> dict:
    identifiers = identifier_comparison(user, item)
    reports = item_reports(item)
    reported = reported_record_id(item, reports)
    records = []
    for side in review_item_sides(item):
        data = asdict(side)
        # Which record a practitioner reported as not the person it is linked to.
        data["reported"] = side.record_id == reported
        data.pop("record_id")
        records.append(data)
    return {
        "id": item.pk,
        "status": item.status,
        "reason": item.reason,
        "why": item.why,
        "score": item.score,
        "probability": item.probability,
        "created_at": item.created_at,
        "reported_on": _reported_on(item),
        "records": records,
        # Whether each identifier agrees and how it differs; never the values. None when the
        # engine does not let the caller compare them.
        "identifiers": (
            [
                {"name": c.name, "label": c.label, "agreement": c.agreement, "how": c.how}
                for c in identifiers
            ]
            if identifiers is not None
            else None
        ),
        "reasons": review_reasons(item),
        "decisions": [_decision_data(d) for d in review_history(item)],
        # What practitioners reported about the pair (matching.challenges); never who.
        "reports": [
            {
                "kind": report.kind,
                "reason": report.reason,
                "reported_on": report.reported_on,
                "status": report.status,
                "outcome": report.outcome or None,
            }
            for report in reports
        ],
    }


def _readable_item(request, pk: int) -> ReviewItem:
    """The item, or 404 when it does not exist or is a decided pair that is not the caller's
    (the refusal is audited)."""
    item = review_item_get(pk)
    if item is None:
        raise Http404
    membership = getattr(request._request, "membership", None)
    if not review_item_readable(request.user, membership, item):
        review_read_audit(
            user=request.user, membership=membership, item=item, channel="api", outcome="denied"
        )
        raise Http404
    return item


# --- Views ----------------------------------------------------------------------------------------


@extend_schema_view(get=extend_schema(responses=answers({200: ReviewItemSerializer(many=True)})))
class ReviewItemListAPI(SessionAPIView, generics.ListAPIView):
    """Open review items, most certain first (limit/offset pages)."""

    permission = REVIEW_PERMISSION
    serializer_class = ReviewItemSerializer

    def get_queryset(self):
        return review_queue(getattr(self.request._request, "membership", None))


class ReviewItemDetailAPI(SessionAPIView):
    permission = REVIEW_PERMISSION

    @extend_schema(responses=answers({200: DOCUMENT}))
    def get(self, request, pk: int):
        item = _readable_item(request, pk)
        review_read_audit(
            user=request.user,
            membership=getattr(request._request, "membership", None),
            item=item,
            channel="api",
        )
        response = Response(review_item_data(item, request.user))
        response["Cache-Control"] = "no-store"
        return response


class ReviewItemDecisionAPI(SessionAPIView):
    """POST {"decision": "confirmed" | "rejected", "note": "..."}."""

    permission = REVIEW_PERMISSION

    @extend_schema(
        request=DecisionInputSerializer, responses=answers({200: DOCUMENT}, problems=True)
    )
    def post(self, request, pk: int):
        item = _readable_item(request, pk)
        given = DecisionInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            decision = review_decide(
                item=item,
                user=request.user,
                decision=given.validated_data["decision"],
                note=given.validated_data.get("note", ""),
                channel="api",
            )
        except ReviewError as error:
            if error.code in ("withdrawn", "unchanged"):
                return Response(
                    {"detail": error.message, "code": error.code}, status=status.HTTP_409_CONFLICT
                )
            return Response({error.field or "detail": [error.message]}, status=400)
        fresh = review_item_get(pk) or item
        return Response(
            {"decision": _decision_data(decision), "item": review_item_data(fresh, request.user)},
            status=status.HTTP_201_CREATED,
            headers={"Cache-Control": "no-store"},
        )


# For reviewers and platform admins, as the page (matching.views.person_explain_view); anyone
# else gets 404, as for a person who does not exist.
class PersonExplainAPI(SessionAPIView):
    roles = (Role.PLATFORM_ADMIN,)
    permission = REVIEW_PERMISSION

    def permission_denied(self, request, message=None, code=None):
        if request.user and request.user.is_authenticated:
            raise Http404
        super().permission_denied(request, message=message, code=code)

    @extend_schema(responses=answers({200: DOCUMENT}))
    def get(self, request, reference: str):
        explanation = person_explain(reference=reference)
        if explanation is None:
            raise Http404
        explain_read_audit(
            user=request.user,
            membership=getattr(request._request, "membership", None),
            person=explanation,
            channel="api",
        )
        response = Response(explanation.as_data())
        response["Cache-Control"] = "no-store"
        return response


class LinkageExportAPI(SessionAPIView):
    """GET ?purpose=commissioning|evaluation&statement=...: the records your protocols disclose
    for the purpose, as CSV, streamed (matching.export, as the page)."""

    roles = (Role.ANALYST,)
    # The same per-user limit as the web exports (settings: DEFAULT_THROTTLE_RATES).
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "export"

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "purpose",
                str,
                required=True,
                enum=list(EXPORT_PURPOSES),
                description="The purpose the disclosure engine is asked for.",
            ),
            OpenApiParameter(
                "statement", str, required=True, description="Why the export is needed (recorded)."
            ),
        ],
        responses=answers({(200, "text/csv"): CSV}, problems=True),
    )
    def get(self, request):
        try:
            _, chunks = linkage_export_start(
                user=request.user,
                membership=getattr(request._request, "membership", None),
                purpose=request.query_params.get("purpose", ""),
                statement=request.query_params.get("statement", ""),
                channel="api",
            )
        except ExportRefused as refused:
            return Response({"detail": str(refused)}, status=status.HTTP_403_FORBIDDEN)
        except ExportError as error:
            return Response({error.field: [str(error)]}, status=status.HTTP_400_BAD_REQUEST)
        return pages.linkage_csv_response(chunks)


review_item_list = declared(ReviewItemListAPI)
review_item_detail = declared(ReviewItemDetailAPI)
review_item_decision = declared(ReviewItemDecisionAPI)
person_explain_view = declared(PersonExplainAPI)
linkage_export = declared(LinkageExportAPI)
