"""GET /api/v1/schema/ and /api/v1/docs/: the OpenAPI schema and Swagger UI, assets served locally."""

from __future__ import annotations

import re

import pytest


@pytest.mark.django_db
def test_schema_lists_the_v1_operations_and_token_auth(owner):
    schema = owner.client.get("/api/v1/schema/?format=json").json()
    assert "/api/v1/requests/submit/" in schema["paths"]
    assert "/api/v1/requests/{reference}/approve/" in schema["paths"]
    assert "tokenAuth" in schema["components"]["securitySchemes"]


@pytest.mark.django_db
def test_docs_page_loads_its_assets_from_our_static_files(owner):
    html = owner.client.get("/api/v1/docs/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui" in s for s in sources)
    assert all(not s.startswith(("http://", "https://", "//")) for s in sources)
    # No inline script (the CSP allows none): the page's own script is a separate file.
    assert "<script>" not in html.replace(" ", "")


@pytest.mark.django_db
def test_docs_page_styles_carry_the_csp_nonce(owner):
    response = owner.client.get("/api/v1/docs/")
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    styles = re.findall(r"<style([^>]*)>", response.content.decode())
    assert styles and all(f'nonce="{nonce}"' in attributes for attributes in styles)


@pytest.mark.django_db
def test_anonymous_gets_neither(client):
    assert client.get("/api/v1/schema/").status_code in (401, 403)
    assert client.get("/api/v1/docs/").status_code in (401, 403)
