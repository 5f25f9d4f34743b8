"""The v1 URLs: requests by public reference, the report, the collection, notices, event endpoints (by
public id), schema and docs."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated
from rest_framework.throttling import AnonRateThrottle

from rights.api.v1 import collection, endpoints, requests
from rights.api.v1.base import AnonThrottle

app_name = "v1"


class _SchemaView(SpectacularAPIView):
    throttle_classes: list[type[AnonRateThrottle]] = [AnonThrottle]


class _DocsView(SpectacularSwaggerSplitView):
    throttle_classes: list[type[AnonRateThrottle]] = [AnonThrottle]
    template_name = "rights/api/swagger_ui.html"  # its inline style under the CSP's nonce


R = "requests/<str:reference>/"
E = "event-endpoints/<str:public_id>/"

urlpatterns = [
    path("requests/", requests.RequestListView.as_view(), name="request-list"),
    path("requests/submit/", requests.RequestSubmitView.as_view(), name="request-submit"),
    path(R, requests.RequestDetailView.as_view(), name="request-detail"),
    path(R + "matches/decide/", requests.MatchesDecideView.as_view(), name="matches-decide"),
    path(R + "approve/", requests.RequestApproveView.as_view(), name="request-approve"),
    path(R + "extend/", requests.RequestExtendView.as_view(), name="request-extend"),
    path(R + "refuse/", requests.RequestRefuseView.as_view(), name="request-refuse"),
    path(R + "link/", requests.RequestLinkView.as_view(), name="request-link"),
    path(R + "answer/", requests.AnswerView.as_view(), name="answer"),
    path(R + "answer/archive/", requests.AnswerArchiveView.as_view(), name="answer-archive"),
    path("report/", collection.ReportView.as_view(), name="report"),
    path("images/", collection.ImageIngestView.as_view(), name="image-ingest"),
    path("releases/", collection.ReleaseRecordView.as_view(), name="release-record"),
    path("notices/acknowledge/", collection.NoticeAcknowledgeView.as_view(), name="notice-acknowledge"),
    path("event-endpoints/", endpoints.EndpointListView.as_view(), name="event-endpoint-list"),
    path("event-endpoints/create/", endpoints.EndpointCreateView.as_view(), name="event-endpoint-create"),
    path(E, endpoints.EndpointDetailView.as_view(), name="event-endpoint-detail"),
    path(E + "update/", endpoints.EndpointUpdateView.as_view(), name="event-endpoint-update"),
    path(E + "rotate/", endpoints.EndpointRotateView.as_view(), name="event-endpoint-rotate"),
    path(E + "deactivate/", endpoints.EndpointDeactivateView.as_view(), name="event-endpoint-deactivate"),
    # Signed-in accounts only, like the endpoints they describe; Swagger UI's assets come from
    # drf-spectacular-sidecar under STATIC_URL, never a CDN.
    path(
        "schema/", _SchemaView.as_view(permission_classes=[IsAuthenticated], api_version="v1"), name="schema"
    ),
    path("docs/", _DocsView.as_view(url_name="v1:schema", permission_classes=[IsAuthenticated]), name="docs"),
]
