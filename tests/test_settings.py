"""The settings contract (DESIGN.md): everything from the environment, VAR_DIR holds what a
running portal writes, and each part can be moved on its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

PROBE = """
import json, django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
django.setup()
from django.conf import settings as s
db = s.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST"),
    "media": str(s.MEDIA_ROOT), "index": str(s.INDEX_DIR), "mail": s.EMAIL_FILE_PATH,
    "email_backend": s.EMAIL_BACKEND, "broker": s.CELERY_BROKER_URL,
    "broker_options": s.CELERY_BROKER_TRANSPORT_OPTIONS, "model_dir": s.FACE_MODEL_DIR,
    "secret_key_set": bool(s.SECRET_KEY), "eager": s.CELERY_TASK_ALWAYS_EAGER,
}))
"""

SETTING_VARIABLES = (
    "VAR_DIR",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "MEDIA_ROOT",
    "INDEX_DIR",
    "EMAIL_BACKEND",
    "FACE_MODEL_DIR",
    "SECRET_KEY",
    "MAIL_DIR",
)


def settings_with(env: dict[str, str]) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in SETTING_VARIABLES}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_var_dir_holds_everything_by_default(tmp_path: Path) -> None:
    values = settings_with({"VAR_DIR": str(tmp_path)})
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "facerights.sqlite3")
    assert values["media"] == str(tmp_path / "media")
    assert values["index"] == str(tmp_path / "index")
    assert values["mail"] == str(tmp_path / "mail")
    assert values["email_backend"] == "portal.mail.PrivateFileEmailBackend"  # Django's, files 0600
    # The embedded broker keeps its queue under VAR_DIR, and a real worker runs the tasks.
    assert values["broker"] == "filesystem://"
    assert values["broker_options"]["data_folder_in"].startswith(str(tmp_path))
    assert values["eager"] is False
    # No secret in the repository: a development key is generated under VAR_DIR.
    assert values["secret_key_set"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_each_part_can_be_moved_on_its_own(tmp_path: Path) -> None:
    values = settings_with(
        {
            "VAR_DIR": str(tmp_path / "var"),
            "DATABASE_URL": "postgres://someone@db.internal:5432/rights",
            "CELERY_BROKER_URL": "redis://cache.internal:6379/3",
            "MEDIA_ROOT": str(tmp_path / "elsewhere-media"),
            "INDEX_DIR": str(tmp_path / "elsewhere-index"),
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "FACE_MODEL_DIR": str(tmp_path / "models"),
            "SECRET_KEY": "from-the-environment",
        }
    )
    assert values["engine"] == "django.db.backends.postgresql"
    assert (values["name"], values["host"]) == ("rights", "db.internal")
    assert values["broker"] == "redis://cache.internal:6379/3"
    assert values["media"] == str(tmp_path / "elsewhere-media")
    assert values["index"] == str(tmp_path / "elsewhere-index")
    assert values["email_backend"] == "django.core.mail.backends.smtp.EmailBackend"
    assert values["model_dir"] == str(tmp_path / "models")
    assert not (tmp_path / "var" / "secret_key").exists()


def test_face_models_default_to_the_shared_offline_copy(tmp_path: Path) -> None:
    values = settings_with({"VAR_DIR": str(tmp_path)})
    assert values["model_dir"] == str(Path(settings.BASE_DIR).parent / "shared" / "models" / "buffalo_sc")


TRANSPORT_PROBE = """
import json, django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
django.setup()
from django.conf import settings as s
print(json.dumps({
    "hsts": s.SECURE_HSTS_SECONDS, "subdomains": s.SECURE_HSTS_INCLUDE_SUBDOMAINS,
    "preload": s.SECURE_HSTS_PRELOAD, "redirect": s.SECURE_SSL_REDIRECT,
    "session_secure": s.SESSION_COOKIE_SECURE, "csrf_secure": s.CSRF_COOKIE_SECURE,
    "proxy_header": s.SECURE_PROXY_SSL_HEADER, "trusted": s.CSRF_TRUSTED_ORIGINS,
    "hosts": s.ALLOWED_HOSTS,
}))
"""
TRANSPORT_VARIABLES = (
    "PUBLIC_BASE_URL",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_SSL_REDIRECT",
    "SECURE_COOKIES",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "DEBUG",
)


def transport_with(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SETTING_VARIABLES + TRANSPORT_VARIABLES}
    return subprocess.run(
        [sys.executable, "-c", TRANSPORT_PROBE],
        env={**clean, "VAR_DIR": str(tmp_path), **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
    )


def transport(env: dict[str, str], tmp_path: Path) -> dict:
    result = transport_with(env, tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_https_public_url_turns_on_every_transport_setting(tmp_path: Path) -> None:
    values = transport({"PUBLIC_BASE_URL": "https://rights.example.org/"}, tmp_path)
    assert values["hsts"] >= 180 * 24 * 3600
    assert values["subdomains"] and values["preload"] and values["redirect"]
    assert values["session_secure"] and values["csrf_secure"]
    assert values["proxy_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["trusted"] == ["https://rights.example.org"]
    assert values["hosts"][0] == "rights.example.org"
    assert "localhost" in values["hosts"]  # the containers' healthchecks


def test_plain_http_public_url_turns_them_off(tmp_path: Path) -> None:
    values = transport({"PUBLIC_BASE_URL": "http://127.0.0.1:8000"}, tmp_path)
    assert values["hsts"] == 0
    assert not (values["redirect"] or values["session_secure"] or values["csrf_secure"])
    assert values["proxy_header"] is None
    assert values["trusted"] == ["http://127.0.0.1:8000"]


def test_each_transport_setting_has_its_own_override(tmp_path: Path) -> None:
    values = transport(
        {
            "PUBLIC_BASE_URL": "https://rights.example.org",
            "ALLOWED_HOSTS": "rights.example.org,web",
            "CSRF_TRUSTED_ORIGINS": "https://rights.example.org,https://staff.example.org",
            "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_SSL,on",
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_COOKIES": "0",
            "SECURE_HSTS_SECONDS": "3600",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": "0",
            "SECURE_HSTS_PRELOAD": "0",
        },
        tmp_path,
    )
    assert values["hosts"] == ["rights.example.org", "web"]
    assert values["trusted"] == ["https://rights.example.org", "https://staff.example.org"]
    assert values["proxy_header"] == ["HTTP_X_FORWARDED_SSL", "on"]
    assert values["hsts"] == 3600
    assert not (values["redirect"] or values["session_secure"] or values["subdomains"] or values["preload"])


def test_bad_transport_values_stop_the_portal_with_a_clear_error(tmp_path: Path) -> None:
    # Each bad value: the process refuses to start, naming the variable; nothing is written.
    for env, message in (
        ({"PUBLIC_BASE_URL": "rights.example.org"}, "PUBLIC_BASE_URL must be an http(s) URL"),
        ({"PUBLIC_BASE_URL": "ftp://rights.example.org"}, "PUBLIC_BASE_URL must be an http(s) URL"),
        ({"SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO"}, "SECURE_PROXY_SSL_HEADER must be"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be plain or json"),
    ):
        result = transport_with(env, tmp_path)
        assert result.returncode != 0
        assert message in result.stderr


WRITES = """
import django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
django.setup()
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("create table probe (id integer)")
send_mail("s", "b", "from@example.org", ["to@example.org"])
default_storage.save("selfies/x/probe.jpg", ContentFile(b"x"))
"""


def test_what_a_portal_writes_under_var_dir_is_its_users_alone(tmp_path: Path) -> None:
    # Before: the SQLite file and each mail file were created 0644, readable by any local user.
    var = tmp_path / "var"
    clean = {k: v for k, v in os.environ.items() if k not in SETTING_VARIABLES}
    subprocess.run(
        [sys.executable, "-c", WRITES],
        env={**clean, "VAR_DIR": str(var)},
        cwd=settings.BASE_DIR,
        check=True,
        capture_output=True,
    )
    folders = [var, var / "mail", var / "media", var / "index", var / "broker", var / "media" / "selfies"]
    files = [var / "facerights.sqlite3", var / "secret_key", *(var / "mail").iterdir()]
    files += [p for p in (var / "media").rglob("*") if p.is_file()]
    assert len(files) >= 4  # database, key, one email, one photo
    for path in folders:
        assert path.stat().st_mode & 0o777 == 0o700, path
    for path in files:
        assert path.stat().st_mode & 0o077 == 0, path
