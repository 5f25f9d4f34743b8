"""What every v1 view shares: token or session authentication, a scoped throttle, the permission
named by the view, pagination and one shape of error body ({"detail": ..., "errors": {...}})."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from rest_framework import exceptions, permissions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle
from rest_framework.views import APIView

from portal.limits import ApiThrottle
from rights.models import DataRequest
from rights.reporting.compliance import ReportError
from rights.requester.requests import RequestInvalid
from rights.staff.actions import ActionRefused
from rights.staff.review import ReviewError, ReviewNotAllowed


class Pages(PageNumberPagination):
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"


class HasViewPermission(permissions.BasePermission):
    """Active, authenticated, with the permission the view names (``required_permission``)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        needed = getattr(view, "required_permission", None)
        if not (user and user.is_authenticated and user.is_active):
            return False
        return needed is None or user.has_perm(needed)


class AnonThrottle(AnonRateThrottle):
    scope = "api_v1_anon"


class V1View(APIView):
    """Base of every v1 endpoint: staff roles as in the dashboard, throttled, clear errors."""

    permission_classes = [HasViewPermission]
    throttle_classes = [ApiThrottle, ScopedRateThrottle, AnonThrottle]
    throttle_scope = "api_v1_read"
    required_permission: str | None = "rights.view_datarequest"

    def get_exception_handler(self):  # type: ignore[no-untyped-def]
        return exception_handler

    def handle_exception(self, exc: Exception) -> Response:
        mapped = service_error(exc)
        if mapped is not None:
            return mapped
        return super().handle_exception(exc)


def error_body(detail: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"detail": detail, "errors": errors or {}}


def service_error(exc: Exception) -> Response | None:
    """A service's refusal as a 4xx with the service's own words (nothing was changed)."""
    if isinstance(exc, RequestInvalid):
        return Response(error_body("The request was not accepted.", exc.errors), status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ReviewNotAllowed):
        return Response(error_body(str(exc)), status.HTTP_403_FORBIDDEN)
    if isinstance(exc, ActionRefused):
        code = {"not_permitted": 403, "not_found": 404}.get(exc.reason_code, 409)
        return Response(error_body(exc.message, {"reason": [exc.reason_code]}), code)
    if isinstance(exc, ReportError):
        return Response(error_body(str(exc)), status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ReviewError):
        return Response(error_body(str(exc)), status.HTTP_409_CONFLICT)
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with the v1 body: ``detail`` a sentence, ``errors`` the fields' messages."""
    from rest_framework.views import exception_handler as drf_handler

    response = drf_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"__all__": data}
        response.data = error_body("The input was not accepted.", _strings(errors))
    elif isinstance(data, dict) and "detail" in data:
        response.data = error_body(str(data["detail"]))
    return response


def _strings(errors: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for field, messages in errors.items():
        items = messages if isinstance(messages, list) else [messages]
        out[str(field)] = [str(m) for m in items]
    return out


def request_by_reference(*, reference: str) -> DataRequest:
    """The request with this public reference, or a 404 (never found by a sequential id)."""
    found = DataRequest.objects.filter(reference=reference).first()
    if found is None:
        raise Http404("No request with this reference.")
    return found
