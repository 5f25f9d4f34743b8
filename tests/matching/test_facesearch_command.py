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

from matching.models import Face

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


RECALL_PER_QUERY = 0.95
# Queries where the contract's "largest face" is not the person: --all-faces must find them.
FOUND_WITH_ALL_FACES: dict[str, str] = {
    "Diana_Krall": "Diana_Krall_0006 (held back): her husband's face is the larger one",
}
MATCH_FIELDS = {"image_id", "path", "source_url", "score", "band", "bbox", "group"}


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


def _search(query_paths: list[Path], *extra: str) -> list[dict]:
    out = io.StringIO()
    call_command("facesearch", *map(str, query_paths), "--json", *extra, stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    assert [line["query"] for line in lines] == [str(p) for p in query_paths]
    return lines


def _figures(lines: list[dict], queries: dict[Path, str], owner_of_image: dict[int, str]) -> dict:
    """Per query: the person's images in the match band, in either band, held; strangers by band; groups."""
    images_of = defaultdict(set)
    for image_id, identity in owner_of_image.items():
        images_of[identity].add(image_id)
    per_query, strangers, groups, cross = {}, {"match": [], "review": []}, [], set()
    for line in lines:
        identity = queries[Path(line["query"])]
        assert line["faces_in_query"] >= 1
        own = images_of[identity]
        matched = {m["image_id"] for m in line["matches"] if m["band"] == "match"}
        banded = {m["image_id"] for m in line["matches"]}
        per_query[identity] = (len(own & matched), len(own & banded), len(own))
        for m in line["matches"]:
            assert set(m) == MATCH_FIELDS and m["group"] >= 1
            other = owner_of_image[m["image_id"]]
            if (identity, other) in TRUE_CROSS_IDENTITY_MATCHES:  # the person, in someone else's photo
                cross.add((identity, other, m["band"]))
            elif other != identity:
                strangers[m["band"]].append(f"{identity} -> {other} ({m['image_id']}, {m['score']})")
        groups.append(len({m["group"] for m in line["matches"]}))
    n = len(per_query)
    # Recall of the person searched for: a query whose largest face is someone else is checked
    # with --all-faces instead (FOUND_WITH_ALL_FACES).
    scored = [v for w, v in per_query.items() if w not in FOUND_WITH_ALL_FACES] or list(per_query.values())
    return {
        "per_query": per_query,
        "strangers": strangers,
        "cross": cross,
        "recall_match": sum(a / h for a, _, h in scored) / len(scored),
        "recall_match_review": sum(b / h for _, b, h in scored) / len(scored),
        "below_match": sorted(w for w, (a, _, h) in per_query.items() if a < RECALL_PER_QUERY * h),
        "missing_in_bands": sorted(w for w, (_, b, h) in per_query.items() if b < h),
        "groups_per_query": sum(groups) / n,
        "candidates_per_query": sum(len(line["matches"]) for line in lines) / n,
    }


def _report(name: str, figures: dict, thresholds: dict) -> None:
    print(
        f"\n{name}: thresholds {thresholds}; {len(figures['per_query'])} queries; recall match "
        f"{figures['recall_match']:.4f}, match+review {figures['recall_match_review']:.4f}; below "
        f"{RECALL_PER_QUERY:.0%} in match: {len(figures['below_match'])} {figures['below_match']}; missing "
        f"in both bands: {figures['missing_in_bands']}; "
        f"strangers match {len(figures['strangers']['match'])}, "
        f"review {len(figures['strangers']['review'])} {figures['strangers']['review']}; groups per query "
        f"{figures['groups_per_query']:.2f}, candidates per query {figures['candidates_per_query']:.2f}"
    )


def test_held_back_images_find_their_person_and_nobody_else(held_back_collection, lfw_identities, settings):
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
    query_paths = sorted(queries)
    faces = Face.objects.count()

    # 1. The bands for this collection's own size (about 1,700 faces).
    settings.THRESHOLDS_FOR_FACES = 0
    lines = _search(query_paths)
    bands = lines[0]["thresholds"]
    assert all(line["thresholds"] == bands for line in lines)
    assert bands["faces_planned_for"] == faces and bands["review"] < bands["match"]
    small = _figures(lines, queries, owner_of_image)
    _report("own size", small, bands)
    # Bounds, not names: which queries fall below a recall depends on the CPU's arithmetic (issue 8).
    assert small["strangers"]["match"] == []  # no stranger in the match band
    assert small["recall_match"] >= 0.95
    assert len(small["below_match"]) <= 15
    assert small["recall_match_review"] >= 0.99
    assert len(small["missing_in_bands"]) <= 3
    # People in the background of others' photos are found (completeness), not just the labelled face.
    found_cross = {(a, b) for a, b, band in small["cross"] if band == "match"}
    assert {("Pete_Sampras", "Andre_Agassi"), ("Bob_Hope", "Jane_Russell")} <= found_cross

    # 2. The same collection searched with the bands of a million faces (issue 10's targets).
    settings.THRESHOLDS_FOR_FACES = 1_000_000
    lines = _search(query_paths)
    large_bands = lines[0]["thresholds"]
    assert large_bands["faces_planned_for"] == 1_000_000
    assert large_bands["match"] > bands["match"] and large_bands["review"] > bands["review"]
    large = _figures(lines, queries, owner_of_image)
    _report("1M faces", large, large_bands)
    assert large["strangers"]["match"] == []
    # Measured 0.980 with one selfie per query (the target is 0.98; a request's fused selfies reach
    # 1.000 in bench/decision.py): the bound leaves room for another CPU's arithmetic.
    assert large["recall_match_review"] >= 0.97
    # FMR(review) x 1M <= 20 strangers per request is about 4 over 120 queries of 1,700 faces
    # (measured: 4).
    assert len(large["strangers"]["review"]) <= 8
    assert large["groups_per_query"] <= 5  # measured: 1.03

    # 3. A query whose largest face is someone else: --all-faces finds the person.
    settings.THRESHOLDS_FOR_FACES = 0
    for identity in FOUND_WITH_ALL_FACES:
        query = next(path for path, who in queries.items() if who == identity)
        (line,) = _search([query], "--all-faces")
        in_match, _, held = _figures([line], {query: identity}, owner_of_image)["per_query"][identity]
        assert in_match >= RECALL_PER_QUERY * held, (identity, in_match, held)
