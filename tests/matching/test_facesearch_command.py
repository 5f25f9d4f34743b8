"""facesearch end to end with the real models on lfw-dev: recall in the match band, no false matches.

Every person in lfw-dev with 4+ images has one image held back; the rest of lfw-dev (including the
800 one-image distractors) is ingested through the `ingest` command; each held-back image is then
searched with `facesearch --json`, exactly as an operator would.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from pathlib import Path

import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.models, pytest.mark.django_db]

# (query identity, identity the collection image is filed under) where the matched face truly is
# the query's person, each checked by eye. A person in the background of someone else's photo is
# a true match, and exactly what a rights search must find.
TRUE_CROSS_IDENTITY_MATCHES: set[tuple[str, str]] = {
    ("Andre_Agassi", "Pete_Sampras"),  # Pete_Sampras_0002: Agassi stands behind Sampras, right edge
    ("Pete_Sampras", "Andre_Agassi"),  # Andre_Agassi_0001: Sampras beside Agassi, left edge
    ("Bob_Hope", "Jane_Russell"),  # Jane_Russell_0001: Bob Hope cheek to cheek with her, right
    ("King_Abdullah_II", "Queen_Rania"),  # Queen_Rania_0002: the King, half cut off at the left edge
    ("Jon_Gruden", "John_Gruden"),  # LFW files one photo of Jon Gruden under a misspelt name
}


@pytest.fixture
def held_back_collection(tmp_path, lfw_identities):
    """lfw-dev minus one image per person with 4+ images, as a folder of links; (queries, owner)."""
    folder = tmp_path / "collection"
    queries: dict[Path, str] = {}
    for identity, paths in lfw_identities.items():
        keep = paths
        if len(paths) >= 4:
            queries[paths[-1]] = identity
            keep = paths[:-1]
        (folder / identity).mkdir(parents=True)
        for path in keep:
            (folder / identity / path.name).symlink_to(path)
    return folder, queries


def test_held_back_images_find_their_person_and_nobody_else(held_back_collection, lfw_identities):
    folder, queries = held_back_collection
    out = io.StringIO()
    # Both cores; the analysis processes hand their results back, so nothing is embedded twice.
    call_command("ingest", str(folder), "--json", "--workers", "2", stdout=out)
    summary = json.loads(out.getvalue())
    # lfw-dev holds one file twice, under two names (Bart_Hendricks_0001 = Ricky_Ray_0001).
    assert summary["duplicates"] == 1
    assert summary["added"] == sum(len(p) for p in lfw_identities.values()) - len(queries) - 1
    assert summary["rejected"] == []
    owner_of_image = {
        entry["image_id"]: Path(entry["path"]).parent.name for entry in summary["images"] if entry["image_id"]
    }
    images_of = defaultdict(set)
    for image_id, identity in owner_of_image.items():
        images_of[identity].add(image_id)

    out = io.StringIO()
    query_paths = sorted(queries)
    call_command("facesearch", *map(str, query_paths), "--json", stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    assert [line["query"] for line in lines] == [str(p) for p in query_paths]

    found = expected = 0
    misses: list[str] = []
    false_matches: list[str] = []
    true_cross_found: set[tuple[str, str]] = set()
    for line in lines:
        identity = queries[Path(line["query"])]
        assert line["faces_in_query"] >= 1
        assert set(line["matches"][0]) == {"image_id", "path", "source_url", "score", "band", "bbox"}
        matched = {m["image_id"] for m in line["matches"] if m["band"] == "match"}
        own = images_of[identity]
        expected += len(own)
        found += len(own & matched)
        if own - matched:
            misses.append(f"{identity}: {len(own - matched)} of {len(own)} not in the match band")
        for m in line["matches"]:
            other = owner_of_image[m["image_id"]]
            if m["band"] == "match" and (identity, other) in TRUE_CROSS_IDENTITY_MATCHES:
                true_cross_found.add((identity, other))
            if (
                m["band"] == "match"
                and other != identity
                and (identity, other) not in TRUE_CROSS_IDENTITY_MATCHES
            ):
                false_matches.append(
                    f"{identity} -> {other} (image {m['image_id']}, {m['score']}, bbox {m['bbox']})"
                )
    recall = found / expected
    print(f"\nmatch-band recall {found}/{expected} = {recall:.4f}; misses: {misses}")
    print("cross-identity matches:\n" + "\n".join(false_matches))
    # Known miss: in Diana_Krall_0006 (held back) her husband's face is the larger one, and the
    # contract searches the largest face of a query; --all-faces would find her.
    assert recall >= 0.95, misses
    assert false_matches == []
    # People in the background of others' photos are found (completeness), not just the labelled face.
    assert {("Pete_Sampras", "Andre_Agassi"), ("Bob_Hope", "Jane_Russell")} <= true_cross_found
