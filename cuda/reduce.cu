// CUDA reductions (cuda/reduce.h). Same functions as cpu/elementwise_scalar.cpp reduce_rows / reduce_cols /
// max_backward_rows; only the summation order differs (strided partial sums + a shuffle tree instead of one
// sequential double accumulator), so float sums agree with the reference to a few ulp of sqrt(cols) |x|.
#include <type_traits>

#include "cuda/common.cuh"
#include "cuda/reduce.h"
#include "engine/error.h"

namespace hm::cuda {
namespace {

using cpu::ReduceOp;
using detail::RowGroup;

template <ReduceOp OP, class T>
__device__ __forceinline__ T identity() {
  return OP == ReduceOp::sum ? T(0) : -detail::dinf<T>();
}

template <ReduceOp OP>
using CombineOp = std::conditional_t<OP == ReduceOp::sum, detail::SumOp, detail::MaxNanOp>;

// out[r] = reduce_c x[r, c]: each thread of the row's group folds the columns lane, lane + width, ..., then the
// group reduces the partials.
template <bool kWarpRows, ReduceOp OP, class T>
__global__ void reduce_rows_kernel(const T* x, T* out, int64_t rows, int64_t cols) {
  using G = RowGroup<kWarpRows>;
  const CombineOp<OP> op;
  for (int64_t r = G::first_row(); r < rows; r += G::row_step()) {
    const T* row = x + r * cols;  // (cols)
    T acc = identity<OP, T>();
    for (int64_t c = G::lane(); c < cols; c += G::width()) acc = op(acc, row[c]);
    acc = G::reduce(acc, op, identity<OP, T>());
    if (G::lane() == 0) out[r] = acc;
  }
}

constexpr int kColTile = 32;  // columns per block (one warp wide: coalesced loads)
constexpr int kRowLanes = 8;  // warps per block, striding over the reduced rows

// out[k, c] = reduce_r x[k, r, c]. Thread (tx, ty) folds rows ty, ty + 8, ... of column c = tile + tx; the 8
// partials of a column are then combined in order by ty == 0.
template <ReduceOp OP, class T>
__global__ void reduce_cols_kernel(const T* x, T* out, int64_t outer, int64_t rows, int64_t cols) {
  __shared__ T partial[kRowLanes][kColTile + 1];  // +1: no bank conflicts on the column-wise read
  const CombineOp<OP> op;
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  const int64_t c = int64_t(blockIdx.x) * kColTile + tx;
  for (int64_t k = blockIdx.y; k < outer; k += gridDim.y) {
    const T* xk = x + k * rows * cols;  // (rows, cols)
    T acc = identity<OP, T>();
    if (c < cols)
      for (int64_t r = ty; r < rows; r += kRowLanes) acc = op(acc, xk[r * cols + c]);
    partial[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && c < cols) {
      T v = partial[0][tx];
      for (int j = 1; j < kRowLanes; ++j) v = op(v, partial[j][tx]);
      out[k * cols + c] = v;
    }
    __syncthreads();  // partial is rewritten by the next k
  }
}

// The first c in the row with x == m (NaN matches NaN) gets g; the minimum over the group of each thread's first
// hit in its strided subset is the row's first hit.
template <bool kWarpRows, class T>
__global__ void max_backward_kernel(const T* x, const T* m, const T* g, T* gx, int64_t rows, int64_t cols) {
  using G = RowGroup<kWarpRows>;
  for (int64_t r = G::first_row(); r < rows; r += G::row_step()) {
    const T* xr = x + r * cols;  // (cols)
    T* gr = gx + r * cols;       // (cols)
    const T mr = m[r];
    const bool m_nan = detail::disnan(mr);
    long long first = cols;  // "no hit"
    for (int64_t c = G::lane(); c < cols; c += G::width())
      if (xr[c] == mr || (m_nan && detail::disnan(xr[c]))) {
        first = c;
        break;
      }
    first = G::reduce(first, detail::MinOp(), (long long)cols);
    const T gv = g[r];
    for (int64_t c = G::lane(); c < cols; c += G::width()) gr[c] = c == first ? gv : T(0);
  }
}

}  // namespace

template <class T>
void reduce_rows(ReduceOp op, const T* x, T* out, int64_t rows, int64_t cols) {
  hm::check(op == ReduceOp::sum || cols >= 1, "cuda reduce_rows: max over 0 columns");
  if (op == ReduceOp::sum)
    detail::launch_rows(reduce_rows_kernel<true, ReduceOp::sum, T>, reduce_rows_kernel<false, ReduceOp::sum, T>, rows,
                        cols, "reduce_rows_kernel", x, out, rows, cols);
  else
    detail::launch_rows(reduce_rows_kernel<true, ReduceOp::max, T>, reduce_rows_kernel<false, ReduceOp::max, T>, rows,
                        cols, "reduce_rows_kernel", x, out, rows, cols);
}

template <class T>
void reduce_cols(ReduceOp op, const T* x, T* out, int64_t outer, int64_t rows, int64_t cols) {
  hm::check(op == ReduceOp::sum || rows >= 1, "cuda reduce_cols: max over 0 rows");
  if (outer == 0 || cols == 0) return;
  const dim3 block(kColTile, kRowLanes);
  const dim3 grid(unsigned((cols + kColTile - 1) / kColTile), unsigned(std::min<int64_t>(outer, 65535)));
  if (op == ReduceOp::sum)
    reduce_cols_kernel<ReduceOp::sum><<<grid, block, 0, stream()>>>(x, out, outer, rows, cols);
  else
    reduce_cols_kernel<ReduceOp::max><<<grid, block, 0, stream()>>>(x, out, outer, rows, cols);
  check_launch("reduce_cols_kernel");
}

template <class T>
void max_backward_rows(const T* x, const T* m, const T* g, T* gx, int64_t rows, int64_t cols) {
  if (cols == 0) return;
  detail::launch_rows(max_backward_kernel<true, T>, max_backward_kernel<false, T>, rows, cols, "max_backward_kernel", x,
                      m, g, gx, rows, cols);
}

template void reduce_rows<float>(ReduceOp, const float*, float*, int64_t, int64_t);
template void reduce_rows<double>(ReduceOp, const double*, double*, int64_t, int64_t);
template void reduce_cols<float>(ReduceOp, const float*, float*, int64_t, int64_t, int64_t);
template void reduce_cols<double>(ReduceOp, const double*, double*, int64_t, int64_t, int64_t);
template void max_backward_rows<float>(const float*, const float*, const float*, float*, int64_t, int64_t);
template void max_backward_rows<double>(const double*, const double*, const double*, double*, int64_t, int64_t);

}  // namespace hm::cuda
