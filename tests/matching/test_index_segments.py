"""The segmented index: sealing and merging, physical erasure, crash safety at every step, bad input."""

from __future__ import annotations

import json
import mmap

import numpy as np
import pytest
from django.conf import settings

import matching.services.index.writer as writer_module
from matching.services.index import (
    index_add,
    index_cache_clear,
    index_ids,
    index_load,
    index_maintain,
    index_range_search,
    index_remove,
)
from matching.services.index.store import IndexCorrupt
from tests.matching.conftest import unit_vectors


@pytest.fixture(autouse=True)
def _small_segments(settings):
    settings.INDEX_SEGMENT_FACES = 100  # several sealed segments from a few hundred faces


def _files() -> list[str]:
    return sorted(p.name for p in settings.INDEX_DIR.iterdir())


def _every_byte_on_disk() -> bytes:
    return b"".join(p.read_bytes() for p in settings.INDEX_DIR.iterdir() if p.is_file())


def _answers(queries: np.ndarray, threshold: float) -> list[dict[int, float]]:
    return [
        dict(zip(ids.tolist(), scores.tolist(), strict=True))
        for ids, scores in index_range_search(vectors=queries, threshold=threshold)
    ]


def _same(a: list[dict[int, float]], b: list[dict[int, float]]) -> bool:
    """The same faces for every query, scores equal up to float32 summation order (kernels differ)."""
    return all(x.keys() == y.keys() and x == pytest.approx(y, abs=1e-5) for x, y in zip(a, b, strict=True))


