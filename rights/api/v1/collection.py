"""v1 endpoints beside the requests: the compliance report, the collection (ingest an image, record
a release to a recipient) and a recipient's acknowledgement of an erasure notice."""

from __future__ import annotations

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from matching.services.ingestion import image_ingest
from rights.api.v1 import serializers as s
from rights.api.v1.base import V1View
from rights.api.v1.requests import ERRORS
from rights.lifecycle.audit import actor_for
from rights.recipients.notices import NoticeNotFound, notice_acknowledge
from rights.recipients.recipients import releases_record_by_hash
from rights.reporting.compliance import compliance_report_export


class ReportView(V1View):
    """The compliance report for a period of receipt (as the dashboard's JSON export; audited)."""

    required_permission = "rights.export_compliance_report"

    @extend_schema(
        parameters=[
            OpenApiParameter("date_from", OpenApiTypes.DATE, required=True),
            OpenApiParameter("date_to", OpenApiTypes.DATE, required=True),
        ],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        operation_id="compliance_report",
    )
    def get(self, request: Request) -> Response:
        data = s.ReportInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        exported = compliance_report_export(
            date_from=data.validated_data["date_from"],
            date_to=data.validated_data["date_to"],
            format="json",
            actor=actor_for(request.user),
            via="api",
        )
        return Response(json.loads(exported.content))


class ImageIngestView(V1View):
    """Add one image with its metadata to the collection (the ingest command's rules)."""

    parser_classes = [MultiPartParser, FormParser]
    throttle_scope = "api_v1_write"
    required_permission = "matching.add_image"

    @extend_schema(
        request=s.IngestInput,
        responses={201: s.IngestOutput, 200: s.IngestOutput, **ERRORS},
        operation_id="image_ingest",
    )
    def post(self, request: Request) -> Response:
        data = s.IngestInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        outcome = image_ingest(
            data=v["file"].read(),
            name=v["file"].name or "upload",
            source_url=v["source_url"],
            collected_at=v["collected_at"],
            platform=v["platform"],
            account=v["account"],
        )
        body = s.IngestOutput(outcome).data
        if outcome.status == "added":
            return Response(body, status=status.HTTP_201_CREATED)
        if outcome.status == "duplicate":
            return Response(body)
        # Refused (unreadable, suppressed, erased before): the reason, nothing stored.
        raise ValidationError({"file": [f"{outcome.reason}: {outcome.message}".strip(": ")]})


class ReleaseRecordView(V1View):
    """Record that collection images were handed to a recipient (Art. 19 notices will follow them)."""

    parser_classes = [JSONParser]
    throttle_scope = "api_v1_write"
    required_permission = "rights.add_release"

    @extend_schema(
        request=s.ReleaseInput, responses={201: s.ReleaseOutput, **ERRORS}, operation_id="release_record"
    )
    def post(self, request: Request) -> Response:
        data = s.ReleaseInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            recipient, created = releases_record_by_hash(
                recipient_name=v["recipient"],
                image_sha256s=v["images"],
                released_at=v["released_at"],
                actor=actor_for(request.user),
            )
        except ValueError as exc:
            raise ValidationError({"images": [str(exc)]}) from None
        return Response(
            s.ReleaseOutput({"recipient": recipient.name, "recorded": len(created)}).data,
            status=status.HTTP_201_CREATED,
        )


class NoticeAcknowledgeView(V1View):
    """A recipient acknowledges an erasure notice: the notice's token is the credential (no account)."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    parser_classes = [JSONParser]
    throttle_scope = "api_v1_write"
    required_permission = None

    @extend_schema(
        request=s.AcknowledgeInput,
        responses={200: s.AcknowledgeOutput, **ERRORS},
        auth=[],
        operation_id="notice_acknowledge",
    )
    def post(self, request: Request) -> Response:
        data = s.AcknowledgeInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            notice = notice_acknowledge(token=data.validated_data["token"])
        except NoticeNotFound:
            raise NotFound("No notice for this token.") from None
        return Response(
            s.AcknowledgeOutput(
                {"acknowledged_at": notice.acknowledged_at, "image_hashes": notice.acknowledged_hashes}
            ).data
        )
