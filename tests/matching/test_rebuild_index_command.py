"""manage.py rebuild_index: the index is a cache; the database is the record."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from matching.services.index import index_cache_clear, index_ids, index_load
from tests.matching.conftest import unit_vectors
from tests.matching.helpers import image_with_faces

pytestmark = pytest.mark.django_db


def test_rebuild_from_the_database_after_the_index_is_lost(settings):
    images = [image_with_faces(vectors=unit_vectors(2, seed=i)) for i in range(3)]
    for path in settings.INDEX_DIR.iterdir():  # the index lost: manifest and segments
        path.unlink()
    index_cache_clear()
    out = io.StringIO()
    call_command("rebuild_index", stdout=out)
    assert "6 faces" in out.getvalue()
    _, index = index_load()
    expected = {pk for image in images for pk in image.faces.values_list("pk", flat=True)}
    assert set(index_ids(index=index).tolist()) == expected
