"""Filters of the dashboard's templates: stored codes shown to staff as the labels they read."""

from __future__ import annotations

from django import template

from rights.admin.common import action_label as _action_label
from rights.admin.common import status_label as _status_label

register = template.Library()


@register.filter
def status_label(code: str) -> str:
    """A status code stored as text (an audit row's from/to status) as its translated label."""
    return _status_label(code or "")


@register.filter
def action_label(code: str) -> str:
    """An audit row's action code as its translated label."""
    return _action_label(code or "")
