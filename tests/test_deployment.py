"""The deployment files stay valid and safe (no Docker engine here, so they are checked as files).

- docker-compose.yml is valid against the Compose Specification's JSON schema kept in the repo
  (deploy/compose-spec), before and after the interpolation Compose does;
- every required variable stops Compose with its message when missing (``${VAR:?}``);
- ``manage.py check --deploy`` gives no warning under the environment the compose file gives web;
- the image build context leaves out personal data, the virtualenv, git and test data;
- every setting portal/settings.py reads can be set through .env (.env.example documents it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
SCHEMA = ROOT / "deploy" / "compose-spec" / "compose-spec.json"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
REQUIRED = {
    "SECRET_KEY",
    "PUBLIC_BASE_URL",
    "POSTGRES_PASSWORD",
    "FACE_MODEL_HOST_DIR",
    "ORGANISATION_NAME",
    "ORGANISATION_ADDRESS",
    "DEFAULT_FROM_EMAIL",
    "PRIVACY_OFFICER_EMAIL",
    "EMAIL_HOST",
}
# What an operator fills in: the required block of .env.example.
OPERATOR_VALUES = {
    "SECRET_KEY": "k" * 20 + "Zx8-Qw3_Lp0" + "r" * 30,
    "PUBLIC_BASE_URL": "https://rights.example.org",
    "POSTGRES_PASSWORD": "s3cret-pw",
    "FACE_MODEL_HOST_DIR": "/srv/models/licensed",
    "ORGANISATION_NAME": "Acme Faces SAS",
    "ORGANISATION_ADDRESS": "2 rue de l'Exemple, 69000 Lyon",
    "DEFAULT_FROM_EMAIL": "privacy@acme.example",
    "PRIVACY_OFFICER_EMAIL": "dpo@acme.example",
    "EMAIL_HOST": "smtp.acme.example",
}


class MissingVariable(Exception):
    pass


_VARIABLE = re.compile(
    r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)


def compose_interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}."""

    def one(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        name = match.group(2) or match.group(5)
        operator, argument = match.group(3), match.group(4) or ""
        value = env.get(name)
        unset = value is None or (operator is not None and operator.startswith(":") and value == "")
        if operator in ("-", ":-"):
            return argument if unset else value
        if operator in ("?", ":?"):
            if unset:
                raise MissingVariable(f"{name}: {argument}")
            return value
        return value or ""

    return _VARIABLE.sub(one, text)


def env_file_read(path: Path) -> dict[str, str]:
    """The variables an env file sets (uncommented NAME=value lines)."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    return values


def compose_loaded(env: dict[str, str]) -> dict:
    return yaml.safe_load(compose_interpolate(COMPOSE.read_text(), env))


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    raw = yaml.safe_load(COMPOSE.read_text())
    interpolated = compose_loaded({**env_file_read(ENV_EXAMPLE), **OPERATOR_VALUES})
    for document in (raw, interpolated):
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    # The schema does catch mistakes: an unknown key in a service is refused.
    broken = {**raw, "services": {**raw["services"], "web": {**raw["services"]["web"], "helthcheck": {}}}}
    assert any("helthcheck" in e.message for e in validator.iter_errors(broken))


def test_compose_file_declares_the_whole_stack() -> None:
    services = compose_loaded({**env_file_read(ENV_EXAMPLE), **OPERATOR_VALUES})["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "beat", "caddy"} <= set(services)
    for name in ("web", "worker", "beat"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"] == "postgres://facerights:s3cret-pw@postgres:5432/facerights"
        assert environment["CELERY_BROKER_URL"].startswith("redis://")
        assert services[name]["env_file"] == [".env"]
        assert "migrate" in services[name]["depends_on"]
        assert services[name]["healthcheck"]["test"], f"{name} has no healthcheck"
    assert services["worker"]["command"][:4] == ["celery", "-A", "portal", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "portal", "beat"]
    assert services["web"]["command"][:3] == ["gunicorn", "-c", "portal/gunicorn.conf.py"]
    assert "/health/" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_only_the_tls_proxy_is_published() -> None:
    services = compose_loaded({**env_file_read(ENV_EXAMPLE), **OPERATOR_VALUES})["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"caddy"}
    assert "443:443" in services["caddy"]["ports"]
    assert services["caddy"]["image"].startswith("caddy:")
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "{$PUBLIC_BASE_URL}" in caddyfile and "reverse_proxy web:8000" in caddyfile
    assert re.search(r"request_body\s*\{\s*max_size", caddyfile)
    assert re.search(r"respond /metrics 404", caddyfile)


def test_volumes_keep_models_mounted_explicitly_and_anchors_apart() -> None:
    services = compose_loaded({**env_file_read(ENV_EXAMPLE), **OPERATOR_VALUES})["services"]
    volumes = services["web"]["volumes"]
    assert "/srv/models/licensed:/models:ro" in volumes
    assert not any("shared" in volume for volume in volumes), "no silent fallback to ../shared"
    anchors_dir = "/var/lib/facerights-anchors"
    data_volume = next(v for v in volumes if v.endswith(":/var/lib/facerights"))
    anchors_volume = next(v for v in volumes if v.endswith(f":{anchors_dir}"))
    assert data_volume.split(":")[0] != anchors_volume.split(":")[0]
    environment = services["web"]["environment"]
    assert environment["AUDIT_ANCHOR_FILE"].startswith(anchors_dir + "/")
    assert environment["ERASURE_LEDGER_FILE"].startswith(anchors_dir + "/")


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_each_required_variable_stops_compose_with_its_name(name: str) -> None:
    # .env.example as shipped: the required block is empty, and an empty value counts as missing.
    env = {**env_file_read(ENV_EXAMPLE), **OPERATOR_VALUES}
    assert env_file_read(ENV_EXAMPLE)[name] == ""
    env[name] = ""
    with pytest.raises(MissingVariable, match=rf"^{name}: set {name}"):
        compose_loaded(env)


def test_no_secret_is_committed() -> None:
    assert 'SECRET_KEY = "' not in (ROOT / "portal" / "settings.py").read_text()
    example = env_file_read(ENV_EXAMPLE)
    for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "EMAIL_HOST_PASSWORD", "SENTRY_DSN", "METRICS_TOKEN"):
        assert not example.get(name), f"{name} has a value in .env.example"
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_check_deploy_gives_no_warning_under_the_compose_environment(tmp_path: Path) -> None:
    environment = compose_loaded({**env_file_read(ENV_EXAMPLE), **OPERATOR_VALUES})["services"]["web"][
        "environment"
    ]
    # What the container sees: .env (env_file), overridden by the compose file's environment.
    container_env = {**env_file_read(ENV_EXAMPLE), **OPERATOR_VALUES, **environment}
    # The container's folders, here under tmp_path (the checkout has no /var/lib/facerights).
    container_env.update({"VAR_DIR": str(tmp_path / "var"), "STATIC_ROOT": str(tmp_path / "static")})
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**base, **container_env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    # And the same check does warn when the deployment is not behind https.
    plain = {**base, **container_env, "PUBLIC_BASE_URL": "http://rights.example.org"}
    warned = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=plain,
        capture_output=True,
        text=True,
    )
    assert warned.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in warned.stderr + warned.stdout


def test_build_context_leaves_out_personal_data_and_the_checkout_state() -> None:
    patterns = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for required in ("var/", ".venv/", ".git/", ".env", "tests/", "bench/results/", "*.sqlite3"):
        assert required in patterns, f".dockerignore must exclude {required}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    static_root = re.search(r"STATIC_ROOT=(\S+)", dockerfile).group(1)
    assert static_root.startswith("/app/")  # built into the image, not onto a volume
    assert "collectstatic" in dockerfile
    assert '"gunicorn", "-c", "portal/gunicorn.conf.py"' in dockerfile


def _settings_variables() -> set[str]:
    text = (ROOT / "portal" / "settings.py").read_text()
    return set(re.findall(r"env_(?:str|bool|int|float|list|language|texts)\(\s*\"([A-Z][A-Z0-9_]*)\"", text))


def test_every_setting_can_be_set_through_the_env_file() -> None:
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.M))
    compose_wired = {
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "CACHE_URL",
        "VAR_DIR",
        "FACE_MODEL_DIR",
        "REQUIRE_SECRET_KEY",
        "AUDIT_ANCHOR_FILE",
        "ERASURE_LEDGER_FILE",
    }
    variables = _settings_variables()
    assert {"PUBLIC_BASE_URL", "SECURE_HSTS_SECONDS", "SENTRY_DSN"} <= variables  # the scan works
    missing = variables - documented - compose_wired
    assert not missing, f"add to .env.example (and the README's Settings): {sorted(missing)}"
    # Every variable the README's settings table lists can be set there too.
    readme = (ROOT / "README.md").read_text()
    table = readme.split("\n## Settings", 1)[1].split("\n## ", 1)[0]
    listed = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            listed |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1]))
    assert {"VAR_DIR", "SECRET_KEY"} <= listed  # the table was found
    missing = listed - documented - compose_wired
    assert not missing, f"the README lists, .env.example does not: {sorted(missing)}"


STATIC_PROBE = """
import django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
django.setup()
from django.test import Client
response = Client().get("/static/admin/css/base.css", HTTP_ACCEPT_ENCODING="gzip", HTTP_HOST="localhost")
print(response.status_code, response.headers.get("Content-Encoding"))
"""


def test_the_image_serves_the_static_files_collected_at_build_time(tmp_path: Path) -> None:
    # As the Dockerfile does: collectstatic into STATIC_ROOT at build, finders off at run time.
    image_env = dict(
        re.findall(r"(STATIC_ROOT|WHITENOISE_USE_FINDERS)=(\S+)", (ROOT / "Dockerfile").read_text())
    )
    assert image_env["WHITENOISE_USE_FINDERS"] == "0"
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env = {**base, "STATIC_ROOT": str(tmp_path / "static"), "WHITENOISE_USE_FINDERS": "0"}

    def served() -> str:
        result = subprocess.run(
            [sys.executable, "-c", STATIC_PROBE],
            cwd=ROOT,
            env={**env, "VAR_DIR": str(tmp_path / "run")},
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    assert served() == "404 None"  # nothing collected: the runtime serves nothing but STATIC_ROOT
    build = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env={**env, "VAR_DIR": str(tmp_path / "build"), "SECRET_KEY": "build-only"},
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    assert served() == "200 gzip"  # the collected, compressed copy
