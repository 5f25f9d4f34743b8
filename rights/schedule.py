"""Every periodic job, declared in one place (Celery beat reads this)."""

BEAT_SCHEDULE: dict[str, dict] = {}
