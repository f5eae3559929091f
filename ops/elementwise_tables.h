// Kernel tables of the elementwise / reduction / softmax families (DESIGN.md 3): one KernelTable per kernel
// signature and dtype, named "<kernel>_f32" / "<kernel>_f64", each with the "scalar" reference (priority 0) and
// the "highway" variant (priority 10). Select with --kernel unary_f32=scalar or HUBMAMBA_KERNELS.
// Used by ops/{elementwise,activation,reduce,softmax}.cpp, the conformance test and bench/bench_kernels.cpp.
//
// CUDA tables ("<kernel>_f32@cuda", variants "cuda_*") share the op name of the CPU table they stand beside, so one
// `--kernel binary_f32=cuda_simple` or `=scalar` picks the variant on either device. Their entries are structs of
// function pointers over device pointers (no CUDA types), filled by ops/elementwise_cuda.cpp in CUDA builds and
// empty otherwise (no device tensor can exist then).
#pragma once
#include "cpu/elementwise.h"
#include "ops/registry.h"

namespace hm {

template <class T>
KernelTable<cpu::BinaryFn<T>>& binary_table();
template <class T>
KernelTable<cpu::BinaryRowFn<T>>& binary_row_table();
template <class T>
KernelTable<cpu::BinaryColFn<T>>& binary_col_table();
template <class T>
KernelTable<cpu::BinaryScalarFn<T>>& binary_scalar_table();
template <class T>
KernelTable<cpu::UnaryFn<T>>& unary_table();
template <class T>
KernelTable<cpu::UnaryBackwardFn<T>>& unary_backward_table();
template <class T>
KernelTable<cpu::ReduceRowsFn<T>>& reduce_rows_table();
template <class T>
KernelTable<cpu::ReduceColsFn<T>>& reduce_cols_table();
template <class T>
KernelTable<cpu::SoftmaxFn<T>>& softmax_table();
template <class T>
KernelTable<cpu::SoftmaxBackwardFn<T>>& softmax_backward_table();

// ---- CUDA (device pointers; every array contiguous unless strides are passed) ----

// out[i] = a[offset_a(i)] op b[offset_b(i)] for a contiguous output of shape `shape` (ndim <= 8 after size-1 dims
// are dropped): offset_x(i) = sum_d coord_d(i) * x_strides[d], stride 0 on broadcast dims. Host arrays of ndim.
template <class T>
using BinaryBroadcastFn = void (*)(cpu::BinaryOp op, const T* a, const T* b, T* out, int ndim, const int64_t* shape,
                                   const int64_t* a_strides, const int64_t* b_strides);
// out[i] = cond[i] ? a[i] : b[i]                                 all: (n), cond uint8
template <class T>
using WhereFn = void (*)(const uint8_t* cond, const T* a, const T* b, T* out, int64_t n);
// out[k, c] = reduce_r x[k, r, c]                                x: (outer, rows, cols), out: (outer, cols)
template <class T>
using ReduceColsBatchedFn = void (*)(cpu::ReduceOp op, const T* x, T* out, int64_t outer, int64_t rows, int64_t cols);
// gx[r, c] = g[r] at the first c with x[r, c] == m[r] (NaN matches NaN), else 0    x, gx: (rows, cols), m, g: (rows)
template <class T>
using MaxBackwardRowsFn = void (*)(const T* x, const T* m, const T* g, T* gx, int64_t rows, int64_t cols);

// "binary_f32@cuda": every binary layout of ops/elementwise.cpp plus where.
template <class T>
struct BinaryCudaFns {
  cpu::BinaryFn<T> same;
  cpu::BinaryScalarFn<T> scalar;
  cpu::BinaryRowFn<T> row;
  cpu::BinaryColFn<T> col;
  BinaryBroadcastFn<T> broadcast;
  WhereFn<T> where;
};
// "unary_f32@cuda": forward and fused backward of ops/elementwise.cpp unary_op (cpu::UnaryOp semantics).
template <class T>
struct UnaryCudaFns {
  cpu::UnaryFn<T> forward;
  cpu::UnaryBackwardFn<T> backward;
};
// "reduce_rows_f32@cuda": the reductions of ops/reduce.cpp.
template <class T>
struct ReduceCudaFns {
  cpu::ReduceRowsFn<T> rows;
  ReduceColsBatchedFn<T> cols;
  MaxBackwardRowsFn<T> max_backward;
};
// "softmax_f32@cuda": softmax / log_softmax / logsumexp forward and the softmax / log_softmax backward.
template <class T>
struct SoftmaxCudaFns {
  cpu::SoftmaxFn<T> forward;
  cpu::SoftmaxBackwardFn<T> backward;
};

template <class T>
KernelTable<BinaryCudaFns<T>>& binary_cuda_table();
template <class T>
KernelTable<UnaryCudaFns<T>>& unary_cuda_table();
template <class T>
KernelTable<ReduceCudaFns<T>>& reduce_cuda_table();
template <class T>
KernelTable<SoftmaxCudaFns<T>>& softmax_cuda_table();

}  // namespace hm
