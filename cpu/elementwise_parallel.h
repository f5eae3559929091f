// Thread-parallel drivers around the single-threaded kernels of cpu/elementwise.h (any variant): the ops layer
// and bench/bench_kernels.cpp call these with the function pointer picked from a KernelTable.
//
// Determinism. Elementwise kernels are split into chunks of whole 64-byte blocks; every variant computes an
// element independently of its position, so results are bitwise identical for any thread count. Reductions
// split only along outputs that are computed independently, plus a fixed blocking that depends on the shape
// alone:
//   rows:    a row of more than kReduceBlock elements is reduced as ceil(cols / kReduceBlock) consecutive
//            blocks, whose partial results are then reduced (again by the kernel) in block order;
//   columns: more than ceil(kReduceBlock / cols) rows are reduced in blocks of that many rows, whose partial
//            rows are then reduced in block order; fewer rows are split across threads by column ranges.
// So a reduction's summation order is a function of the shape and the variant, never of the thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu/elementwise.h"
#include "cpu/parallel.h"

namespace hm::cpu {

constexpr int64_t kReduceBlock = 65536;

namespace detail {
// Elements per 64-byte block: chunks start on block boundaries so each thread's slice stays aligned.
template <class T>
constexpr int64_t kBlock = int64_t(64 / sizeof(T));

// Run f(begin, end) over element ranges of [0, n) in whole blocks; cost = rough work per element.
template <class T, class F>
void parallel_elements(int64_t n, int64_t cost, F&& f) {
  const int64_t blocks = (n + kBlock<T> - 1) / kBlock<T>;
  parallel_for(blocks, cost * kBlock<T>, [&](int64_t b0, int64_t b1) {
    const int64_t begin = b0 * kBlock<T>, end = std::min(n, b1 * kBlock<T>);
    if (begin < end) f(begin, end);
  });
}

inline int64_t unary_cost(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg:
    case UnaryOp::relu:
    case UnaryOp::sqrt:
      return 1;
    case UnaryOp::gelu:
      return 40;
    default:
      return 20;
  }
}
}  // namespace detail

template <class T>
void parallel_binary(BinaryFn<T> fn, BinaryOp op, const T* a, const T* b, T* out, int64_t n) {
  detail::parallel_elements<T>(n, 1, [&](int64_t i0, int64_t i1) { fn(op, a + i0, b + i0, out + i0, i1 - i0); });
}

template <class T>
void parallel_binary_scalar(BinaryScalarFn<T> fn, BinaryOp op, const T* a, T s, T* out, int64_t n) {
  detail::parallel_elements<T>(n, 1, [&](int64_t i0, int64_t i1) { fn(op, a + i0, s, out + i0, i1 - i0); });
}

template <class T>
void parallel_binary_row(BinaryRowFn<T> fn, BinaryOp op, const T* a, const T* b, T* out, int64_t rows, int64_t cols) {
  parallel_for(rows, std::max<int64_t>(cols, 1),
               [&](int64_t r0, int64_t r1) { fn(op, a + r0 * cols, b, out + r0 * cols, r1 - r0, cols); });
}

template <class T>
void parallel_binary_col(BinaryColFn<T> fn, BinaryOp op, const T* a, const T* b, T* out, int64_t rows, int64_t cols) {
  parallel_for(rows, std::max<int64_t>(cols, 1),
               [&](int64_t r0, int64_t r1) { fn(op, a + r0 * cols, b + r0, out + r0 * cols, r1 - r0, cols); });
}

template <class T>
void parallel_unary(UnaryFn<T> fn, UnaryOp op, const T* x, T* y, int64_t n, T param) {
  detail::parallel_elements<T>(n, detail::unary_cost(op),
                               [&](int64_t i0, int64_t i1) { fn(op, x + i0, y + i0, i1 - i0, param); });
}

// x or y may be null when backward_reads(op) says the kernel does not read it.
template <class T>
void parallel_unary_backward(UnaryBackwardFn<T> fn, UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n,
                             T param) {
  detail::parallel_elements<T>(n, detail::unary_cost(op), [&](int64_t i0, int64_t i1) {
    fn(op, x ? x + i0 : nullptr, y ? y + i0 : nullptr, gy + i0, gx + i0, i1 - i0, param);
  });
}

// out: (rows) = reduce over the last axis of x: (rows, cols). cols == 0 gives 0 for sum (max is the caller's
// error to report).
template <class T>
void parallel_reduce_rows(ReduceRowsFn<T> fn, ReduceOp op, const T* x, T* out, int64_t rows, int64_t cols) {
  if (cols <= kReduceBlock) {
    parallel_for(rows, std::max<int64_t>(cols, 1),
                 [&](int64_t r0, int64_t r1) { fn(op, x + r0 * cols, out + r0, r1 - r0, cols); });
    return;
  }
  const int64_t nb = (cols + kReduceBlock - 1) / kReduceBlock;
  std::vector<T> partial(size_t(rows * nb));  // (rows, nb)
  parallel_for(rows * nb, kReduceBlock, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t r = j / nb, b = j % nb;
      const int64_t len = std::min(kReduceBlock, cols - b * kReduceBlock);
      fn(op, x + r * cols + b * kReduceBlock, &partial[size_t(j)], 1, len);
    }
  });
  parallel_reduce_rows(fn, op, partial.data(), out, rows, nb);
}

// out: (cols) = reduce over the rows of x: (rows, cols) (leading-dims reduction, e.g. a bias gradient).
template <class T>
void parallel_reduce_cols(ReduceColsFn<T> fn, ReduceOp op, const T* x, T* out, int64_t rows, int64_t cols) {
  if (cols == 0) return;
  const int64_t block_rows = std::max<int64_t>(1, (kReduceBlock + cols - 1) / cols);
  // Rows wider than a block (block_rows == 1) are reduced directly: blocking them would recurse with the same
  // (rows, cols) forever.
  if (rows <= block_rows || block_rows == 1) {
    parallel_for(cols, std::max<int64_t>(rows, 1),
                 [&](int64_t c0, int64_t c1) { fn(op, x + c0, out + c0, rows, c1 - c0, cols); });
    return;
  }
  const int64_t nb = (rows + block_rows - 1) / block_rows;
  std::vector<T> partial(size_t(nb * cols));  // (nb, cols)
  parallel_for(nb, block_rows * cols, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t len = std::min(block_rows, rows - b * block_rows);
      fn(op, x + b * block_rows * cols, &partial[size_t(b * cols)], len, cols, cols);
    }
  });
  parallel_reduce_cols(fn, op, partial.data(), out, nb, cols);
}

template <class T>
void parallel_softmax(SoftmaxFn<T> fn, SoftmaxOp op, const T* x, T* y, int64_t rows, int64_t cols) {
  const int64_t out_cols = op == SoftmaxOp::logsumexp ? 1 : cols;
  parallel_for(rows, 20 * std::max<int64_t>(cols, 1),
               [&](int64_t r0, int64_t r1) { fn(op, x + r0 * cols, y + r0 * out_cols, r1 - r0, cols); });
}

template <class T>
void parallel_softmax_backward(SoftmaxBackwardFn<T> fn, SoftmaxOp op, const T* y, const T* gy, T* gx, int64_t rows,
                               int64_t cols) {
  parallel_for(rows, 10 * std::max<int64_t>(cols, 1),
               [&](int64_t r0, int64_t r1) { fn(op, y + r0 * cols, gy + r0 * cols, gx + r0 * cols, r1 - r0, cols); });
}

}  // namespace hm::cpu
