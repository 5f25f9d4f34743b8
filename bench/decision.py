"""The match rule at scale on lfw-dev: thresholds, strangers, recall and staff decisions per request.

    .venv/bin/python bench/decision.py [--sizes 10000 100000 1000000 10000000] [--cache FILE]

lfw-dev is split by identity (``calibration_half_of``): the committed calibration
(matching/calibration/buffalo_sc.json) was fitted on the calibration half; the figures here are
measured on the other half's people only (every one with 4+ images). Each of them gives up to three
selfies (never leaving fewer than two images in the collection); the collection is every other
lfw-dev image, all their faces (about 1,700). For each size N, ``thresholds_for(faces=N)`` gives
the bands; recall is measured on the collection, strangers per request are the calibrated
FMR x N (a 1,700-face collection cannot show a 10M-face collection's strangers) next to what the
small collection showed. Figures are printed and written to bench/results/decision.json.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

LFW = Path(__file__).resolve().parent.parent.parent / "shared" / "faces" / "lfw-dev"
RESULTS = Path(__file__).resolve().parent / "results" / "decision.json"
# Collection photos of another LFW name that truly show the query's person (checked by eye; the
# same list as tests/matching/test_facesearch_command.py): not strangers.
TRUE_CROSS = {
    ("Andre_Agassi", "Pete_Sampras"),
    ("Pete_Sampras", "Andre_Agassi"),
    ("Bob_Hope", "Jane_Russell"),
    ("King_Abdullah_II", "Queen_Rania"),
    ("Jon_Gruden", "John_Gruden"),
}


def embed_all(cache: Path | None) -> dict[str, np.ndarray]:
    """Every face of every lfw-dev image (vectors, image of each face, central flag) plus labels."""
    if cache is not None and cache.is_file():
        with np.load(cache) as data:
            return {key: data[key] for key in data.files}
    from matching.services.analysis import image_analyse
    from matching.services.embedding import face_central_pick

    with open(LFW / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    vecs, img_of, central, idents, shas = [], [], [], [], []
    for i, row in enumerate(rows):
        data = (LFW / row["path"]).read_bytes()
        analysis = image_analyse(data=data)
        pick = face_central_pick(faces=analysis.faces, width=analysis.width, height=analysis.height)
        for face in analysis.faces:
            vecs.append(face.embedding)
            img_of.append(i)
            central.append(face is pick)
        idents.append(row["identity"])
        shas.append(hashlib.sha256(data).hexdigest())
    result = {
        "vecs": np.stack(vecs).astype(np.float32),
        "img_of": np.asarray(img_of),
        "central": np.asarray(central),
        "idents": np.asarray(idents),
        "shas": np.asarray(shas),
    }
    if cache is not None:
        np.savez(cache, **result)
    return result


def validate_calibration(
    *, data: dict[str, np.ndarray], central_face: dict[int, int]
) -> list[dict[str, object]]:
    """The committed calibration (fitted on one half) against what the other half measures."""
    from django.conf import settings

    from matching.services.calibration import calibration_from_vectors, calibration_half_of

    committed = json.loads(Path(settings.THRESHOLDS_CALIBRATION_FILE).read_text())
    chosen = [
        i
        for i in sorted(central_face)
        if calibration_half_of(identity=str(data["idents"][i])) == "evaluation"
    ]
    report = calibration_from_vectors(
        vectors=[data["vecs"][central_face[i]] for i in chosen],
        labels=[str(data["idents"][i]) for i in chosen],
        digests=[str(data["shas"][i]) for i in chosen],
        images=len(chosen),
    )
    rows = []
    for photos in ("1", "3"):
        measured = report.fmr_curve if photos == "1" else report.fused[photos].fmr_curve
        pairs = report.impostor_pairs if photos == "1" else report.fused[photos].impostor_pairs
        fitted = committed["fmr_curve"] if photos == "1" else committed["fused"][photos]["fmr_curve"]
        for threshold in (0.25, 0.30, 0.35, 0.40):
            m = next(r for r in measured if abs(r["threshold"] - threshold) < 1e-9)
            c = next(r for r in fitted if abs(r["threshold"] - threshold) < 1e-9)
            rows.append(
                {
                    "threshold": threshold,
                    "photos": int(photos),
                    "measured_on_evaluation_half": m["measured"],
                    "pairs_at_or_above": round(m["measured"] * pairs),
                    "calibration_fmr": c["fmr"],
                    "calibration_fmr_upper": c["fmr_upper"],
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 10_000_000])
    parser.add_argument("--cache", type=Path, help="embeddings cache (.npz): written once, then read")
    args = parser.parse_args()
    import django

    django.setup()
    from matching.services.calibration import calibration_half_of, query_fuse
    from matching.services.search import vectors_group
    from matching.services.thresholds import MAX_FUSED, thresholds_for

    data = embed_all(args.cache)
    vecs, img_of, central, idents = data["vecs"], data["img_of"], data["central"], data["idents"]
    images_of: dict[str, list[int]] = defaultdict(list)
    for image, who in enumerate(idents):
        images_of[str(who)].append(image)
    central_face = {int(img_of[f]): f for f in np.nonzero(central)[0]}
    people = sorted(
        who
        for who, imgs in images_of.items()
        if len(imgs) >= 4
        and calibration_half_of(identity=who) == "evaluation"
        and all(i in central_face for i in imgs)
    )
    selfies = {who: images_of[who][-min(3, len(images_of[who]) - 2) :] for who in people}
    held = {i for imgs in selfies.values() for i in imgs}
    collection = np.asarray([f for f in range(len(vecs)) if int(img_of[f]) not in held])
    coll_vecs, coll_img = vecs[collection], img_of[collection]
    owner = idents[coll_img]

    def own_mask(who: str) -> np.ndarray:
        others = {b for a, b in TRUE_CROSS if a == who}
        return (owner == who) | np.isin(owner, list(others))

    queries = {
        "one selfie": {who: vecs[[central_face[selfies[who][0]]]] for who in people},
        "best of selfies": {who: vecs[[central_face[i] for i in selfies[who]]] for who in people},
        "fused selfies": {
            who: query_fuse(vectors=vecs[[central_face[i] for i in selfies[who]]])[None, :] for who in people
        },
    }
    collection_faces = int(collection.size)
    figures: list[dict[str, object]] = []
    for size in args.sizes:
        row: dict[str, object] = {
            "faces": size,
            "thresholds": thresholds_for(faces=size).as_dict(),
            "protocols": {},
        }
        for name, per_person in queries.items():
            stats = defaultdict(list)
            bands_used = {}
            for who in people:
                # A fused query has the bands of its own calibration (k photos); the others one photo's.
                k = len(selfies[who]) if name == "fused selfies" else 1
                t = thresholds_for(faces=size, selfies=k)
                bands_used[k] = t
                scores = (coll_vecs @ per_person[who].T).max(axis=1)  # best over the query's vectors
                own = own_mask(who)
                own_images = set(coll_img[own].tolist())
                in_match = scores >= t.match
                in_review = (scores >= t.review) & ~in_match
                found_match = set(coll_img[own & in_match].tolist())
                found_any = set(coll_img[own & (in_match | in_review)].tolist())
                stats["recall_match"].append(len(found_match) / len(own_images))
                stats["recall_match_review"].append(len(found_any) / len(own_images))
                stats["strangers_match_seen"].append(int((~own & in_match).sum()))
                stats["strangers_review_seen"].append(int((~own & in_review).sum()))
                stats["own_review_faces"].append(int((own & in_review).sum()))
                # Vectors compared per face: best of k selfies pays k times one selfie's strangers.
                stats["expected_match"].append(t.match_expected_strangers * per_person[who].shape[0])
                stats["expected_review"].append(t.review_expected_strangers * per_person[who].shape[0])
                candidates = np.nonzero(in_match | in_review)[0]
                # Query expansion as person_expand: staff confirm the person's candidates; selfies and
                # confirmed faces fused search again at the match threshold of a 3-photo query.
                confirmed = coll_vecs[candidates[own[candidates]]]
                if confirmed.size:
                    strict = thresholds_for(faces=size, selfies=MAX_FUSED).match
                    expanded = query_fuse(vectors=np.vstack([per_person[who], confirmed]))
                    again = ((coll_vecs @ expanded) >= strict) & ~(in_match | in_review)
                else:
                    again = np.zeros(coll_vecs.shape[0], dtype=bool)
                stats["expansion_new_own_images"].append(len(set(coll_img[own & again].tolist()) - found_any))
                stats["expansion_new_strangers_seen"].append(int((~own & again).sum()))
                labels = vectors_group(vectors=coll_vecs[candidates])
                review_groups = {lab for lab, c in zip(labels, candidates, strict=True) if in_review[c]}
                stats["own_review_groups"].append(
                    len({lab for lab, c in zip(labels, candidates, strict=True) if in_review[c] and own[c]})
                )
                mixed = sum(
                    1
                    for lab in set(labels)
                    if len({bool(own[c]) for c, la in zip(candidates, labels, strict=True) if la == lab}) > 1
                )
                stats["mixed_groups"].append(mixed)
                stats["review_groups_seen"].append(len(review_groups))
                stats["queries_recall_below_1"].append(int(len(found_any) < len(own_images)))

            def mean(key: str, stats: dict[str, list] = stats) -> float:
                return round(float(np.mean(stats[key])), 4)

            expected_match, expected_review = mean("expected_match"), mean("expected_review")
            row["protocols"][name] = {
                "queries": len(people),
                "bands": {str(k): [t.match, t.review] for k, t in sorted(bands_used.items())},
                "recall_match": mean("recall_match"),
                "recall_match_review": mean("recall_match_review"),
                "queries_missing_an_image_in_match_review": int(np.sum(stats["queries_recall_below_1"])),
                "expected_strangers_match": round(expected_match, 4),
                "expected_strangers_review": round(expected_review, 2),
                "strangers_seen_on_lfw_dev_match": int(np.sum(stats["strangers_match_seen"])),
                "strangers_seen_on_lfw_dev_review": int(np.sum(stats["strangers_review_seen"])),
                "staff_faces_per_request": round(mean("own_review_faces") + expected_review, 2),
                "staff_groups_per_request": round(mean("own_review_groups") + expected_review, 2),
                "groups_mixing_person_and_stranger": int(np.sum(stats["mixed_groups"])),
                "expansion_new_images_per_request": mean("expansion_new_own_images"),
                "expansion_new_strangers_seen": int(np.sum(stats["expansion_new_strangers_seen"])),
            }
        figures.append(row)
        one = row["thresholds"]
        print(f"N={size:>10,}  one photo: match {one['match']:.3f} review {one['review']:.3f}")
        for name, p in row["protocols"].items():
            print(
                f"   {name:16} recall match {p['recall_match']:.3f}  "
                f"match+review {p['recall_match_review']:.3f}  "
                f"strangers/request match {p['expected_strangers_match']:.3g} "
                f"review {p['expected_strangers_review']:.3g}  "
                f"staff faces {p['staff_faces_per_request']:.1f} groups {p['staff_groups_per_request']:.1f}  "
                f"expansion +{p['expansion_new_images_per_request']:.2f} img  bands {p['bands']}"
            )
    validation = validate_calibration(data=data, central_face=central_face)
    for row in validation:
        print(
            f"   validation t={row['threshold']:.2f} photos={row['photos']}: evaluation half measured "
            f"{row['measured_on_evaluation_half']:.2e} ({row['pairs_at_or_above']} pairs), calibration fit "
            f"{row['calibration_fmr']:.2e}, bound {row['calibration_fmr_upper']:.2e}"
        )
    document = {
        "validation": validation,
        "meta": {
            "data": "lfw-dev, evaluation half of the identities (calibration on the other half)",
            "queries": len(people),
            "collection_faces": collection_faces,
            "selfies_per_query": round(float(np.mean([len(s) for s in selfies.values()])), 2),
            "machine": platform.processor() or platform.machine(),
        },
        "results": figures,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=1) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
