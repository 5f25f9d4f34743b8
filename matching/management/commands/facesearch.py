"""manage.py facesearch IMAGE... [--json] [--all-faces]"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from matching.services.embedding import FaceModelUnavailable
from matching.services.imaging import ImageRejected
from matching.services.search import hits_describe, image_search
from matching.services.thresholds import CalibrationUnavailable


class Command(BaseCommand):
    help = (
        "Find the collection images whose faces match the largest face of each query image "
        "(every face with --all-faces). --json prints one JSON object per query image per line. The "
        "bands are chosen for the faces searched (THRESHOLDS_FOR_FACES, else the index's face count)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("images", nargs="+", metavar="IMAGE")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--all-faces", action="store_true", help="search with every face in the query")

    def handle(self, *args: Any, **options: Any) -> None:
        first = True
        for raw in options["images"]:
            line: dict[str, Any] = {"query": raw, "faces_in_query": 0, "matches": []}
            try:
                data = Path(raw).read_bytes()
                # Reconcile the index with the database once, before the first search.
                result = image_search(data=data, all_faces=options["all_faces"], sync=first)
                first = False
                line["faces_in_query"] = result.faces_in_query
                line["matches"] = hits_describe(hits=result.hits, groups=result.groups)
                if result.thresholds is not None:
                    bands = result.thresholds
                    line["thresholds"] = {
                        "match": bands.match,
                        "review": bands.review,
                        "faces_planned_for": bands.faces_planned_for,
                    }
            except (FaceModelUnavailable, CalibrationUnavailable) as exc:
                raise CommandError(str(exc)) from exc
            except ImageRejected as exc:
                line["error"] = {"reason": exc.reason, "message": exc.message}
            except OSError as exc:
                line["error"] = {
                    "reason": "unreadable",
                    "message": f"Cannot read this file ({exc.strerror}).",
                }
            if options["json"]:
                self.stdout.write(json.dumps(line))
            else:
                self._print(line)

    def _print(self, line: dict[str, Any]) -> None:
        if "error" in line:
            self.stdout.write(f"{line['query']}: {line['error']['message']}")
            return
        bands = line["thresholds"]
        self.stdout.write(
            f"{line['query']}: {line['faces_in_query']} faces, {len(line['matches'])} matches "
            f"(match >= {bands['match']:.3f}, review >= {bands['review']:.3f}, "
            f"for {bands['faces_planned_for']:,} faces)"
        )
        for match in line["matches"]:
            self.stdout.write(
                f"  {match['band']:6} {match['score']:.3f}  group {match['group']:<3} "
                f"image {match['image_id']}  {match['source_url'] or match['path']}"
            )
