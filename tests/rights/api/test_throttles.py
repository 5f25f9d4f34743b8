"""Every v1 endpoint is throttled (its scope has a rate), and a caller past it gets a 429 body."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import URLPattern
from rest_framework.throttling import ScopedRateThrottle

from rights.api.v1.urls import urlpatterns


def test_every_endpoint_has_a_throttle_with_a_configured_rate(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    for pattern in urlpatterns:
        assert isinstance(pattern, URLPattern)
        view = pattern.callback.view_class
        assert view.throttle_classes, pattern.name
        if ScopedRateThrottle in view.throttle_classes:
            assert view.throttle_scope in rates, pattern.name
        else:  # the schema and the docs: per address
            assert any(getattr(t, "scope", None) in rates for t in view.throttle_classes), pattern.name


@pytest.mark.django_db
def test_past_the_rate_a_caller_gets_429_with_a_sentence(owner, settings, monkeypatch):
    # DRF reads the rates once, into the throttle class: set them there.
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "api_v1_read": "2/min"}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)
    cache.clear()
    assert owner.client.get("/api/v1/requests/").status_code == 200
    assert owner.client.get("/api/v1/requests/").status_code == 200
    response = owner.client.get("/api/v1/requests/")
    assert response.status_code == 429 and response.json()["detail"]
    assert "Retry-After" in response.headers
