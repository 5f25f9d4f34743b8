"""Fixtures shared by the whole suite.

Test data comes from ../shared (faces and models); it is never copied into the repository.
A missing ../shared is an error, not a skip: the suite must prove the real pipeline.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest
from django.conf import settings

SHARED_DIR = Path(settings.BASE_DIR).parent / "shared"
FACES_DIR = SHARED_DIR / "faces"
LFW_DIR = FACES_DIR / "lfw-dev"
GROUP_PHOTO = FACES_DIR / "samples" / "group_6_faces.jpg"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not (LFW_DIR / "manifest.csv").is_file():
        raise pytest.UsageError(f"Test faces not found at {LFW_DIR}: the suite needs ../shared beside the checkout.")


@pytest.fixture(autouse=True)
def _isolated_var_dirs(settings, tmp_path: Path) -> None:
    """Every test writes media, the index and mail under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.INDEX_DIR = tmp_path / "index"
    settings.MAIL_DIR = tmp_path / "mail"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }


@pytest.fixture(scope="session")
def lfw_identities() -> dict[str, list[Path]]:
    """identity -> image paths (sorted), from lfw-dev/manifest.csv."""
    by_identity: dict[str, list[Path]] = defaultdict(list)
    with open(LFW_DIR / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            by_identity[row["identity"]].append(LFW_DIR / row["path"])
    return {identity: sorted(paths) for identity, paths in by_identity.items()}
