// Kernel signatures of the elementwise, activation, reduction and softmax families. Every variant (scalar
// reference in cpu/elementwise_scalar.h, Highway in cpu/elementwise_highway.h) implements these on contiguous
// arrays; ops/elementwise_tables.h registers them in KernelTables and cpu/elementwise_parallel.h splits large
// arrays across threads. No Tensor here (DESIGN.md 1): raw pointers, element counts, row/column sizes.
#pragma once
#include <cstdint>

namespace hm::cpu {

// rsub / rdiv take the operands the other way round (b - a, b / a) so that "small op big" broadcasts and
// "scalar op tensor" reuse the same kernels.
enum class BinaryOp : uint8_t { add, sub, mul, div, rsub, rdiv };

// pow takes the exponent as the kernel's `param`; every other op ignores it.
// gelu is the exact (erf) form 0.5 x (1 + erf(x / sqrt 2)), evaluated as 0.5 x erfc(-x / sqrt 2) so that the
// negative tail keeps its relative accuracy; softplus is PyTorch's (beta 1, threshold 20): x if x > 20 else
// log1p(exp(x)).
enum class UnaryOp : uint8_t { neg, exp, log, sqrt, tanh, sigmoid, relu, gelu, silu, softplus, pow };

enum class ReduceOp : uint8_t { sum, max };

// logsumexp writes one value per row; softmax / log_softmax write one per element.
enum class SoftmaxOp : uint8_t { softmax, log_softmax, logsumexp };

const char* op_name(BinaryOp op);
const char* op_name(UnaryOp op);
const char* op_name(ReduceOp op);
const char* op_name(SoftmaxOp op);
BinaryOp reversed(BinaryOp op);  // a op b == b reversed(op) a

// Which saved value the unary backward kernel reads: the input x, the output y, or neither (neg). The kernel
// never touches the other pointer, so ops save only what the derivative needs (DESIGN.md 2).
enum class BackwardReads : uint8_t { input, output, none };
BackwardReads backward_reads(UnaryOp op);

// out[i] = a[i] op b[i]                                          a, b, out: (n)
template <class T>
using BinaryFn = void (*)(BinaryOp op, const T* a, const T* b, T* out, int64_t n);
// out[r, c] = a[r, c] op b[c]  (bias broadcast)                  a, out: (rows, cols), b: (cols)
template <class T>
using BinaryRowFn = void (*)(BinaryOp op, const T* a, const T* b, T* out, int64_t rows, int64_t cols);
// out[r, c] = a[r, c] op b[r]  (per-row scale / shift)           a, out: (rows, cols), b: (rows)
template <class T>
using BinaryColFn = void (*)(BinaryOp op, const T* a, const T* b, T* out, int64_t rows, int64_t cols);
// out[i] = a[i] op s                                             a, out: (n)
template <class T>
using BinaryScalarFn = void (*)(BinaryOp op, const T* a, T s, T* out, int64_t n);
// y[i] = f(x[i]; param)                                          x, y: (n)
template <class T>
using UnaryFn = void (*)(UnaryOp op, const T* x, T* y, int64_t n, T param);
// gx[i] = gy[i] * f'(x[i]; param), reading x or y as backward_reads(op) says   all: (n)
template <class T>
using UnaryBackwardFn = void (*)(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, T param);
// out[r] = reduce_c x[r, c]                                      x: (rows, cols), out: (rows); cols >= 1 for max
template <class T>
using ReduceRowsFn = void (*)(ReduceOp op, const T* x, T* out, int64_t rows, int64_t cols);
// out[c] = reduce_r x[r * ld + c]    x: (rows, ld) of which cols used, out: (cols); rows >= 1 for max
template <class T>
using ReduceColsFn = void (*)(ReduceOp op, const T* x, T* out, int64_t rows, int64_t cols, int64_t ld);
// Row-wise over the last axis: softmax / log_softmax y: (rows, cols); logsumexp y: (rows).
// Rows whose maximum is +-inf are shifted by 0 instead (PyTorch's logsumexp rule), so all -inf gives -inf.
template <class T>
using SoftmaxFn = void (*)(SoftmaxOp op, const T* x, T* y, int64_t rows, int64_t cols);
// From the forward output y and its gradient gy, all (rows, cols):
//   softmax:     gx = y * (gy - sum_c(gy * y))
//   log_softmax: gx = gy - exp(y) * sum_c(gy)
// (logsumexp's backward is softmax(x) times the row gradient; ops/softmax.cpp composes it.)
template <class T>
using SoftmaxBackwardFn = void (*)(SoftmaxOp op, const T* y, const T* gy, T* gx, int64_t rows, int64_t cols);

}  // namespace hm::cpu
