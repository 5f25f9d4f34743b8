"""rights.models.AuditAction: every action the trail records comes from one enum, whose values are the
strings stored since the first row, so that renaming one cannot silently change a regulator's figure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings

from rights.models import AuditAction
from rights.reporting import cnil
from rights.upkeep import recovery

# The values stored in AuditEvent.action before the enum existed: each must stay, spelled the same.
STORED = [
    "access_report_built",
    "answer_archives_purged",
    "answer_held_incomplete",
    "answered",
    "compliance_report_exported",
    "confirmed",
    "due_soon_reminder",
    "erasure_band_outgrown",
    "erasure_certified",
    "erasure_chunk_done",
    "erasure_verification_failed",
    "erasure_waiting_for_access",
    "erasures_replayed",
    "expired_unconfirmed",
    "extended",
    "extension_letter_failed",
    "followup",
    "fulfilment_failed",
    "fulfilment_resumed",
    "fulfilment_retry",
    "fulfilment_started",
    "held_after_restore",
    "held_after_stuck",
    "image_erased",
    "match_confirmed",
    "match_rejected",
    "overdue_escalated",
    "recipient_changed",
    "recipient_created",
    "recipient_notice_acknowledged",
    "recipient_notice_chased",
    "recipient_notice_created",
    "recipient_notice_extended",
    "recipient_notice_sent",
    "recipient_notice_webhook_delivered",
    "recipients_missing_contact_alerted",
    "refusal_letter_failed",
    "refused",
    "releases_recorded",
    "request_approved",
    "requests_linked",
    "requeued_after_stuck",
    "retention_images_deleted",
    "review_screen_viewed",
    "search_done",
    "search_failed",
    "search_resumed",
    "search_retry",
    "search_started",
    "selfie_added",
    "selfie_checked",
    "selfie_unusable",
    "staff_role_added",
    "staff_role_changed",
    "staff_role_deleted",
    "staff_user_added",
    "staff_user_changed",
    "staff_user_deleted",
    "submitted",
    "suppressed_image_deleted",
    "suppression_added",
    "verification_data_purged",
]


def test_every_stored_action_keeps_its_value() -> None:
    assert set(STORED) <= set(AuditAction.values)
    for value in STORED:
        assert AuditAction(value) == value


def test_no_action_is_written_as_a_bare_string() -> None:
    """An ``action=`` keyword in rights/ is an AuditAction member, or AuditAction(...) of a built name."""
    root = Path(settings.BASE_DIR) / "rights"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
                continue  # argparse's action="store_true"
            for keyword in node.keywords:
                if keyword.arg == "action" and isinstance(keyword.value, ast.Constant | ast.JoinedStr):
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []


def test_a_built_name_that_is_not_an_action_is_refused() -> None:
    """A step or decision spelled wrongly fails loudly instead of writing an action nobody counts."""
    with pytest.raises(ValueError):
        AuditAction("fulfillment_failed")


def test_the_figures_and_recovery_read_the_enum() -> None:
    assert cnil.ERASURE_VERIFICATION_FAILED is AuditAction.ERASURE_VERIFICATION_FAILED
    assert cnil.ACCESS_HELD_INCOMPLETE is AuditAction.ANSWER_HELD_INCOMPLETE
    assert recovery.REQUEUE_ACTION is AuditAction.REQUEUED_AFTER_STUCK
