"""The deployment files stay valid: the compose file names every service and wires them up."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def test_compose_file_declares_the_whole_stack() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    for name in ("web", "worker", "beat"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert environment["CELERY_BROKER_URL"].startswith("redis://")
        assert "migrate" in services[name]["depends_on"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "portal", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "portal", "beat"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_no_secret_is_committed() -> None:
    compose_text = (ROOT / "docker-compose.yml").read_text()
    assert "${SECRET_KEY:?" in compose_text and "${POSTGRES_PASSWORD:?" in compose_text
    assert 'SECRET_KEY = "' not in (ROOT / "portal" / "settings.py").read_text()
