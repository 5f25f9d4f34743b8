"""v1 request endpoints: submit (an agent or another system), list and filter, one request, and the
staff actions on it (decide matches, approve, extend, refuse, link, the answer)."""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django.db.models import QuerySet
from django.http import FileResponse, Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from portal.limits import LimitExceeded, email_key, limit_check, limit_note
from rights.api.v1 import serializers as s
from rights.api.v1.base import Pages, V1View, request_by_reference
from rights.lifecycle.audit import actor_for
from rights.lifecycle.clock import requests_overdue
from rights.models import DataRequest, RequestChannel, RequestKind, RequestStatus
from rights.requester.intake import Intake
from rights.requester.requests import request_submit
from rights.requester.status import answer_latest
from rights.staff.actions import request_extend, request_refuse, requests_link
from rights.staff.review import matches_decide, request_approve

ERRORS = {400: s.ErrorSerializer, 403: s.ErrorSerializer, 404: s.ErrorSerializer, 409: s.ErrorSerializer}


class RequestSubmitView(V1View):
    """Submit a request for a person (same checks, limits and pipeline as the web form)."""

    parser_classes = [MultiPartParser, FormParser]
    throttle_scope = "api_v1_submit"
    required_permission = "rights.add_datarequest"

    @extend_schema(
        request=s.SubmitInput, responses={201: s.SubmitOutput, **ERRORS}, operation_id="request_submit"
    )
    def post(self, request: Request) -> Response:
        data = s.SubmitInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        evidence = v["agent_evidence"]
        mailbox = email_key(email=v["email"])
        try:
            # The confirmation emails one mailbox gets, whoever sends the requests: as on the form.
            limit_check(scope="confirmation_mails", key=mailbox)
        except LimitExceeded as exc:
            raise Throttled(wait=exc.retry_after) from None
        created = request_submit(
            kind=v["kind"],
            email=v["email"],
            selfies=[f.read() for f in v["selfies"]],
            identifiers=v["identifiers"],
            country=v["country"],
            suppression_consent=v["suppression_consent"],
            language=v["language"],
            intake=Intake(
                channel=v["channel"],
                received_at=v["received_at"],
                agent_name=v["agent_name"],
                agent_evidence=evidence.read() if evidence else None,
                recorded_by=actor_for(request.user),
            ),
        )
        limit_note(scope="confirmation_mails", key=mailbox)
        return Response(s.SubmitOutput(created).data, status=status.HTTP_201_CREATED)


class RequestFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=RequestKind.choices)
    status = django_filters.ChoiceFilter(choices=RequestStatus.choices)
    channel = django_filters.ChoiceFilter(choices=RequestChannel.choices)
    received_after = django_filters.IsoDateTimeFilter(method="filter_received")
    received_before = django_filters.IsoDateTimeFilter(method="filter_received")
    # A choice, not BooleanFilter: that one reads an unknown word as "no filter" instead of an error.
    overdue = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_overdue",
        label="confirmed, open, past due",
    )

    class Meta:
        model = DataRequest
        fields = ["kind", "status", "channel"]

    def filter_received(self, queryset: QuerySet, name: str, value: datetime) -> QuerySet:
        # In UTC and within years the database keeps: PostgreSQL refuses an offset such as +20:42
        # (schemathesis found it), and a day at the calendar's edge overflows once moved.
        if not 1970 <= value.year <= 2999:
            raise ValidationError({name: ["A date between 1970 and 2999."]})
        lookup = "gte" if name == "received_after" else "lt"
        return queryset.filter(**{f"received_at__{lookup}": value.astimezone(UTC)})

    def filter_overdue(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        late = requests_overdue(queryset=queryset, now=timezone.now())
        return late if value == "true" else queryset.exclude(id__in=late.values("id"))


class RequestListView(V1View):
    """Requests, ordered by due date, filtered (kind, status, channel, received, overdue)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=RequestKind.values),
            OpenApiParameter("status", str, enum=RequestStatus.values),
            OpenApiParameter("channel", str, enum=RequestChannel.values),
            OpenApiParameter("received_after", OpenApiTypes.DATETIME),
            OpenApiParameter("received_before", OpenApiTypes.DATETIME),
            OpenApiParameter("overdue", bool, description="confirmed, open and past the due date in force"),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int),
        ],
        responses={200: s.RequestPageOutput, **ERRORS},
        operation_id="request_list",
    )
    def get(self, request: Request) -> Response:
        filtered = RequestFilter(request.query_params, queryset=DataRequest.objects.order_by("due_at", "id"))
        if not filtered.is_valid():
            raise ValidationError(filtered.errors)
        pages = Pages()
        page = pages.paginate_queryset(filtered.qs, request, view=self)
        return pages.get_paginated_response(s.RequestListOutput(page, many=True).data)


class RequestDetailView(V1View):
    """One request with its timeline (the audit trail) and its matches."""

    @extend_schema(responses={200: s.RequestDetailOutput, **ERRORS}, operation_id="request_detail")
    def get(self, request: Request, reference: str) -> Response:
        found = request_by_reference(reference=reference)
        return Response(s.RequestDetailOutput(found).data)


class MatchesDecideView(V1View):
    """Confirm or reject candidate matches of the request (all of them, or none)."""

    parser_classes = [JSONParser]
    throttle_scope = "api_v1_write"
    required_permission = "rights.review_match"

    @extend_schema(
        request=s.DecideInput, responses={200: s.DecideOutput, **ERRORS}, operation_id="matches_decide"
    )
    def post(self, request: Request, reference: str) -> Response:
        found = request_by_reference(reference=reference)
        data = s.DecideInput(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = data.validated_data["matches"]
        # Only this request's matches: an id of another request's match is "not found" here.
        own = set(found.matches.filter(id__in=wanted).values_list("id", flat=True))
        if missing := sorted(set(wanted) - own):
            raise Http404(f"No match {', '.join(map(str, missing))} on this request.")
        decided = matches_decide(
            match_ids=wanted, decision=data.validated_data["decision"], user=request.user
        )
        return Response(s.DecideOutput({"decided": decided}).data)


class RequestApproveView(V1View):
    """Approve the request for fulfilment (refused while a candidate awaits a decision)."""

    throttle_scope = "api_v1_write"
    required_permission = "rights.approve_request"

    @extend_schema(
        request=None, responses={200: s.RequestDetailOutput, **ERRORS}, operation_id="request_approve"
    )
    def post(self, request: Request, reference: str) -> Response:
        found = request_by_reference(reference=reference)
        request_approve(request_id=found.id, user=request.user)
        return Response(s.RequestDetailOutput(request_by_reference(reference=reference)).data)


class RequestExtendView(V1View):
    """Extend the deadline by one or two months, with the reasons sent to the person."""

    parser_classes = [JSONParser]
    throttle_scope = "api_v1_write"
    required_permission = "rights.extend_request"

    @extend_schema(
        request=s.ExtendInput, responses={200: s.RequestDetailOutput, **ERRORS}, operation_id="request_extend"
    )
    def post(self, request: Request, reference: str) -> Response:
        found = request_by_reference(reference=reference)
        data = s.ExtendInput(data=request.data)
        data.is_valid(raise_exception=True)
        request_extend(request_id=found.id, user=request.user, **data.validated_data)
        return Response(s.RequestDetailOutput(request_by_reference(reference=reference)).data)


class RequestRefuseView(V1View):
    """Refuse as manifestly unfounded or excessive (Art. 12(5)), with a written justification."""

    parser_classes = [JSONParser]
    throttle_scope = "api_v1_write"
    required_permission = "rights.refuse_request"

    @extend_schema(
        request=s.RefuseInput, responses={200: s.RequestDetailOutput, **ERRORS}, operation_id="request_refuse"
    )
    def post(self, request: Request, reference: str) -> Response:
        found = request_by_reference(reference=reference)
        data = s.RefuseInput(data=request.data)
        data.is_valid(raise_exception=True)
        request_refuse(request_id=found.id, user=request.user, reason=data.validated_data["reason"])
        return Response(s.RequestDetailOutput(request_by_reference(reference=reference)).data)


class RequestLinkView(V1View):
    """Link the request to an earlier one of the same person (never a reason to refuse it)."""

    parser_classes = [JSONParser]
    throttle_scope = "api_v1_write"
    required_permission = "rights.change_datarequest"

    @extend_schema(
        request=s.LinkInput, responses={200: s.RequestDetailOutput, **ERRORS}, operation_id="request_link"
    )
    def post(self, request: Request, reference: str) -> Response:
        found = request_by_reference(reference=reference)
        data = s.LinkInput(data=request.data)
        data.is_valid(raise_exception=True)
        earlier = request_by_reference(reference=data.validated_data["earlier"])
        requests_link(request_id=found.id, earlier_id=earlier.id, user=request.user)
        return Response(s.RequestDetailOutput(request_by_reference(reference=reference)).data)


class AnswerView(V1View):
    """The request's latest answer (access report, erasure certificate or refusal letter) as data."""

    required_permission = "rights.view_answer"

    @extend_schema(responses={200: s.AnswerOutput, **ERRORS}, operation_id="answer_detail")
    def get(self, request: Request, reference: str) -> Response:
        answer = answer_latest(request=request_by_reference(reference=reference))
        if answer is None:
            raise Http404("This request has no answer yet.")
        return Response(s.AnswerOutput(answer).data)


class AnswerArchiveView(V1View):
    """Download the answer's file (the access report's ZIP)."""

    required_permission = "rights.view_answer"

    @extend_schema(responses={(200, "application/zip"): bytes, **ERRORS}, operation_id="answer_archive")
    def get(self, request: Request, reference: str) -> FileResponse:
        answer = answer_latest(request=request_by_reference(reference=reference))
        if answer is None or not answer.archive:
            raise Http404("This request's answer has no file.")
        return FileResponse(answer.archive.open("rb"), as_attachment=True, filename=f"{reference}.zip")
