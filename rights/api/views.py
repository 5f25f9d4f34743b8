"""The API's read-only viewsets: requests ordered by due date, recipient notices; their filters."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.pagination import PageNumberPagination

from rights.api.permissions import ViewPermission
from rights.api.serializers import DataRequestSerializer, RecipientNoticeSerializer
from rights.lifecycle.clock import requests_overdue
from rights.models import (
    DataRequest,
    RecipientNotice,
    RequestKind,
    RequestStatus,
    due_stored_expression,
)


class Pages(PageNumberPagination):
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"


def _truthy(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in {"1", "true", "yes"}:
        return True
    if value.lower() in {"0", "false", "no"}:
        return False
    raise serializers.ValidationError({"detail": f"expected true or false, got {value!r}"})


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=RequestKind.values),
            OpenApiParameter("status", str, enum=RequestStatus.values),
            OpenApiParameter("overdue", bool, description="confirmed, open and past the due date in force"),
        ]
    )
)
class DataRequestViewSet(viewsets.ReadOnlyModelViewSet):
    """Rights requests, ordered by due date."""

    queryset = DataRequest.objects.all()
    serializer_class = DataRequestSerializer
    permission_classes = [ViewPermission]
    pagination_class = Pages

    def get_queryset(self) -> QuerySet[DataRequest]:
        queryset = (
            DataRequest.objects.annotate(effective_due=due_stored_expression())
            .prefetch_related("earlier_requests")
            .order_by("effective_due", "id")
        )
        params = self.request.query_params
        for field, choices in (("kind", RequestKind.values), ("status", RequestStatus.values)):
            if value := params.get(field):
                if value not in choices:
                    raise serializers.ValidationError({field: f"one of {', '.join(choices)}"})
                queryset = queryset.filter(**{field: value})
        overdue = _truthy(params.get("overdue"))
        if overdue is not None:
            late = requests_overdue(queryset=queryset, now=timezone.now())
            queryset = late if overdue else queryset.exclude(id__in=late.values("id"))
        return queryset


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("request", int),
            OpenApiParameter("acknowledged", bool),
        ]
    )
)
class RecipientNoticeViewSet(viewsets.ReadOnlyModelViewSet):
    """Erasure notices to recipients (Art. 17(2), Art. 19) and their acknowledgement."""

    queryset = RecipientNotice.objects.all()
    serializer_class = RecipientNoticeSerializer
    permission_classes = [ViewPermission]
    pagination_class = Pages

    def get_queryset(self) -> QuerySet[RecipientNotice]:
        queryset = RecipientNotice.objects.select_related("recipient").order_by("id")
        params = self.request.query_params
        if raw := params.get("request"):
            if not raw.isdigit():
                raise serializers.ValidationError({"request": "a request id"})
            queryset = queryset.filter(request_id=int(raw))
        acknowledged = _truthy(params.get("acknowledged"))
        if acknowledged is not None:
            queryset = queryset.filter(acknowledged_at__isnull=not acknowledged)
        return queryset
