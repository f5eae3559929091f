// CUDA elementwise kernels: binary ops (same shape, bias row / per-row column, scalar, general strided
// broadcast), unary ops and activations forward + backward, where. Raw device pointers + sizes (DESIGN.md 1),
// every launch on hm::cuda::stream() and checked. T is float or double. The op enums and formulas are the CPU
// kernels' (cpu/elementwise.h: a header of enums and function-pointer types only), so that the CUDA variants sit in
// kernel tables with the CPU signatures and are checked against the CPU "scalar" reference.
//
// Two variants where it matters: the `*_simple` kernels (one element per thread in a grid-stride loop, the
// readable reference) and the `*_vec` kernels (16-byte loads and stores of float4 / double2 packs when every
// pointer is 16-byte aligned, the simple kernel otherwise).
#pragma once
#include <cstdint>

#include "cpu/elementwise.h"

namespace hm::cuda {

// The most dims the strided broadcast kernel takes (after size-1 dims are dropped).
constexpr int kMaxBroadcastDims = 8;

// out[i] = a[i] op b[i]                                          a, b, out: (n)
template <class T>
void binary_simple(cpu::BinaryOp op, const T* a, const T* b, T* out, int64_t n);
template <class T>
void binary_vec(cpu::BinaryOp op, const T* a, const T* b, T* out, int64_t n);
// out[r, c] = a[r, c] op b[c]                                    a, out: (rows, cols), b: (cols)
template <class T>
void binary_row(cpu::BinaryOp op, const T* a, const T* b, T* out, int64_t rows, int64_t cols);
// out[r, c] = a[r, c] op b[r]                                    a, out: (rows, cols), b: (rows)
template <class T>
void binary_col(cpu::BinaryOp op, const T* a, const T* b, T* out, int64_t rows, int64_t cols);
// out[i] = a[i] op s                                             a, out: (n)
template <class T>
void binary_scalar_simple(cpu::BinaryOp op, const T* a, T s, T* out, int64_t n);
template <class T>
void binary_scalar_vec(cpu::BinaryOp op, const T* a, T s, T* out, int64_t n);
// out[i] = a[offset_a(i)] op b[offset_b(i)] for a contiguous output of shape `shape` (ndim <= kMaxBroadcastDims,
// ndim 0 = one element); offset_x(i) = sum_d coord_d(i) * x_strides[d], stride 0 on broadcast dims.
// shape / strides are host arrays of ndim entries.
template <class T>
void binary_broadcast(cpu::BinaryOp op, const T* a, const T* b, T* out, int ndim, const int64_t* shape,
                      const int64_t* a_strides, const int64_t* b_strides);

// y[i] = f(x[i]; param)                                          x, y: (n)
template <class T>
void unary_simple(cpu::UnaryOp op, const T* x, T* y, int64_t n, T param);
template <class T>
void unary_vec(cpu::UnaryOp op, const T* x, T* y, int64_t n, T param);
// gx[i] = gy[i] * f'(x[i] or y[i]; param), reading only what cpu::backward_reads(op) names   all: (n)
template <class T>
void unary_backward_simple(cpu::UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, T param);

// out[i] = cond[i] ? a[i] : b[i]                                 all: (n), cond uint8
template <class T>
void where(const uint8_t* cond, const T* a, const T* b, T* out, int64_t n);

}  // namespace hm::cuda
