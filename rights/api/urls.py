"""The API's URLs: the router of the read-only viewsets and the staff-only OpenAPI schema."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework import permissions
from rest_framework.routers import DefaultRouter

from rights.api.views import DataRequestViewSet, RecipientNoticeViewSet

app_name = "api"

router = DefaultRouter()
router.register("requests", DataRequestViewSet, basename="request")
router.register("notices", RecipientNoticeViewSet, basename="notice")

urlpatterns = [
    # Staff only, like the endpoints it describes (drf-spectacular serves it to anyone by default).
    path("schema/", SpectacularAPIView.as_view(permission_classes=[permissions.IsAdminUser]), name="schema"),
    path("", include(router.urls)),
]
