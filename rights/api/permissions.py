"""Who may read the API: active staff with the model's view permission."""

from __future__ import annotations

from rest_framework import permissions


class ViewPermission(permissions.BasePermission):
    """Staff with the model's view permission (every role has it; see the roles migration)."""

    def has_permission(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        model = view.queryset.model
        user = request.user
        return bool(
            user
            and user.is_active
            and user.is_staff
            and user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}")
        )
