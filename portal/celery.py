"""The Celery application.

Tasks live in each app's ``tasks`` module (work on one request or image) and ``jobs`` module
(periodic jobs); the beat schedule is declared in one place, ``rights.schedule``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("facerights")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(related_name="jobs")


@app.on_after_configure.connect
def _configure(sender: Celery, **_: object) -> None:
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        # The filesystem transport does not create its own folders.
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            os.makedirs(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key], exist_ok=True)
    from rights.schedule import BEAT_SCHEDULE

    sender.conf.beat_schedule = BEAT_SCHEDULE
