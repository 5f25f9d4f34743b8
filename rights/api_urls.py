"""The REST API for other systems (staff accounts only): read access to requests and notices.

OpenAPI schema at ``api/schema/``. Personal data is left out: no requester email, no secret
tokens (status link, acknowledgement link); requests are identified by id.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.urls import include, path
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularAPIView
from rest_framework import permissions, serializers, viewsets
from rest_framework.pagination import PageNumberPagination
from rest_framework.routers import DefaultRouter

from rights.lifecycle.clock import days_left
from rights.models import CLOSED_STATUSES, DataRequest, RecipientNotice, RequestKind, RequestStatus

app_name = "api"


class ViewPermission(permissions.BasePermission):
    """Staff with the model's view permission (every role has it; see the roles migration)."""

    def has_permission(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        model = view.queryset.model
        user = request.user
        return bool(
            user
            and user.is_active
            and user.is_staff
            and user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}")
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


class DataRequestSerializer(serializers.ModelSerializer):
    effective_due_at = serializers.DateTimeField(read_only=True)
    days_left = serializers.SerializerMethodField()
    earlier_requests = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = DataRequest
        fields = [
            "id",
            "kind",
            "status",
            "received_at",
            "email_verified_at",
            "due_at",
            "extended_until",
            "extension_reason",
            "effective_due_at",
            "days_left",
            "escalated_at",
            "status_changed_at",
            "answered_at",
            "closed_at",
            "followups",
            "refusal_reason",
            "hold_reason",
            "earlier_requests",
            "searched_at",
            "searched_collection_from",
            "searched_collection_to",
            "searched_collection_size",
            "purged_at",
        ]

    def get_days_left(self, obj: DataRequest) -> int | None:
        """Whole local days until the effective due date (negative when overdue); null once closed."""
        return None if obj.is_closed else days_left(due_at=obj.effective_due_at)


class RecipientNoticeSerializer(serializers.ModelSerializer):
    recipient = serializers.CharField(source="recipient.name", read_only=True)
    recipient_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = RecipientNotice
        fields = [
            "id",
            "request",
            "recipient_id",
            "recipient",
            "image_hashes",
            "created_at",
            "sent_at",
            "webhook_delivered_at",
            "acknowledged_at",
            "chase_count",
            "last_chased_at",
        ]


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=RequestKind.values),
            OpenApiParameter("status", str, enum=RequestStatus.values),
            OpenApiParameter("overdue", bool, description="open and past the effective due date"),
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
            DataRequest.objects.annotate(effective_due=Coalesce("extended_until", "due_at"))
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
            open_ = queryset.exclude(status__in=CLOSED_STATUSES)
            late = open_.filter(effective_due__lt=timezone.now())
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


router = DefaultRouter()
router.register("requests", DataRequestViewSet, basename="request")
router.register("notices", RecipientNoticeViewSet, basename="notice")

urlpatterns = [
    # Staff only, like the endpoints it describes (drf-spectacular serves it to anyone by default).
    path("schema/", SpectacularAPIView.as_view(permission_classes=[permissions.IsAdminUser]), name="schema"),
    path("", include(router.urls)),
]
