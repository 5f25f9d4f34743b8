"""Queries against 8-bit codes in integers: the product of the codes with coded queries is exact.

The query q is coded too: q' = s_q * c_q with s_q = max|q_j| / L for L levels, and its error norm
e_q = ||q - q'|| (float64, rounded up). The product c.c_q is computed exactly in 32-bit integers,
by one of three kernels (``codes_kernel_choose``):

- ``llvm``, on every CPU with AVX2 (every x86-64 this project targets), for every batch size: LLVM
  IR compiled by llvmlite (jit.py), with 16-bit query codes (L = 32767). Each row's codes are
  loaded 16 at a time and sign-extended to 16 bits, then multiplied with up to 8 queries' codes at
  once by ``vpmaddwd`` (pairs of int16 products summed into int32), each query (and for blocks of
  1-4 queries, each of 2-4 consecutive chunks) with its own accumulator register. Each product is
  compared with its query's int32 limit as it goes, and only the passing pairs are written out.
  It cannot overflow, as for numba below. Through the whole screen, one thread scanned 1.8-2.6
  GB/s of codes for 16 queries against 0.8 for numba and 1.1-1.2 for onnxruntime, and 5.7 for one
  query, level with numba (bench/codes_kernels.py, this AVX2 machine).

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

import ctypes
import threading
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from matching.services.index.codes import DIM, lowered_bound
from matching.services.index.jit import host_has, ir_compile

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


def _blocked_ir(queries: int, unroll: int, screen: bool = False) -> str:
    """``products_<queries>(codes, rows, query_codes, out, out_stride)``: for each row i of int8
    codes (rows, DIM), its exact int32 products with ``queries`` int16 query codes (queries, DIM),
    written to ``out[i * out_stride + k]``. With ``screen``, ``screen_<queries>(codes, rows,
    query_codes, limits, pair_rows, pair_queries, pair_products) -> pairs`` instead writes only
    the (row, query, product) of each product >= its query's int32 limit, rows ascending (the
    arrays need room for rows * queries + 1: every pair is stored, and kept by counting it).
    ``queries * unroll`` accumulators live in registers: each of ``unroll`` consecutive 16-code
    chunks has its own, so a small block still keeps several multiply-adds in flight. One block a
    call: with a loop over blocks inside the row loop, LLVM hoisted the row's 32 sign-extended
    chunks out of it and spilled them to the stack."""
    step = 16 * unroll
    acc = [(k, u) for k in range(queries) for u in range(unroll)]
    if screen:
        head = [
            f"define i64 @screen_{queries}(ptr noalias readonly %codes, i64 %rows, ptr noalias readonly %q,",
            "                            ptr noalias readonly %limits, ptr noalias %pair_rows,",
            "                            ptr noalias %pair_queries, ptr noalias %pair_products) {",
        ]
    else:
        head = [
            f"define void @products_{queries}(ptr noalias readonly %codes, i64 %rows,",
            "                                 ptr noalias readonly %q, ptr noalias %out, i64 %out_stride) {",
        ]
    lines = [
        *head,
        "entry:",
        "  %empty = icmp sle i64 %rows, 0",
        "  br i1 %empty, label %done, label %row",
        "row:",
        "  %i = phi i64 [ 0, %entry ], [ %i.next, %next_row ]",
        "  %count = phi i64 [ 0, %entry ], [ %count.next, %next_row ]" if screen else "",
        f"  %row_at = mul i64 %i, {DIM}",
        "" if screen else "  %out_row = mul i64 %i, %out_stride",
        "  br label %chunk",
        "chunk:",
        "  %at = phi i64 [ 0, %row ], [ %at.next, %chunk ]",
    ]
    lines += [
        f"  %a{k}_{u} = phi <8 x i32> [ zeroinitializer, %row ], [ %a{k}_{u}.next, %chunk ]" for k, u in acc
    ]
    for u in range(unroll):
        lines += [
            f"  %x{u}.off = add i64 %at, {16 * u}",
            f"  %x{u}.at = add i64 %row_at, %x{u}.off",
            f"  %x{u}.ptr = getelementptr inbounds i8, ptr %codes, i64 %x{u}.at",
            f"  %x{u}.8 = load <16 x i8>, ptr %x{u}.ptr, align 1",
            f"  %x{u} = sext <16 x i8> %x{u}.8 to <16 x i16>",
        ]
    for k, u in acc:
        lines += [
            f"  %q{k}_{u}.off = add i64 %x{u}.off, {k * DIM}",
            f"  %q{k}_{u}.ptr = getelementptr inbounds i16, ptr %q, i64 %q{k}_{u}.off",
            f"  %q{k}_{u} = load <16 x i16>, ptr %q{k}_{u}.ptr, align 2",
            f"  %m{k}_{u} = call <8 x i32> @llvm.x86.avx2.pmadd.wd(<16 x i16> %x{u}, <16 x i16> %q{k}_{u})",
            f"  %a{k}_{u}.next = add <8 x i32> %a{k}_{u}, %m{k}_{u}",
        ]
    lines += [
        f"  %at.next = add nuw nsw i64 %at, {step}",
        f"  %more_chunks = icmp slt i64 %at.next, {DIM}",
        "  br i1 %more_chunks, label %chunk, label %next_row",
        "next_row:",
    ]
    for k in range(queries):
        total = f"%a{k}_0.next"
        for u in range(1, unroll):
            lines.append(f"  %t{k}_{u} = add <8 x i32> {total}, %a{k}_{u}.next")
            total = f"%t{k}_{u}"
        lines.append(f"  %sum{k} = call i32 @llvm.vector.reduce.add.v8i32(<8 x i32> {total})")
        if not screen:
            lines += [
                f"  %o{k}.at = add i64 %out_row, {k}",
                f"  %o{k}.ptr = getelementptr inbounds i32, ptr %out, i64 %o{k}.at",
                f"  store i32 %sum{k}, ptr %o{k}.ptr, align 4",
            ]
            continue
        before = "%count" if k == 0 else f"%count{k}"
        lines += [  # stored whatever it is, kept by counting it: no branch per pair
            f"  %lim{k}.ptr = getelementptr inbounds i32, ptr %limits, i64 {k}",
            f"  %lim{k} = load i32, ptr %lim{k}.ptr, align 4",
            f"  %pass{k} = icmp sge i32 %sum{k}, %lim{k}",
            f"  %pr{k}.ptr = getelementptr inbounds i64, ptr %pair_rows, i64 {before}",
            f"  store i64 %i, ptr %pr{k}.ptr, align 8",
            f"  %pq{k}.ptr = getelementptr inbounds i32, ptr %pair_queries, i64 {before}",
            f"  store i32 {k}, ptr %pq{k}.ptr, align 4",
            f"  %pp{k}.ptr = getelementptr inbounds i32, ptr %pair_products, i64 {before}",
            f"  store i32 %sum{k}, ptr %pp{k}.ptr, align 4",
            f"  %inc{k} = zext i1 %pass{k} to i64",
            f"  %count{k + 1} = add i64 {before}, %inc{k}",
        ]
    if screen:
        lines.append(f"  %count.next = add i64 %count{queries}, 0")
    lines += [
        "  %i.next = add nuw nsw i64 %i, 1",
        "  %more_rows = icmp slt i64 %i.next, %rows",
        "  br i1 %more_rows, label %row, label %done",
        "done:",
    ]
    if screen:
        lines += ["  %pairs = phi i64 [ 0, %entry ], [ %count.next, %next_row ]", "  ret i64 %pairs", "}"]
    else:
        lines += ["  ret void", "}"]
    return "\n".join(line for line in lines if line)


# Queries per register block, and chunks unrolled for each: 4 to 8 accumulators of the 16 ymm
# registers (bench/codes_kernels.py: one query with one accumulator scanned 3.1-3.8 GB/s, numba's
# loop 4.7-6.1).
_BLOCKS = {1: 4, 2: 4, 4: 2, 8: 1}
_BLOCK_SIZES = tuple(_BLOCKS)
# products_k(codes, rows, query_codes, out, out_stride); screen_k(codes, rows, query_codes, limits,
# pair_rows, pair_queries, pair_products) -> pairs
_BLOCKED = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64
)
_SCREEN = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, *[ctypes.c_void_p] * 5)
_llvm_lock = threading.Lock()
_llvm_kernels: LlvmKernels | None = None


class LlvmKernels(NamedTuple):
    """The compiled kernels by queries per block (1, 2, 4, 8): every product, or the screen's pairs."""

    products: dict[int, Callable[..., None]]
    screen: dict[int, Callable[..., int]]


