"""The integer kernel of codes_int.py on CPUs with AVX2: LLVM IR generated here, compiled by
llvmlite (jit.py).

For each row of int8 codes, ``vpmaddwd`` multiplies 16 sign-extended codes at a time with a block
of up to 8 queries' int16 codes (pairs of int16 products summed into int32), each query (and for
blocks of 1-4 queries, each of 2-4 consecutive chunks) with its own accumulator register, so a row
is read once per block. ``screen_<k>`` compares each product with its query's int32 limit as it
goes and writes only the passing (row, query, product) triples; ``products_<k>`` writes every
product, for a block whose bound is not positive. Exact as codes_int.py's numba loop: the same
int32 sums, which cannot overflow (512 * 127 * 32767 < 2**31).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from matching.services.index.codes import DIM
from matching.services.index.jit import ir_compile


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


def block_size(batch: int) -> int:
    """Queries per block for a batch: the smallest block that holds it, or 8 (the batch padded)."""
    return next((size for size in _BLOCK_SIZES if size >= batch), _BLOCK_SIZES[-1])


class Pairs:
    """Room for the (row, query, product) pairs one screen call can write."""

    def __init__(self, size: int) -> None:
        self.rows = np.empty(size, np.int64)
        self.queries = np.empty(size, np.int32)
        self.products = np.empty(size, np.int32)


def llvm_screen(
    *,
    screen: Callable[..., int],
    codes: np.ndarray,
    padded: np.ndarray,
    limits: np.ndarray,
    per_block: int,
    pairs: Pairs,
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
