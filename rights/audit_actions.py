"""The actions the audit trail records (re-exported by rights.models, where it was declared first)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    """Every action the audit trail records. The values are the strings stored in AuditEvent.action
    since the first row: never rename one (the CNIL figures, recovery and the timeline read them
    back, and a renamed value would silently drop old rows from a regulator's figure); add new ones.
    The labels are what staff read on the timeline and the audit trail, in their language."""

    ACCESS_REPORT_BUILT = "access_report_built", _("Access report built")
    # the agent's mandate file, its sha256 kept
    AGENT_EVIDENCE_PURGED = "agent_evidence_purged", _("Agent's evidence of authority purged")
    ANSWER_ARCHIVES_PURGED = "answer_archives_purged", _("Answer files purged")
    ANSWER_HELD_INCOMPLETE = "answer_held_incomplete", _("Answer held: failed the completeness check")
    ANSWERED = "answered", _("Answered")
    # assigned, internal note or message (rights.staff.casework)
    CASEWORK_RECORDED = "casework_recorded", _("Casework recorded (assignment, note or message)")
    COMPLIANCE_REPORT_EXPORTED = "compliance_report_exported", _("Compliance report exported")
    CONFIRMED = "confirmed", _("Email address confirmed")
    DUE_SOON_REMINDER = "due_soon_reminder", _("Reminder: due soon")
    ERASURE_BAND_OUTGROWN = "erasure_band_outgrown", _("Erasure: more matches than the match band allows")
    ERASURE_CERTIFIED = "erasure_certified", _("Erasure certified")
    ERASURE_CHUNK_DONE = "erasure_chunk_done", _("Erasure: one chunk done")
    ERASURE_VERIFICATION_FAILED = "erasure_verification_failed", _("Erasure verification failed")
    ERASURE_WAITING_FOR_ACCESS = (
        "erasure_waiting_for_access",
        _("Erasure waiting for the access request to be answered"),
    )
    ERASURES_REPLAYED = "erasures_replayed", _("Erasures replayed")
    # url, events, active (rights.recipients.events)
    EVENT_ENDPOINT_CHANGED = "event_endpoint_changed", _("Event endpoint changed")
    EVENT_ENDPOINT_CREATED = "event_endpoint_created", _("Event endpoint added")
    # never the secret
    EVENT_ENDPOINT_SECRET_ROTATED = "event_endpoint_secret_rotated", _("Event endpoint's secret rotated")
    EXPIRED_UNCONFIRMED = "expired_unconfirmed", _("Expired: never confirmed")
    EXTENDED = "extended", _("Deadline extended")
    EXTENSION_LETTER_FAILED = "extension_letter_failed", _("Extension letter could not be sent")
    FOLLOWUP = "followup", _("The person asked again")
    FULFILMENT_FAILED = "fulfilment_failed", _("Fulfilment failed")
    FULFILMENT_RESUMED = "fulfilment_resumed", _("Fulfilment resumed")
    FULFILMENT_RETRY = "fulfilment_retry", _("Fulfilment retried")
    FULFILMENT_STARTED = "fulfilment_started", _("Fulfilment started")
    HELD_AFTER_RESTORE = "held_after_restore", _("Held after a restore")
    HELD_AFTER_STUCK = "held_after_stuck", _("Held: the work was stuck")
    IMAGE_ERASED = "image_erased", _("Image erased")
    MATCH_CONFIRMED = "match_confirmed", _("Candidate confirmed")
    MATCH_REJECTED = "match_rejected", _("Candidate rejected")
    OVERDUE_ESCALATED = "overdue_escalated", _("Overdue: escalated")
    RECIPIENT_CHANGED = "recipient_changed", _("Recipient changed")
    RECIPIENT_CREATED = "recipient_created", _("Recipient added")
    RECIPIENT_NOTICE_ACKNOWLEDGED = "recipient_notice_acknowledged", _("Recipient notice acknowledged")
    RECIPIENT_NOTICE_CHASED = "recipient_notice_chased", _("Recipient notice chased")
    RECIPIENT_NOTICE_CREATED = "recipient_notice_created", _("Recipient notice made")
    RECIPIENT_NOTICE_EXTENDED = "recipient_notice_extended", _("Recipient notice extended (more images)")
    RECIPIENT_NOTICE_SENT = "recipient_notice_sent", _("Recipient notice sent")
    RECIPIENT_NOTICE_WEBHOOK_DELIVERED = (
        "recipient_notice_webhook_delivered",
        _("Recipient notice delivered by webhook"),
    )
    RECIPIENTS_MISSING_CONTACT_ALERTED = (
        "recipients_missing_contact_alerted",
        _("Alert: recipients without a contact"),
    )
    REFUSAL_LETTER_FAILED = "refusal_letter_failed", _("Refusal letter could not be sent")
    REFUSED = "refused", _("Refused")
    RELEASES_RECORDED = "releases_recorded", _("Releases to a recipient recorded")
    REQUEST_APPROVED = "request_approved", _("Request approved")
    REQUESTS_LINKED = "requests_linked", _("Requests linked (same person)")
    REQUEUED_AFTER_STUCK = "requeued_after_stuck", _("Queued again: the work was stuck")
    RETENTION_IMAGES_DELETED = "retention_images_deleted", _("Images deleted at the end of their retention")
    REVIEW_SCREEN_VIEWED = "review_screen_viewed", _("Review screen viewed (faces shown)")
    SEARCH_DONE = "search_done", _("Search done")
    SEARCH_FAILED = "search_failed", _("Search failed")
    SEARCH_RESUMED = "search_resumed", _("Search resumed")
    SEARCH_RETRY = "search_retry", _("Search retried")
    SEARCH_STARTED = "search_started", _("Search started")
    SELFIE_ADDED = "selfie_added", _("Selfie added")
    SELFIE_CHECKED = "selfie_checked", _("Selfie checked")
    SELFIE_UNUSABLE = "selfie_unusable", _("Selfie unusable")
    STAFF_ROLE_ADDED = "staff_role_added", _("Staff role added")
    STAFF_ROLE_CHANGED = "staff_role_changed", _("Staff role changed")
    STAFF_ROLE_DELETED = "staff_role_deleted", _("Staff role deleted")
    # in the admin; so are changed and deleted
    STAFF_SECOND_FACTOR_ADDED = "staff_second_factor_added", _("Staff second factor added")
    STAFF_SECOND_FACTOR_CHANGED = "staff_second_factor_changed", _("Staff second factor changed")
    # by its owner, with a code
    STAFF_SECOND_FACTOR_CONFIRMED = (
        "staff_second_factor_confirmed",
        _("Staff second factor confirmed by its owner"),
    )
    STAFF_SECOND_FACTOR_DELETED = "staff_second_factor_deleted", _("Staff second factor deleted")
    STAFF_SECOND_FACTOR_ENROLMENT_STARTED = (
        "staff_second_factor_enrolment_started",
        _("Second factor set-up started"),
    )
    STAFF_USER_ADDED = "staff_user_added", _("Staff account added")
    STAFF_USER_CHANGED = "staff_user_changed", _("Staff account changed")
    STAFF_USER_DELETED = "staff_user_deleted", _("Staff account deleted")
    SUBMITTED = "submitted", _("Request submitted")
    SUPPRESSED_IMAGE_DELETED = (
        "suppressed_image_deleted",
        _("Image of a person who objected deleted at ingestion"),
    )
    SUPPRESSION_ADDED = "suppression_added", _("Added to the suppression list")
    VERIFICATION_DATA_PURGED = "verification_data_purged", _("Verification data purged")
