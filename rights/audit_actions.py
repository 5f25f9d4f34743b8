"""The actions the audit trail records (re-exported by rights.models, where it was declared first)."""

from __future__ import annotations

from django.db import models


class AuditAction(models.TextChoices):
    """Every action the audit trail records. The values are the strings stored in AuditEvent.action
    since the first row: never rename one (the CNIL figures, recovery and the timeline read them
    back, and a renamed value would silently drop old rows from a regulator's figure); add new ones."""

    ACCESS_REPORT_BUILT = "access_report_built"
    AGENT_EVIDENCE_PURGED = "agent_evidence_purged"  # the agent's mandate file, its sha256 kept
    ANSWER_ARCHIVES_PURGED = "answer_archives_purged"
    ANSWER_HELD_INCOMPLETE = "answer_held_incomplete"
    ANSWERED = "answered"
    CASEWORK_RECORDED = "casework_recorded"  # assigned, internal note or message (rights.staff.casework)
    COMPLIANCE_REPORT_EXPORTED = "compliance_report_exported"
    CONFIRMED = "confirmed"
    DUE_SOON_REMINDER = "due_soon_reminder"
    ERASURE_BAND_OUTGROWN = "erasure_band_outgrown"
    ERASURE_CERTIFIED = "erasure_certified"
    ERASURE_CHUNK_DONE = "erasure_chunk_done"
    ERASURE_VERIFICATION_FAILED = "erasure_verification_failed"
    ERASURE_WAITING_FOR_ACCESS = "erasure_waiting_for_access"
    ERASURES_REPLAYED = "erasures_replayed"
    EVENT_ENDPOINT_CHANGED = "event_endpoint_changed"  # url, events, active (rights.recipients.events)
    EVENT_ENDPOINT_CREATED = "event_endpoint_created"
    EVENT_ENDPOINT_SECRET_ROTATED = "event_endpoint_secret_rotated"  # never the secret
    EXPIRED_UNCONFIRMED = "expired_unconfirmed"
    EXTENDED = "extended"
    EXTENSION_LETTER_FAILED = "extension_letter_failed"
    FOLLOWUP = "followup"
    FULFILMENT_FAILED = "fulfilment_failed"
    FULFILMENT_RESUMED = "fulfilment_resumed"
    FULFILMENT_RETRY = "fulfilment_retry"
    FULFILMENT_STARTED = "fulfilment_started"
    HELD_AFTER_RESTORE = "held_after_restore"
    HELD_AFTER_STUCK = "held_after_stuck"
    IMAGE_ERASED = "image_erased"
    MATCH_CONFIRMED = "match_confirmed"
    MATCH_REJECTED = "match_rejected"
    OVERDUE_ESCALATED = "overdue_escalated"
    RECIPIENT_CHANGED = "recipient_changed"
    RECIPIENT_CREATED = "recipient_created"
    RECIPIENT_NOTICE_ACKNOWLEDGED = "recipient_notice_acknowledged"
    RECIPIENT_NOTICE_CHASED = "recipient_notice_chased"
    RECIPIENT_NOTICE_CREATED = "recipient_notice_created"
    RECIPIENT_NOTICE_EXTENDED = "recipient_notice_extended"
    RECIPIENT_NOTICE_SENT = "recipient_notice_sent"
    RECIPIENT_NOTICE_WEBHOOK_DELIVERED = "recipient_notice_webhook_delivered"
    RECIPIENTS_MISSING_CONTACT_ALERTED = "recipients_missing_contact_alerted"
    REFUSAL_LETTER_FAILED = "refusal_letter_failed"
    REFUSED = "refused"
    RELEASES_RECORDED = "releases_recorded"
    REQUEST_APPROVED = "request_approved"
    REQUESTS_LINKED = "requests_linked"
    REQUEUED_AFTER_STUCK = "requeued_after_stuck"
    RETENTION_IMAGES_DELETED = "retention_images_deleted"
    REVIEW_SCREEN_VIEWED = "review_screen_viewed"
    SEARCH_DONE = "search_done"
    SEARCH_FAILED = "search_failed"
    SEARCH_RESUMED = "search_resumed"
    SEARCH_RETRY = "search_retry"
    SEARCH_STARTED = "search_started"
    SELFIE_ADDED = "selfie_added"
    SELFIE_CHECKED = "selfie_checked"
    SELFIE_UNUSABLE = "selfie_unusable"
    STAFF_ROLE_ADDED = "staff_role_added"
    STAFF_ROLE_CHANGED = "staff_role_changed"
    STAFF_ROLE_DELETED = "staff_role_deleted"
    STAFF_SECOND_FACTOR_ADDED = "staff_second_factor_added"  # in the admin; so are changed and deleted
    STAFF_SECOND_FACTOR_CHANGED = "staff_second_factor_changed"
    STAFF_SECOND_FACTOR_CONFIRMED = "staff_second_factor_confirmed"  # by its owner, with a code
    STAFF_SECOND_FACTOR_DELETED = "staff_second_factor_deleted"
    STAFF_SECOND_FACTOR_ENROLMENT_STARTED = "staff_second_factor_enrolment_started"
    STAFF_USER_ADDED = "staff_user_added"
    STAFF_USER_CHANGED = "staff_user_changed"
    STAFF_USER_DELETED = "staff_user_deleted"
    SUBMITTED = "submitted"
    SUPPRESSED_IMAGE_DELETED = "suppressed_image_deleted"
    SUPPRESSION_ADDED = "suppression_added"
    VERIFICATION_DATA_PURGED = "verification_data_purged"
