"""Schemathesis against the live v1 schema (fetched with a staff token): for every operation, a
bounded number of generated calls finds no server error and no response that breaks the schema."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from portal.wsgi import application
from rights.models import Match
from tests.rights.staff_helpers import make_request


@pytest.fixture
def staff_token(owner) -> str:
    return Token.objects.get(user=owner.user).key


@pytest.fixture
def api_schema(staff_token, settings):
    settings.ALLOWED_HOSTS = ["*"]
    # Something to find: a request under review with a candidate match (a random reference 404s).
    request = make_request()
    Match.objects.create(request=request, image_sha256="a" * 64, band=Match.Band.REVIEW, score=0.4)
    # The real WSGI handler closes the connection after each call; the test's transaction needs it
    # open (Django's own test client disconnects the same receiver).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi(
            "/api/v1/schema/?format=json", application, headers={"Authorization": f"Token {staff_token}"}
        )
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_no_server_error_and_every_response_fits_the_schema(api_schema, staff_token):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 14  # every v1 endpoint is in the schema it serves
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=50,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def calls(case) -> None:
            case.call_and_validate(
                headers={"Authorization": f"Token {staff_token}"},
                checks=[not_a_server_error, response_schema_conformance],
            )

        calls()