def _collection(n: int = 450, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    vectors = unit_vectors(n, seed=seed)
    ids = np.arange(1, n + 1)
    for start in range(0, n, 64):  # ingestion-sized batches
        index_add(ids=ids[start : start + 64], vectors=vectors[start : start + 64])
    return ids, vectors


def test_sealing_and_merging_keep_every_answer_and_cost_only_what_they_move():
    _ids, vectors = _collection()
    queries = np.vstack([vectors[:3], unit_vectors(6, seed=7)])
    before = _answers(queries, 0.05)
    assert [f for f in _files() if f.startswith("seg-")] == []  # additions only append
    result = index_maintain()
    assert result.sealed == 450 and result.merged == 0
    seg_files = [f for f in _files() if f.startswith("seg-")]
    assert len(seg_files) == 5 and not [f for f in _files() if f.startswith("grow-")]
    assert _same(_answers(queries, 0.05), before)
    # Erasures shrink segments; the upkeep then merges the small ones, answers unchanged.
    index_remove(ids=np.concatenate([np.arange(1, 70), np.arange(101, 170)]))
    after_removal = _answers(queries, 0.05)
    merged = index_maintain()
    assert merged.merged == 2
    assert _same(_answers(queries, 0.05), after_removal)
    assert index_maintain().merged == 0 and index_maintain().sealed == 0  # a second run: nothing to do


def test_a_reader_opens_only_the_segments_it_has_not_got():
    _collection(300)
    index_maintain()
    _, first = index_load()
    index_add(ids=[1000], vectors=unit_vectors(1, seed=3))
    _, second = index_load()
    assert second.version == first.version + 1
    sealed_before = [s for s in first.segments if s.info.name.startswith("seg-")]
    sealed_after = [s for s in second.segments if s.info.name.startswith("seg-")]
    assert [id(s) for s in sealed_after] == [id(s) for s in sealed_before]  # same maps, not reopened
    assert all(isinstance(s._keep[0].base.obj, mmap.mmap) for s in sealed_after)  # mapped, not read in


def test_removal_is_physical_no_file_on_disk_holds_the_vectors():
    _ids, vectors = _collection(300)
    index_maintain()
    index_add(ids=[500, 501], vectors=unit_vectors(2, seed=11))  # and two in the growing segment
    grown = unit_vectors(2, seed=11)
    gone = [5, 150, 299]
    assert all(vectors[i - 1].tobytes() in _every_byte_on_disk() for i in gone)
    assert index_remove(ids=[*gone, 501]) == 4
    on_disk = _every_byte_on_disk()
    for i in gone:
        assert vectors[i - 1].tobytes() not in on_disk
    assert grown[1].tobytes() not in on_disk and grown[0].tobytes() in on_disk
    assert vectors[0].tobytes() in on_disk  # the others are still there
    manifest = json.loads((settings.INDEX_DIR / "manifest").read_bytes())
    named = {s["name"] for s in manifest["sealed"]} | {manifest["growing"]["name"]}
    assert {f for f in _files() if f.startswith(("seg-", "grow-"))} == named  # no old segment left


def test_a_reader_still_mapping_an_old_segment_sees_the_erased_vectors_zeroed():
    _ids, _vectors = _collection(200)
    index_maintain()
    _, old = index_load()
    index_remove(ids=[7])
    segment = next(s for s in old.segments if 7 in s.ids.tolist())
    row = segment.ids.tolist().index(7)
    assert not np.asarray(segment.vectors[row]).any()  # the file was scrubbed before its unlink


STEPS = ["segments-written", "before-manifest", "after-manifest", "scrubbed"]


@pytest.mark.parametrize("crash_at", STEPS)
def test_a_crash_at_any_step_leaves_the_old_or_the_new_index_and_the_next_writer_cleans_up(
    monkeypatch, crash_at
):
    _ids, vectors = _collection(300)
    index_maintain()
    queries = vectors[[9, 10, 200]]
    old = _answers(queries, 0.99)

    def crash(name: str) -> None:
        if name == crash_at:
            raise OSError(f"simulated crash at {name}")

    monkeypatch.setattr(writer_module, "step", crash)
    with pytest.raises(OSError, match="simulated crash"):
        index_remove(ids=[10, 201])
    monkeypatch.undo()
    index_cache_clear()  # another process, after the crash
    seen = _answers(queries, 0.99)
    committed = crash_at in ("after-manifest", "scrubbed")
    assert _same(seen, [{}, old[1], {}] if committed else old)  # the old index or the new, never neither
    assert index_ids(index=index_load()[1]).size == (298 if committed else 300)
    # The retried erasure (the caller's retry) finishes the job: no debris, no erased vector on disk.
    index_remove(ids=[10, 201])
    on_disk = _every_byte_on_disk()
    assert vectors[9].tobytes() not in on_disk and vectors[200].tobytes() not in on_disk
    assert not [f for f in _files() if f.startswith(".tmp-")]
    assert _same(_answers(queries, 0.99), [{}, old[1], {}])


def test_a_tail_appended_without_its_manifest_is_ignored_then_cut_off(monkeypatch):
    index_add(ids=[1, 2], vectors=unit_vectors(2, seed=1))

    def crash(name: str) -> None:
        if name == "before-manifest":
            raise OSError("simulated crash")

    monkeypatch.setattr(writer_module, "step", crash)
    with pytest.raises(OSError):
        index_add(ids=[3], vectors=unit_vectors(1, seed=2))
    monkeypatch.undo()
    index_cache_clear()
    assert sorted(index_ids(index=index_load()[1]).tolist()) == [1, 2]
    assert index_add(ids=[3, 4], vectors=unit_vectors(2, seed=3)) == 2
    (grow,) = [p for p in settings.INDEX_DIR.iterdir() if p.name.startswith("grow-")]
    assert grow.stat().st_size == 4 * 2056  # the crashed tail was cut off, not kept beside the new rows
    assert sorted(index_ids(index=index_load()[1]).tolist()) == [1, 2, 3, 4]


def test_bad_input_gets_a_clear_error_and_writes_nothing():
    index_add(ids=[1], vectors=unit_vectors(1))
    before = _files(), (settings.INDEX_DIR / "manifest").read_bytes()
    with pytest.raises(ValueError, match="differ in length"):  # 2 ids, 1 vector
        index_add(ids=[2, 3], vectors=unit_vectors(1))
    with pytest.raises(ValueError):  # a vector of the wrong size
        index_add(ids=[2], vectors=np.ones(100, dtype=np.float32))
    assert index_remove(ids=[]) == 0 and index_remove(ids=[99]) == 0  # nothing to remove: no change
    assert (_files(), (settings.INDEX_DIR / "manifest").read_bytes()) == before


def test_a_damaged_manifest_is_refused_with_the_repair_to_run():
    index_add(ids=[1], vectors=unit_vectors(1))
    (settings.INDEX_DIR / "manifest").write_bytes(b"{not json")
    index_cache_clear()
    with pytest.raises(IndexCorrupt, match="rebuild_index"):
        index_range_search(vectors=unit_vectors(1), threshold=0.5)
