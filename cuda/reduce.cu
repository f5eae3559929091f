// CUDA reductions (cuda/reduce.h). Same functions as cpu/elementwise_scalar.cpp reduce_rows / reduce_cols /
// max_backward_rows; only the summation order differs (strided partial sums + a shuffle tree instead of one
// sequential double accumulator), so float sums agree with the reference to a few ulp of sqrt(cols) |x|.
#include <algorithm>
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

// Long rows when there are too few of them to fill the GPU: partial[r, j] = reduce of the columns [j * chunk,
// (j + 1) * chunk) of row r, one block per (r, j); a second reduce_rows over (rows, chunks) finishes.
template <ReduceOp OP, class T>
__global__ void reduce_rows_partial_kernel(const T* x, T* partial, int64_t rows, int64_t cols, int64_t chunk,
                                           int64_t chunks) {
  const CombineOp<OP> op;
  for (int64_t b = blockIdx.x; b < rows * chunks; b += gridDim.x) {
    const int64_t r = b / chunks, begin = (b % chunks) * chunk, end = min(cols, begin + chunk);
    const T* row = x + r * cols;  // (cols)
    T acc = identity<OP, T>();
    for (int64_t c = begin + threadIdx.x; c < end; c += blockDim.x) acc = op(acc, row[c]);
    acc = detail::block_reduce(acc, op, identity<OP, T>());
    if (threadIdx.x == 0) partial[b] = acc;
  }
}

constexpr int kColTile = 32;  // columns per block (one warp wide: coalesced loads)
constexpr int kRowLanes = 8;  // warps per block, striding over the reduced rows

// out[k, z, c] = reduce over rows [z * chunk_rows, (z + 1) * chunk_rows) of x[k, r, c], z = blockIdx.z of gridDim.z
// chunks (one chunk: the whole reduction). Thread (tx, ty) folds rows ty, ty + 8, ... of column c = tile + tx; the
// 8 partials of a column are then combined in order by ty == 0.
template <ReduceOp OP, class T>
__global__ void reduce_cols_kernel(const T* x, T* out, int64_t outer, int64_t rows, int64_t cols, int64_t chunk_rows) {
  __shared__ T partial[kRowLanes][kColTile + 1];  // +1: no bank conflicts on the column-wise read
  const CombineOp<OP> op;
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  const int64_t c = int64_t(blockIdx.x) * kColTile + tx;
  const int64_t z = blockIdx.z, chunks = gridDim.z;
  const int64_t r0 = z * chunk_rows, r1 = min(rows, r0 + chunk_rows);
  for (int64_t k = blockIdx.y; k < outer; k += gridDim.y) {
    const T* xk = x + k * rows * cols;  // (rows, cols)
    T acc = identity<OP, T>();
    if (c < cols)
      for (int64_t r = r0 + ty; r < r1; r += kRowLanes) acc = op(acc, xk[r * cols + c]);
    partial[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && c < cols) {
      T v = partial[0][tx];
      for (int j = 1; j < kRowLanes; ++j) v = op(v, partial[j][tx]);
      out[(k * chunks + z) * cols + c] = v;
    }
    __syncthreads();  // partial is rewritten by the next k
  }
}

// Blocks that fill the GPU a few times over: below this a reduction is split in two passes.
int64_t target_blocks() { return 4 * int64_t(sm_count()); }

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
  constexpr int64_t kMinChunk = 4096;  // columns per block of the first pass
  if (rows > 0 && rows < target_blocks() && cols >= 4 * kMinChunk) {
    // Few long rows (a sum over everything): pass 1 reduces column chunks of every row, pass 2 the chunks.
    int64_t chunks = std::min((target_blocks() + rows - 1) / rows, cols / kMinChunk);
    const int64_t chunk = (cols + chunks - 1) / chunks;
    chunks = (cols + chunk - 1) / chunk;
    const size_t bytes = size_t(rows * chunks) * sizeof(T);
    T* partial = static_cast<T*>(scratch(bytes));  // (rows, chunks)
    const unsigned grid = unsigned(rows * chunks);
    if (op == ReduceOp::sum)
      reduce_rows_partial_kernel<ReduceOp::sum>
          <<<grid, detail::kThreads, 0, stream()>>>(x, partial, rows, cols, chunk, chunks);
    else
      reduce_rows_partial_kernel<ReduceOp::max>
          <<<grid, detail::kThreads, 0, stream()>>>(x, partial, rows, cols, chunk, chunks);
    check_launch("reduce_rows_partial_kernel");
    reduce_rows(op, static_cast<const T*>(partial), out, rows, chunks);
    release(partial, bytes);  // stream-ordered reuse: safe once the second pass is queued
    return;
  }
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
  const int64_t tiles = (cols + kColTile - 1) / kColTile, ys = std::min<int64_t>(outer, 65535);
  // Few column tiles over many rows (a bias gradient: (B T, C) -> (C)): split the rows into chunks, pass 1 writes
  // (outer, chunks, cols) partial results, pass 2 reduces those.
  constexpr int64_t kMinChunkRows = 128;
  int64_t chunks = 1;
  if (tiles * ys < target_blocks() && rows >= 2 * kMinChunkRows)
    chunks = std::min({(target_blocks() + tiles * ys - 1) / (tiles * ys), rows / kMinChunkRows, int64_t(65535)});
  const int64_t chunk_rows = (rows + chunks - 1) / chunks;
  if (rows > 0) chunks = (rows + chunk_rows - 1) / chunk_rows;
  const size_t bytes = chunks > 1 ? size_t(outer * chunks * cols) * sizeof(T) : 0;
  T* dst = chunks > 1 ? static_cast<T*>(scratch(bytes)) : out;  // (outer, chunks, cols) or (outer, cols)
  const dim3 block(kColTile, kRowLanes), grid(unsigned(tiles), unsigned(ys), unsigned(std::max<int64_t>(chunks, 1)));
  if (op == ReduceOp::sum)
    reduce_cols_kernel<ReduceOp::sum><<<grid, block, 0, stream()>>>(x, dst, outer, rows, cols, chunk_rows);
  else
    reduce_cols_kernel<ReduceOp::max><<<grid, block, 0, stream()>>>(x, dst, outer, rows, cols, chunk_rows);
  check_launch("reduce_cols_kernel");
  if (chunks > 1) {
    reduce_cols(op, static_cast<const T*>(dst), out, outer, chunks, cols);
    release(dst, bytes);
  }
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
