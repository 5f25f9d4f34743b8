"""v1 input and output serializers, one pair per action (HackSoft style). No email, no token."""

from __future__ import annotations

from datetime import date

from django.core.validators import MaxValueValidator, MinValueValidator
from rest_framework import serializers

from rights.lifecycle.clock import days_left, request_due_in_force
from rights.models import Match, RequestChannel, RequestKind
from rights.pipeline.access_image_items import IMAGE_SHOWN, image_items_read
from rights.pipeline.access_items import general_items_read


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


# --- Submission (an agent or another system) ---------------------------------------------------


class SubmitInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RequestKind.choices)
    email = serializers.CharField(max_length=254)
    selfies = serializers.ListField(child=serializers.FileField(), min_length=1, max_length=10)
    identifiers = serializers.CharField(required=False, allow_blank=True, default="", max_length=200_000)
    country = serializers.CharField(required=False, allow_blank=True, default="", max_length=2)
    suppression_consent = serializers.BooleanField(required=False, default=False)
    language = serializers.CharField(required=False, allow_blank=True, default="", max_length=10)
    channel = serializers.ChoiceField(
        choices=[c for c in RequestChannel.choices if c[0] != RequestChannel.WEB],
        required=False,
        default=RequestChannel.API,
    )
    received_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    agent_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    agent_evidence = serializers.FileField(required=False, allow_null=True, default=None)


class SubmitOutput(serializers.Serializer):
    reference = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField()
    channel = serializers.CharField()
    received_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()


# --- Reading requests ------------------------------------------------------------------------


class RequestListOutput(serializers.Serializer):
    reference = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField()
    channel = serializers.CharField()
    received_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    extended_until = serializers.DateTimeField(allow_null=True)
    effective_due_at = serializers.SerializerMethodField()
    days_left = serializers.SerializerMethodField()
    answered_at = serializers.DateTimeField(allow_null=True)
    followups = serializers.IntegerField()

    def get_effective_due_at(self, obj) -> serializers.DateTimeField:  # type: ignore[no-untyped-def]
        return serializers.DateTimeField().to_representation(request_due_in_force(request=obj))

    def get_days_left(self, obj) -> int | None:  # type: ignore[no-untyped-def]
        return None if obj.is_closed else days_left(due_at=request_due_in_force(request=obj))


class RequestPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = RequestListOutput(many=True)


class EventOutput(serializers.Serializer):
    at = serializers.DateTimeField(source="created_at")
    actor = serializers.CharField()
    action = serializers.CharField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    reason = serializers.CharField()


class MatchOutput(serializers.Serializer):
    id = serializers.IntegerField()
    image_sha256 = serializers.CharField()
    band = serializers.CharField()
    decision = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    face_bbox = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)


class RequestDetailOutput(RequestListOutput):
    agent_name = serializers.CharField()
    has_agent_evidence = serializers.SerializerMethodField()
    recorded_by = serializers.CharField()
    extension_reason = serializers.CharField()
    refusal_reason = serializers.CharField()
    hold_reason = serializers.CharField()
    earlier_requests = serializers.SerializerMethodField()
    timeline = EventOutput(many=True, source="events.all")
    matches = MatchOutput(many=True, source="matches.all")

    def get_has_agent_evidence(self, obj) -> bool:  # type: ignore[no-untyped-def]
        return bool(obj.agent_evidence)

    def get_earlier_requests(self, obj) -> list[str]:  # type: ignore[no-untyped-def]
        return [r.reference for r in obj.earlier_requests.all()]


# --- Staff actions ---------------------------------------------------------------------------


class DecideInput(serializers.Serializer):
    matches = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000
    )
    decision = serializers.ChoiceField(choices=[Match.Decision.CONFIRMED, Match.Decision.REJECTED])


class DecideOutput(serializers.Serializer):
    decided = MatchOutput(many=True)


class ExtendInput(serializers.Serializer):
    months = serializers.IntegerField(min_value=1, max_value=2)
    reason = serializers.CharField(max_length=5000)


class RefuseInput(serializers.Serializer):
    reason = serializers.CharField(max_length=5000)


class LinkInput(serializers.Serializer):
    earlier = serializers.CharField(max_length=20, help_text="the earlier request's reference")


class AnswerOutput(serializers.Serializer):
    kind = serializers.CharField()
    created_at = serializers.DateTimeField()
    payload = serializers.JSONField()
    has_archive = serializers.SerializerMethodField()
    general_text = serializers.SerializerMethodField(
        help_text="An access report's Art. 15(1) items (payload.general: data) in words, in the language "
        "the call asks for (Accept-Language); empty for other answers"
    )
    images_text = serializers.SerializerMethodField(
        help_text="An access report's images (payload.images: data), each with its items in words in the "
        "language the call asks for (Accept-Language): "
        + ", ".join(IMAGE_SHOWN)
        + "; empty for other answers"
    )

    def get_has_archive(self, obj) -> bool:  # type: ignore[no-untyped-def]
        return bool(obj.archive)

    def get_general_text(self, obj) -> dict[str, str]:  # type: ignore[no-untyped-def]
        return general_items_read(payload=obj.payload)

    def get_images_text(self, obj) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
        return [{name: item[name] for name in IMAGE_SHOWN} for item in image_items_read(payload=obj.payload)]


# --- Report, collection, notices, webhooks -------------------------------------------------------


REPORT_FIRST_DAY = date(1970, 1, 1)
REPORT_LAST_DAY = date(2999, 12, 31)


class ReportInput(serializers.Serializer):
    # Bounded: a day at the calendar's edge would overflow once moved to the local time zone.
    date_from = serializers.DateField(
        validators=[MinValueValidator(REPORT_FIRST_DAY), MaxValueValidator(REPORT_LAST_DAY)]
    )
    date_to = serializers.DateField(
        validators=[MinValueValidator(REPORT_FIRST_DAY), MaxValueValidator(REPORT_LAST_DAY)]
    )


class IngestInput(serializers.Serializer):
    file = serializers.FileField()
    source_url = serializers.URLField(required=False, allow_blank=True, default="", max_length=2000)
    collected_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    platform = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    account = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class IngestOutput(serializers.Serializer):
    status = serializers.CharField()
    sha256 = serializers.CharField()
    faces = serializers.IntegerField()
    reason = serializers.CharField()
    message = serializers.CharField()


class ReleaseInput(serializers.Serializer):
    recipient = serializers.CharField(max_length=200)
    images = serializers.ListField(
        child=serializers.RegexField(r"^[0-9a-f]{64}$"),
        min_length=1,
        max_length=10_000,
        help_text="sha256 of each collection image handed over",
    )
    released_at = serializers.DateTimeField()


class ReleaseOutput(serializers.Serializer):
    recipient = serializers.CharField()
    recorded = serializers.IntegerField()


class AcknowledgeInput(serializers.Serializer):
    token = serializers.CharField(max_length=64)


class AcknowledgeOutput(serializers.Serializer):
    acknowledged_at = serializers.DateTimeField()
    image_hashes = serializers.ListField(child=serializers.CharField())
