// Scalar reference kernels ("scalar" variant of every elementwise / reduction / softmax KernelTable) and the
// small kernels that have no faster variant (where, dropout, max backward). Plain loops with libm, written to
// be obviously right: accumulations run in double, one element at a time, in index order.
#pragma once
#include <cstdint>

#include "cpu/elementwise.h"

namespace hm::cpu::scalar {

// Per-element math shared with the tests (reference values) and the kernels below.
template <class T>
T unary_value(UnaryOp op, T x, T param);
template <class T>
T unary_derivative(UnaryOp op, T x, T y, T param);  // f'(x) given x and y = f(x)

template <class T>
void binary(BinaryOp op, const T* a, const T* b, T* out, int64_t n);
template <class T>
void binary_row(BinaryOp op, const T* a, const T* b, T* out, int64_t rows, int64_t cols);
template <class T>
void binary_col(BinaryOp op, const T* a, const T* b, T* out, int64_t rows, int64_t cols);
template <class T>
void binary_scalar(BinaryOp op, const T* a, T s, T* out, int64_t n);
template <class T>
void unary(UnaryOp op, const T* x, T* y, int64_t n, T param);
template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, T param);
template <class T>
void reduce_rows(ReduceOp op, const T* x, T* out, int64_t rows, int64_t cols);
template <class T>
void reduce_cols(ReduceOp op, const T* x, T* out, int64_t rows, int64_t cols, int64_t ld);
template <class T>
void softmax(SoftmaxOp op, const T* x, T* y, int64_t rows, int64_t cols);
template <class T>
void softmax_backward(SoftmaxOp op, const T* y, const T* gy, T* gx, int64_t rows, int64_t cols);

// out[i] = cond[i] ? a[i] : b[i]                                 all: (n)
template <class T>
void where(const uint8_t* cond, const T* a, const T* b, T* out, int64_t n);

// Max backward: gx[r, c] = g[r] at the first c with x[r, c] == m[r] (a NaN maximum matches the first NaN),
// 0 elsewhere (torch.max(dim) routes the gradient to the returned index; ties go to the first).
//   x, gx: (rows, cols), m, g: (rows)
template <class T>
void max_backward_rows(const T* x, const T* m, const T* g, T* gx, int64_t rows, int64_t cols);

// Inverted dropout with Philox4x32-10 (engine/rng.h): element i keeps when the 32-bit word i % 4 of block
// (counter + i / 4) is >= p * 2^32; kept elements are scaled by 1 / (1 - p). mask[i] is 0 or that scale, so the
// backward is g * mask. Blocks are independent, so the result is the same for any thread count.
//   x, y, mask: (n)
template <class T>
void dropout(const T* x, T* y, T* mask, int64_t n, double p, uint64_t key, uint64_t counter);

}  // namespace hm::cpu::scalar