def llvm_kernels() -> LlvmKernels:
    """The blocked kernels, compiled once per process (jit.py)."""
    global _llvm_kernels
    with _llvm_lock:
        if _llvm_kernels is None:
            ir = "\n".join(
                [
                    "declare <8 x i32> @llvm.x86.avx2.pmadd.wd(<16 x i16>, <16 x i16>)",
                    "declare i32 @llvm.vector.reduce.add.v8i32(<8 x i32>)",
                    *(_blocked_ir(size, unroll) for size, unroll in _BLOCKS.items()),
                    *(_blocked_ir(size, unroll, screen=True) for size, unroll in _BLOCKS.items()),
                ]
            )
            compiled = ir_compile(
                ir=ir,
                functions={
                    **{f"products_{size}": _BLOCKED for size in _BLOCK_SIZES},
                    **{f"screen_{size}": _SCREEN for size in _BLOCK_SIZES},
                },
            )
            _llvm_kernels = LlvmKernels(
                products={size: compiled[f"products_{size}"] for size in _BLOCK_SIZES},
                screen={size: compiled[f"screen_{size}"] for size in _BLOCK_SIZES},
            )
        return _llvm_kernels


def _block_size(batch: int) -> int:
    """Queries per block for a batch: the smallest block that holds it, or 8 (the batch padded)."""
    return next((size for size in _BLOCK_SIZES if size >= batch), _BLOCK_SIZES[-1])


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
        per_block = _block_size(batch)
        blocked = llvm_kernels().products[per_block]
        screen_of = llvm_kernels().screen[per_block]
        pairs = _Pairs(rows_max * per_block + 1)
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
            rows, cols, values = _llvm_screen(
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


class _Pairs:
    """Room for the (row, query, product) pairs one screen call can write."""

    def __init__(self, size: int) -> None:
        self.rows = np.empty(size, np.int64)
        self.queries = np.empty(size, np.int32)
        self.products = np.empty(size, np.int32)


def _llvm_screen(
    *,
    screen: Callable[..., int],
    codes: np.ndarray,
    padded: np.ndarray,
    limits: np.ndarray,
    per_block: int,
    pairs: _Pairs,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, queries, int64 products) of a block of codes whose product reaches its query's int32
    limit, by the kernel that compares as it goes (one call per block of queries; after the first,
    the rows come from the CPU's cache). ``padded``: the query codes padded to whole blocks."""
    padded_limits = np.full(padded.shape[0], np.iinfo(np.int32).max, np.int32)  # padding never passes
    padded_limits[: limits.size] = limits
    rows, cols, values = [], [], []
    for first in range(0, padded.shape[0], per_block):
        found = screen(
            codes.ctypes.data,
            codes.shape[0],
            padded[first].ctypes.data,
            padded_limits[first:].ctypes.data,
            pairs.rows.ctypes.data,
            pairs.queries.ctypes.data,
            pairs.products.ctypes.data,
        )
        rows.append(pairs.rows[:found].copy())
        cols.append(pairs.queries[:found].astype(np.int64) + first)
        values.append(pairs.products[:found].astype(np.int64))
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(values)


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
