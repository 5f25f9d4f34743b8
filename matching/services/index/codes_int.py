"""Queries against 8-bit codes in integers: the product of the codes with coded queries is exact.

The query q is coded too: q' = s_q * c_q with s_q = max|q_j| / L for L levels, and its error norm
e_q = ||q - q'|| (float64, rounded up). The product c.c_q is computed exactly in 32-bit integers,
by one of three kernels (``codes_kernel_choose``):

- ``llvm``, on every CPU with AVX2 (every x86-64 this project targets), for every batch size, with
  16-bit query codes (L = 32767): blocks of up to 8 queries in registers, each product compared
  with its query's limit as it goes (codes_llvm.py). Through the whole screen, one thread scanned
  1.8-2.6 GB/s of codes for 16 queries against 0.8 for numba and 1.1-1.2 for onnxruntime, and 5.7
  for one query, level with numba (bench/codes_kernels.py, this AVX2 machine).

Without AVX2, by batch size:

- ``numba`` (below ``ORT_FROM`` queries): a compiled loop, row by row, ``acc += int32(c_j) *
  int32(c_qj)``, with 16-bit query codes (L = 32767). It cannot overflow: |c.c_q| <= 512 * 127 *
  32767 < 2**31, and the arithmetic is int32 as written whatever instructions LLVM picks. With 16
  bits the query's coding error is about 1/258 of the 8-bit one's, so the bound is the float
  path's, and the candidates to re-check are as few.
- ``ort`` (from ``ORT_FROM`` on): onnxruntime's MatMulInteger, the codes shifted to unsigned bytes
  by flipping their top bit, with a zero point of 128, and 7-bit query codes (L = 63): an AVX2
  pair sum 2 * 255 * 63 stays below 2**15, so its 16-bit sums never saturate. The pairs that pass
  are screened again with the 16-bit query codes (int64 products of those pairs only): at 10M, a
  batch of 16 left 28,122 candidates on the 7-bit bound and 6,749 on the 16-bit one.

For the unit vectors the index holds (x' = s * c, e as in codes.py, so ||x'|| <= 1 + e),

    |q.x - s * s_q * (c.c_q)| <= ||q|| * e + e_q * (1 + e),

and the float64 product of the scales adds next to nothing. A face with fl(q.x) >= t therefore
scores at least t - ||q|| e - e_q (1 + e) - slack here (slack as in codes.py), and every face
passing that is re-checked on its float32 vector, as on the float path: the brute force answer.

Measured on this machine: ``ORT_FROM`` (``bench/codes_kernels.py``, one thread, 131,072 codes).
"""

from __future__ import annotations

import threading

import numpy as np

from matching.services.index.codes import DIM, lowered_bound
from matching.services.index.codes_llvm import Pairs, block_size, llvm_kernels, llvm_screen
from matching.services.index.jit import host_has

# Queries per batch from which onnxruntime's product beats the numba loop (bench/codes_kernels.py,
# quiet machine, two runs): codes scanned per second on one thread, numba / ort: 1 query 7.5-7.7 /
# 1.6-2.8 GB/s, 4: 3.8-3.9 / 1.4-2.6, 8: 2.1 / 1.9-2.7, 16: 0.6-1.1 / 1.3-1.6 (decoding to float32:
# 3.3-3.9, 1.4-1.7, 1.4-1.7, 0.9-1.1). Close at 8 (at 10M: numba 1.3-1.4 s, onnxruntime 1.5-1.9 s).
ORT_FROM = 8
ORT_LEVELS = 63  # 7-bit query codes: the bound on an AVX2 kernel's 16-bit pair sums
NUMBA_LEVELS = 32767  # 16-bit query codes: int32 sums of 512 products of 127 * 32767 cannot overflow
assert DIM * 127 * NUMBA_LEVELS < 2**31
_BLOCK_ROWS = 8192  # codes per product: 4 MB of codes, one comparison per block at its largest error
_U64 = 2.0**-52

_session_lock = threading.Lock()
_session = None
_kernel_lock = threading.Lock()
_kernel = None


def codes_kernel_choose(*, batch: int) -> str:
    """The integer kernel for a batch of this many queries: "llvm" on a CPU with AVX2; otherwise
    "numba" below ORT_FROM, else "ort"."""
    if batch < 1:
        raise ValueError(f"a batch has at least one query, not {batch}")
    if host_has(feature="avx2"):
        return "llvm"
    return "numba" if batch < ORT_FROM else "ort"


