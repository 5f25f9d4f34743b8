"""What the API shows of a request and of a recipient notice (no email, no token)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rights.lifecycle.clock import days_left, request_due_in_force
from rights.models import DataRequest, RecipientNotice


class DataRequestSerializer(serializers.ModelSerializer):
    effective_due_at = serializers.SerializerMethodField()
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

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_effective_due_at(self, obj: DataRequest) -> str:
        """The due date in force: the extension's if any, moved by a pause still running."""
        return serializers.DateTimeField().to_representation(request_due_in_force(request=obj))

    @extend_schema_field(OpenApiTypes.INT)
    def get_days_left(self, obj: DataRequest) -> int | None:
        """Whole local days until the due date in force (negative when overdue); null once closed."""
        return None if obj.is_closed else days_left(due_at=request_due_in_force(request=obj))


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
