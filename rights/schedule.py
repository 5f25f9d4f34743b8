"""Every periodic job, declared in one place (Celery beat reads this through portal.celery).

Times and intervals are settings (portal/settings.py, "Rights requests"). Each job is a thin task
in ``rights.jobs`` (or, for the collection's own upkeep, ``matching.tasks``) calling one service;
all are safe to run twice or concurrently.
"""

from __future__ import annotations

from celery.schedules import crontab
from django.conf import settings

BEAT_SCHEDULE: dict[str, dict] = {
    # Due-soon reminders to staff and escalation of overdue requests, once a day before work.
    "deadline-sweep": {
        "task": "rights.jobs.deadlines_sweep_job",
        "schedule": crontab(minute=0, hour=settings.DEADLINE_SWEEP_HOUR),
    },
    # Tasks a broker outage left in the outbox, sent once it is back.
    "outbox-deliver": {
        "task": "rights.jobs.outbox_deliver_job",
        "schedule": settings.OUTBOX_INTERVAL,
    },
    # Requests left in a working status by a dead worker, put back and re-enqueued.
    "recover-stuck-requests": {
        "task": "rights.jobs.requests_recover_job",
        "schedule": settings.RECOVERY_INTERVAL,
    },
    # Requests never confirmed closed as EXPIRED, their selfies deleted at once (before the purge).
    "expire-unconfirmed-requests": {
        "task": "rights.jobs.requests_expire_job",
        "schedule": crontab(minute=15, hour=settings.PURGE_HOUR),
    },
    # Selfies, embeddings, unconsented suppression templates and expired archives of closed requests.
    "purge-verification-data": {
        "task": "rights.jobs.requests_purge_job",
        "schedule": crontab(minute=30, hour=settings.PURGE_HOUR),
    },
    # Agents' mandate files past AGENT_EVIDENCE_RETENTION_DAYS after their request closed.
    "purge-agent-evidence": {
        "task": "rights.jobs.agent_evidence_purge_job",
        "schedule": crontab(minute=40, hour=settings.PURGE_HOUR),
    },
    # Recipients that have not acknowledged an erasure notice are sent it again.
    "chase-recipient-notices": {
        "task": "rights.jobs.notices_chase_job",
        "schedule": crontab(minute=0, hour=settings.NOTICE_CHASE_HOUR),
    },
    # Newly ingested faces (and new objections) against the suppression list.
    "suppression-check": {
        "task": "rights.jobs.suppression_check_job",
        "schedule": settings.SUPPRESSION_CHECK_INTERVAL,
    },
    # Collection images past the retention period (a no-op unless COLLECTION_RETENTION_DAYS > 0).
    "collection-retention": {
        "task": "rights.jobs.retention_job",
        "schedule": crontab(minute=0, hour=settings.RETENTION_HOUR),
    },
    # The audit trail's head appended to a file outside the database (AUDIT_ANCHOR_FILE).
    "audit-anchor": {
        "task": "rights.jobs.audit_anchor_job",
        "schedule": crontab(minute=5),
    },
    # Collection files left without an Image row by a crash (matching's own task: it never imports rights).
    "collection-orphans": {
        "task": "matching.tasks.collection_orphans_sweep",
        "schedule": crontab(minute=45, hour=settings.ORPHAN_SWEEP_HOUR),
    },
    # The index compared with the whole Face table, after the file sweep (matching's own task).
    "index-reconcile": {
        "task": "matching.tasks.index_reconcile",
        "schedule": crontab(minute=55, hour=settings.ORPHAN_SWEEP_HOUR),
    },
    # The index's sealing and merging, off the request path (matching's own task).
    "index-maintain": {
        "task": "matching.tasks.index_maintain",
        "schedule": settings.INDEX_MAINTAIN_INTERVAL,
    },
}