def _int_session():
    """One MatMulInteger graph (uint8 codes with zero point 128, times int8 queries), one thread a call."""
    global _session
    with _session_lock:
        if _session is None:
            import onnxruntime
            from onnx import TensorProto, helper

            graph = helper.make_graph(
                [helper.make_node("MatMulInteger", ["codes", "queries", "zero"], ["products"])],
                "codes_int",
                [
                    helper.make_tensor_value_info("codes", TensorProto.UINT8, ["rows", DIM]),
                    helper.make_tensor_value_info("queries", TensorProto.INT8, [DIM, "batch"]),
                ],
                [helper.make_tensor_value_info("products", TensorProto.INT32, ["rows", "batch"])],
                initializer=[helper.make_tensor("zero", TensorProto.UINT8, [], [128])],
            )
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
            model.ir_version = 8  # what this onnxruntime reads
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1  # the scan already runs one segment per core
            options.inter_op_num_threads = 1
            _session = onnxruntime.InferenceSession(
                model.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
        return _session


def numba_kernel():
    """The numba product (codes int8 (rows, DIM), query codes int16 (batch, DIM)) -> int32 (rows, batch).

    Compiled once per process, at first use, for its one signature (about 1 s): no on-disk cache, so
    a read-only image needs nowhere to write. nogil, so the scan's threads run segments in parallel.
    Read-only arrays in the signature: the segments are read-only maps (a writable array converts).
    """
    global _kernel
    with _kernel_lock:
        if _kernel is None:
            import numba
            from numba import types

            def readonly(dtype):
                return types.Array(dtype, 2, "C", readonly=True)

            out = types.Array(types.int32, 2, "C")
            signature = types.void(readonly(types.int8), readonly(types.int16), out)

            @numba.njit(signature, nogil=True, boundscheck=False, cache=False)
            def products(codes, query_codes, out):  # pragma: no cover - compiled, run as machine code
                for i in range(codes.shape[0]):
                    for b in range(query_codes.shape[0]):
                        acc = np.int32(0)
                        for j in range(codes.shape[1]):
                            acc += np.int32(codes[i, j]) * np.int32(query_codes[b, j])
                        out[i, b] = acc

            _kernel = products
        return _kernel


def queries_quantise(*, queries: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes (batch, DIM), float64 scales, float64 error norms rounded up) with ``levels`` levels a side.

    int8 codes up to 127 levels, int16 up to 32767: the smallest type that holds them.
    """
    if not 1 <= levels <= 32767:
        raise ValueError(f"query codes have 1 to 32767 levels, not {levels}")
    q = np.asarray(queries, dtype=np.float64)
    peak = np.abs(q).max(axis=1)
    scales = np.where(peak > 0, peak / levels, 1.0)
    dtype = np.int8 if levels <= 127 else np.int16
    codes = np.clip(np.rint(q / scales[:, None]), -levels, levels).astype(dtype)
    errors = np.linalg.norm(q - codes.astype(np.float64) * scales[:, None], axis=1) * (1 + 8 * _U64)
    return np.ascontiguousarray(codes), scales, np.nextafter(errors, np.inf)


def codes_candidates_int(
    *,
    codes: np.ndarray,
    scales: np.ndarray,
    errors: np.ndarray,
    queries: np.ndarray,
    threshold: float,
    kernel: str | None = None,
) -> list[np.ndarray]:
    """``codes_candidates`` by an exact integer product (a superset of the answer), each query's rows
    ascending. ``kernel``: "llvm", "numba" or "ort"; by default ``codes_kernel_choose`` picks."""
    kernel = kernel or codes_kernel_choose(batch=queries.shape[0])
    if kernel not in ("llvm", "numba", "ort"):
        raise ValueError(f"unknown integer kernel {kernel!r}: 'llvm', 'numba' or 'ort'")
    if kernel == "llvm" and not host_has(feature="avx2"):
        raise ValueError("the 'llvm' integer kernel needs a CPU with AVX2")
    norms = np.linalg.norm(queries.astype(np.float64), axis=1)
    levels = ORT_LEVELS if kernel == "ort" else NUMBA_LEVELS
    query_codes, query_scales, query_errors = queries_quantise(queries=queries, levels=levels)
    rows_max = min(_BLOCK_ROWS, codes.shape[0])
    batch = queries.shape[0]
    if kernel == "llvm":
        if codes.shape[1] != DIM or not codes.flags.c_contiguous:
            raise ValueError(f"the 'llvm' kernel reads C-ordered codes of {DIM} a row, not {codes.shape}")
        per_block = block_size(batch)
        blocked = llvm_kernels().products[per_block]
        screen_of = llvm_kernels().screen[per_block]
        pairs = Pairs(rows_max * per_block + 1)
        blocks = -(-batch // per_block)
        padded = np.zeros((blocks * per_block, DIM), dtype=np.int16)  # padding queries score 0
        padded[:batch] = query_codes
        products = np.empty((rows_max, blocks * per_block), dtype=np.int32)
    elif kernel == "numba":
        products_of = numba_kernel()
        products = np.empty((rows_max, batch), dtype=np.int32)
    else:
        session = _int_session()
        ort_queries = np.ascontiguousarray(query_codes.T)
        shifted = np.empty((rows_max, DIM), dtype=np.uint8)
        # The pairs passing the 7-bit bound are screened again with 16-bit query codes (exact int64
        # products of those pairs alone, codes already in cache): the numba path's tight bound, so a
        # batch re-checks as few float32 rows (2 KB each, often from disk) as single queries do.
        fine_codes, fine_scales, fine_errors = queries_quantise(queries=queries, levels=NUMBA_LEVELS)
    found: list[list[np.ndarray]] = [[] for _ in range(queries.shape[0])]
    for start in range(0, codes.shape[0], _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, codes.shape[0])
        err = errors[start:stop].astype(np.float64)
        coarse = _lowered_int(
            threshold=threshold, norms=norms, errors=float(err.max()), query_errors=query_errors
        )
        limits = _int_limits(scales=scales[start:stop], query_scales=query_scales, coarse=coarse)
        if kernel == "llvm" and limits is not None:
            rows, cols, values = llvm_screen(
                screen=screen_of,
                codes=codes[start:stop],
                padded=padded,
                limits=limits,
                per_block=per_block,
                pairs=pairs,
            )
        else:
            if kernel == "llvm":
                # One call per block of queries: after the first, the rows come from the CPU's cache.
                for first in range(0, blocks * per_block, per_block):
                    blocked(
                        codes[start].ctypes.data,
                        stop - start,
                        padded[first].ctypes.data,
                        products[0, first:].ctypes.data,
                        blocks * per_block,
                    )
                block = products[: stop - start, :batch]
            elif kernel == "numba":
                block = products[: stop - start]
                products_of(codes[start:stop], query_codes, block)
            else:
                np.bitwise_xor(codes[start:stop].view(np.uint8), np.uint8(0x80), out=shifted[: stop - start])
                (block,) = session.run(None, {"codes": shifted[: stop - start], "queries": ort_queries})
            rows, cols = _block_screen(
                products=block,
                scales=scales[start:stop],
                query_scales=query_scales,
                coarse=coarse,
                limits=limits,
            )
            values = block[rows, cols]
        if rows.size == 0:
            continue
        # Each passing pair against its row's own bound (above ``coarse``: a row's error <= the max).
        own = _lowered_int(
            threshold=threshold, norms=norms[cols], errors=err[rows], query_errors=query_errors[cols]
        )
        pair_scales = scales[start + rows].astype(np.float64) * query_scales[cols]
        keep = values * pair_scales >= own
        rows, cols = rows[keep], cols[keep]
        if kernel == "ort" and rows.size:
            pairs = np.einsum(
                "ij,ij->i", codes[start + rows].astype(np.int64), fine_codes[cols].astype(np.int64)
            )
            fine = pairs * (scales[start + rows].astype(np.float64) * fine_scales[cols])
            keep = fine >= _lowered_int(
                threshold=threshold, norms=norms[cols], errors=err[rows], query_errors=fine_errors[cols]
            )
            rows, cols = rows[keep], cols[keep]
        for q in np.unique(cols).tolist():
            found[q].append(rows[cols == q] + start)
    return [np.concatenate(f) if f else np.empty(0, np.int64) for f in found]


def _int_limits(*, scales: np.ndarray, query_scales: np.ndarray, coarse: np.ndarray) -> np.ndarray | None:
    """Per query, the int32 product a row of this block needs to reach ``coarse``; None unless every
    bound is positive.

    A score s * s_q * p >= coarse > 0 needs p >= coarse / (s * s_q) >= coarse / (max s * s_q), so
    floor of that, minus 1 for the float64 division's rounding, is a limit no candidate is under:
    the comparison is then made on the int32 products themselves, with no float64 score for every
    row (which took 60% of a batch of 16's time beside onnxruntime's product, bench/codes_kernels.py).
    """
    if not bool(np.all(coarse > 0)):
        return None
    per_query = np.floor(coarse / (float(scales.max()) * query_scales)) - 1
    return np.clip(per_query, -(2.0**31), 2.0**31 - 1).astype(np.int32)


def _block_screen(
    *,
    products: np.ndarray,
    scales: np.ndarray,
    query_scales: np.ndarray,
    coarse: np.ndarray,
    limits: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, queries) of a block whose score s * s_q * p may reach ``coarse``: a superset. On the
    int32 products against ``limits`` (``_int_limits``) when there are, else on float64 scores."""
    if limits is not None:
        return np.nonzero(products >= limits[None, :])
    scores = products * (scales[:, None].astype(np.float64) * query_scales[None, :])
    return np.nonzero(scores >= coarse[None, :])


def _lowered_int(
    *, threshold: float, norms: np.ndarray, errors: np.ndarray | float, query_errors: np.ndarray
) -> np.ndarray:
    """The float path's bound, lowered by the query code's error (module docstring), and a hair
    more for the float64 product of the scales."""
    return lowered_bound(threshold=threshold, norms=norms, errors=errors) - query_errors * (1 + errors) - 1e-9
