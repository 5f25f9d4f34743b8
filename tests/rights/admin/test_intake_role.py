"""The privacy officer's role (migration rights 0010) may record requests; a reviewer's may not."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group


@pytest.mark.django_db
def test_the_officer_role_has_add_datarequest_and_the_reviewer_role_not():
    officer = Group.objects.get(name="Privacy officer")
    reviewer = Group.objects.get(name="Reviewer")
    assert officer.permissions.filter(codename="add_datarequest", content_type__app_label="rights").exists()
    assert not reviewer.permissions.filter(codename="add_datarequest").exists()
