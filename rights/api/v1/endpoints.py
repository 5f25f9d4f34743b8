"""v1 event webhook endpoints, for a service account with the privacy officer's permissions on them:
list, one, create, update, rotate the secret, deactivate. Named by their public id (a UUID), never
a sequential id; the secret is in the answer to create and rotate only."""

from __future__ import annotations

import uuid

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from rights.api.v1.base import Pages, V1View
from rights.api.v1.requests import ERRORS
from rights.lifecycle.audit import actor_for
from rights.models import EventEndpoint, EventType
from rights.recipients.events import (
    EndpointInvalid,
    event_endpoint_create,
    event_endpoint_rotate,
    event_endpoint_update,
)

# --- Serializers (one pair per action) -------------------------------------------------------------


class EndpointOutput(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    url = serializers.CharField()
    description = serializers.CharField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices))
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    last_delivery_at = serializers.DateTimeField(allow_null=True)
    last_delivery_status = serializers.CharField()
    previous_secret_until = serializers.DateTimeField(
        allow_null=True,
        help_text="Until when the secret the last rotation replaced signs deliveries beside the current one.",
    )


class EndpointSecretOutput(EndpointOutput):
    secret = serializers.CharField(help_text="Shown only in this answer: keep it now.")


class EndpointPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = EndpointOutput(many=True)


class EndpointCreateInput(serializers.Serializer):
    url = serializers.CharField(max_length=2000)
    events = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices), min_length=1)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class EndpointUpdateInput(serializers.Serializer):
    url = serializers.CharField(required=False, max_length=2000)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices), min_length=1, required=False
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)
    active = serializers.BooleanField(required=False)


# --- Views (one per action) ------------------------------------------------------------------------


def endpoint_by_public_id(*, public_id: str) -> EventEndpoint:
    """The endpoint with this public id, or a 404 (never found by a sequential id)."""
    try:
        wanted = uuid.UUID(str(public_id))
    except ValueError:
        raise Http404("No endpoint with this id.") from None
    found = EventEndpoint.objects.filter(public_id=wanted).first()
    if found is None:
        raise Http404("No endpoint with this id.")
    return found


def _invalid(exc: EndpointInvalid) -> ValidationError:
    return ValidationError(exc.errors)


class EndpointListView(V1View):
    """Every event endpoint, newest first (never a secret)."""

    required_permission = "rights.view_eventendpoint"

    @extend_schema(responses={200: EndpointPageOutput, **ERRORS}, operation_id="event_endpoint_list")
    def get(self, request: Request) -> Response:
        pages = Pages()
        page = pages.paginate_queryset(
            EventEndpoint.objects.order_by("-created_at", "-id"), request, view=self
        )
        return pages.get_paginated_response(EndpointOutput(page, many=True).data)


class EndpointDetailView(V1View):
    """One event endpoint (never its secret)."""

    required_permission = "rights.view_eventendpoint"

    @extend_schema(responses={200: EndpointOutput, **ERRORS}, operation_id="event_endpoint_detail")
    def get(self, request: Request, public_id: str) -> Response:
        return Response(EndpointOutput(endpoint_by_public_id(public_id=public_id)).data)


class EndpointCreateView(V1View):
    """Add an endpoint: the answer carries its secret, which is never shown again."""

    parser_classes = [JSONParser]
    throttle_scope = "api_v1_write"
    required_permission = "rights.add_eventendpoint"

    @extend_schema(
        request=EndpointCreateInput,
        responses={201: EndpointSecretOutput, **ERRORS},
        operation_id="event_endpoint_create",
    )
    def post(self, request: Request) -> Response:
        data = EndpointCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            endpoint = event_endpoint_create(
                url=v["url"], events=v["events"], description=v["description"], actor=actor_for(request.user)
            )
        except EndpointInvalid as exc:
            raise _invalid(exc) from None
        return Response(EndpointSecretOutput(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointUpdateView(V1View):
    """Change an endpoint's address, events, description or active flag (what is given only)."""

    parser_classes = [JSONParser]
    throttle_scope = "api_v1_write"
    required_permission = "rights.change_eventendpoint"

    @extend_schema(
        request=EndpointUpdateInput,
        responses={200: EndpointOutput, **ERRORS},
        operation_id="event_endpoint_update",
    )
    def post(self, request: Request, public_id: str) -> Response:
        endpoint = endpoint_by_public_id(public_id=public_id)
        data = EndpointUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            endpoint = event_endpoint_update(
                endpoint=endpoint,
                actor=actor_for(request.user),
                url=v.get("url"),
                events=v.get("events"),
                description=v.get("description"),
                active=v.get("active"),
            )
        except EndpointInvalid as exc:
            raise _invalid(exc) from None
        return Response(EndpointOutput(endpoint).data)


class EndpointRotateView(V1View):
    """A new secret at once (the old one stops signing now): the answer carries it, once."""

    throttle_scope = "api_v1_write"
    required_permission = "rights.change_eventendpoint"

    @extend_schema(
        request=None, responses={200: EndpointSecretOutput, **ERRORS}, operation_id="event_endpoint_rotate"
    )
    def post(self, request: Request, public_id: str) -> Response:
        endpoint = endpoint_by_public_id(public_id=public_id)
        rotated = event_endpoint_rotate(endpoint=endpoint, actor=actor_for(request.user))
        return Response(EndpointSecretOutput(rotated).data)


class EndpointDeactivateView(V1View):
    """Retire an endpoint: it gets nothing more, not even deliveries already queued."""

    throttle_scope = "api_v1_write"
    required_permission = "rights.change_eventendpoint"

    @extend_schema(
        request=None, responses={200: EndpointOutput, **ERRORS}, operation_id="event_endpoint_deactivate"
    )
    def post(self, request: Request, public_id: str) -> Response:
        endpoint = endpoint_by_public_id(public_id=public_id)
        updated = event_endpoint_update(endpoint=endpoint, actor=actor_for(request.user), active=False)
        return Response(EndpointOutput(updated).data)
