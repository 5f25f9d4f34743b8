"""Run the whole portal on one machine: web server, Celery worker and beat, with the defaults
(SQLite and the embedded broker under VAR_DIR) unless the environment says otherwise.

It prepares what a fresh checkout needs first: migrations, a staff account for the dashboard,
and the demo collection when ../shared/faces is there.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

DEMO_ADMIN = "privacy-officer"


def public_base_url_for(*, addr: str) -> str:
    """The address email links must point at for a portal served on ``addr`` ([HOST:]PORT).

    Raises CommandError for an address people cannot reach (0.0.0.0, ::): only PUBLIC_BASE_URL can
    say which name or address they use then."""
    host, _, port = addr.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit():
        raise CommandError(f"--addr {addr!r} is not HOST:PORT (for example 127.0.0.1:8000).")
    try:
        unspecified = ipaddress.ip_address(host).is_unspecified
    except ValueError:
        unspecified = False  # a host name
    if unspecified:
        raise CommandError(
            f"--addr {addr} listens on every address, so the links in emails cannot be derived from it: "
            "set PUBLIC_BASE_URL to the address people open (for example http://192.168.1.20:8000)."
        )
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class Command(BaseCommand):
    help = "Run web + worker + beat for a self-contained portal (development and demos)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="address:port for the web server")
        parser.add_argument("--no-demo", action="store_true", help="do not load the demo collection")

    def handle(self, *args: Any, **options: Any) -> None:
        environ = dict(os.environ)
        if not environ.get("PUBLIC_BASE_URL"):
            # Links in emails point at this portal, not at the default port 8000 (issue 8).
            environ["PUBLIC_BASE_URL"] = public_base_url_for(addr=options["addr"])
            settings.PUBLIC_BASE_URL = environ["PUBLIC_BASE_URL"]
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self._ensure_staff_account()
        if not options["no_demo"]:
            call_command("seed_demo")
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        celery = [sys.executable, "-m", "celery", "-A", "portal"]
        processes = {
            "worker": subprocess.Popen(
                [*celery, "worker", "--concurrency=2", "--loglevel=INFO"], env=environ
            ),
            "beat": subprocess.Popen([*celery, "beat", "--loglevel=INFO"], env=environ),
            "web": subprocess.Popen([*manage, "runserver", "--noreload", options["addr"]], env=environ),
        }
        self.stdout.write(
            self.style.SUCCESS(
                f"\nfacerights is running at {environ['PUBLIC_BASE_URL']}/ "
                f"(dashboard: {environ['PUBLIC_BASE_URL']}/admin/). Data lives in {settings.VAR_DIR}. "
                f"Emails are written to files in {settings.EMAIL_FILE_PATH}. Ctrl-C stops everything.\n"
            )
        )
        self._supervise(processes)

    def _ensure_staff_account(self) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(username=DEMO_ADMIN).exists():
            return
        password = secrets.token_urlsafe(12)
        user = user_model.objects.create_user(DEMO_ADMIN, password=password, is_staff=True)
        officer_group = Group.objects.filter(name="Privacy officer").first()
        if officer_group:
            user.groups.add(officer_group)
        else:
            user.is_superuser = True
            user.save(update_fields=["is_superuser"])
        # Shown once and kept only in VAR_DIR, which the checkout ignores.
        password_file = Path(settings.VAR_DIR) / "privacy-officer-password.txt"
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        self.stdout.write(f"Dashboard login: {DEMO_ADMIN} / {password} (also in {password_file})")

    def _supervise(self, processes: dict[str, subprocess.Popen]) -> None:
        def stop(*_: object) -> None:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes.values():
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
            sys.exit(0)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    self.stderr.write(f"The {name} process stopped ({process.returncode}); stopping all.")
                    stop()
            time.sleep(1)
