// Indexing kernels (cuda/index.h): row gathers, gather along a dim, and their scatter-add adjoints, each a simple
// grid-stride loop with one thread per output element (forward) or per source element / destination fiber
// (backward). Same index conventions as cpu/index.h.
#include <climits>

#include "cuda/index.h"
#include "cuda/runtime.h"
#include "engine/error.h"

namespace hm::cuda {
namespace {

// Shape and strides of an indexed tensor, by value into the kernels.
struct Dims {
  int64_t shape[kMaxIndexRank];
  int64_t stride[kMaxIndexRank];  // the strided side's element strides (src for gather, dst for scatter)
  int rank;
  int dim;
};

Dims make_dims(const char* op, const int64_t* shape, const int64_t* strides, int64_t rank, int64_t dim) {
  hm::check(rank >= 1 && rank <= kMaxIndexRank, op, ": rank ", rank, " is outside the CUDA kernel's [1, ",
            kMaxIndexRank, "]");
  Dims d{};
  for (int64_t k = 0; k < rank; ++k) d.shape[k] = shape[k], d.stride[k] = strides[k];
  d.rank = int(rank), d.dim = int(dim);
  return d;
}

__host__ __device__ int64_t numel(const Dims& d) {
  int64_t n = 1;
  for (int k = 0; k < d.rank; ++k) n *= d.shape[k];
  return n;
}

// Grid-stride loops: for (int64_t i = thread_id(); i < total; i += thread_count()).
__device__ __forceinline__ int64_t thread_id() { return blockIdx.x * int64_t(blockDim.x) + threadIdx.x; }
__device__ __forceinline__ int64_t thread_count() { return int64_t(gridDim.x) * blockDim.x; }

// ---- validation --------------------------------------------------------------------------------------------------

__global__ void first_out_of_range_kernel(const int64_t* index, int64_t count, int64_t n, unsigned long long* first) {
  for (int64_t i = thread_id(); i < count; i += thread_count())
    if (index[i] < 0 || index[i] >= n) atomicMin(first, static_cast<unsigned long long>(i));
}

// ---- forward -----------------------------------------------------------------------------------------------------

// W: an unsigned word of the element's size; the kernels only move bits.
template <class W>
__global__ void index_select_rows_kernel(const W* src, int64_t outer, int64_t N, int64_t inner, const int64_t* index,
                                         int64_t n, W* out) {
  for (int64_t i = thread_id(); i < outer * n * inner; i += thread_count()) {
    const int64_t j = i % inner, k = (i / inner) % n, o = i / (inner * n);
    out[i] = src[(o * N + index[k]) * inner + j];
  }
}

// Offset of element `i` of a contiguous tensor of shape d.shape in the strided tensor d.stride, coordinate d.dim
// left out.
__device__ int64_t offset_except_dim(const Dims& d, int64_t i) {
  int64_t off = 0;
  for (int k = d.rank - 1; k >= 0; --k) {
    const int64_t c = i % d.shape[k];
    i /= d.shape[k];
    if (k != d.dim) off += c * d.stride[k];
  }
  return off;
}

template <class W>
__global__ void gather_dim_kernel(const W* src, Dims d, const int64_t* index, W* out) {
  for (int64_t i = thread_id(); i < numel(d); i += thread_count())
    out[i] = src[offset_except_dim(d, i) + index[i] * d.stride[d.dim]];
}

template <class W>
void launch_gather(const void* src, const Dims& d, const int64_t* index, void* out) {
  const int64_t total = numel(d);
  if (total == 0) return;
  gather_dim_kernel<W>
      <<<grid_for(total, 256), 256, 0, stream()>>>(static_cast<const W*>(src), d, index, static_cast<W*>(out));
  check_launch("gather_dim_kernel");
}

template <class W>
void launch_select(const void* src, int64_t outer, int64_t N, int64_t inner, const int64_t* index, int64_t n,
                   void* out) {
  const int64_t total = outer * n * inner;
  if (total == 0) return;
  index_select_rows_kernel<W><<<grid_for(total, 256), 256, 0, stream()>>>(static_cast<const W*>(src), outer, N, inner,
                                                                          index, n, static_cast<W*>(out));
  check_launch("index_select_rows_kernel");
}

// Call f(W{}) with W the unsigned word of `elem_bytes` bytes.
template <class F>
void dispatch_word(const char* op, int64_t elem_bytes, F&& f) {
  switch (elem_bytes) {
    case 1:
      return f(uint8_t{});
    case 2:
      return f(uint16_t{});
    case 4:
      return f(uint32_t{});
    case 8:
      return f(uint64_t{});
    default:
      throw Error(cat(op, ": unsupported element size ", elem_bytes, " bytes"));
  }
}

// ---- backward: atomics -------------------------------------------------------------------------------------------

template <class T>
__global__ void index_add_rows_atomic_kernel(T* grad_src, int64_t outer, int64_t N, int64_t inner, const int64_t* index,
                                             int64_t n, const T* grad_out) {
  for (int64_t i = thread_id(); i < outer * n * inner; i += thread_count()) {
    const int64_t j = i % inner, k = (i / inner) % n, o = i / (inner * n);
    atomicAdd(grad_src + (o * N + index[k]) * inner + j, grad_out[i]);
  }
}

template <class T>
__global__ void scatter_add_dim_atomic_kernel(T* dst, Dims d, const int64_t* index, const T* src) {
  for (int64_t i = thread_id(); i < numel(d); i += thread_count())
    atomicAdd(dst + offset_except_dim(d, i) + index[i] * d.stride[d.dim], src[i]);
}

// ---- backward: ordered (deterministic) ---------------------------------------------------------------------------

// Thread (o, j) owns column j of block o of grad_src and adds grad_out's rows in k order, as the CPU loop does.
template <class T>
__global__ void index_add_rows_ordered_kernel(T* grad_src, int64_t outer, int64_t N, int64_t inner,
                                              const int64_t* index, int64_t n, const T* grad_out) {
  for (int64_t i = thread_id(); i < outer * inner; i += thread_count()) {
    const int64_t j = i % inner, o = i / inner;
    for (int64_t k = 0; k < n; ++k) grad_src[(o * N + index[k]) * inner + j] += grad_out[(o * n + k) * inner + j];
  }
}

// Thread f owns one fiber: every coordinate of the index shape but `dim` fixed, walking k along dim. Fibers of
// distinct threads write distinct dst fibers (the index only replaces coordinate dim), so no two threads collide.
template <class T>
__global__ void scatter_add_dim_ordered_kernel(T* dst, Dims d, const int64_t* index, const T* src) {
  const int64_t len = d.shape[d.dim];
  int64_t inner = 1;  // contiguous stride of dim in the index / src layout
  for (int k = d.dim + 1; k < d.rank; ++k) inner *= d.shape[k];
  for (int64_t f = thread_id(); f < numel(d) / len; f += thread_count()) {
    const int64_t pos0 = (f / inner) * len * inner + f % inner;  // element (fiber f, k = 0) of index / src
    const int64_t off = offset_except_dim(d, pos0);
    for (int64_t k = 0; k < len; ++k) {
      const int64_t p = pos0 + k * inner;
      dst[off + index[p] * d.stride[d.dim]] += src[p];
    }
  }
}

template <class T>
void index_add_rows(bool ordered, T* grad_src, int64_t outer, int64_t N, int64_t inner, const int64_t* index, int64_t n,
                    const T* grad_out) {
  if (outer * n * inner == 0) return;
  if (ordered) {
    index_add_rows_ordered_kernel<T>
        <<<grid_for(outer * inner, 128), 128, 0, stream()>>>(grad_src, outer, N, inner, index, n, grad_out);
    check_launch("index_add_rows_ordered_kernel");
  } else {
    index_add_rows_atomic_kernel<T>
        <<<grid_for(outer * n * inner, 256), 256, 0, stream()>>>(grad_src, outer, N, inner, index, n, grad_out);
    check_launch("index_add_rows_atomic_kernel");
  }
}

template <class T>
void scatter_add_dim(bool ordered, T* dst, const int64_t* dst_strides, const int64_t* index, const int64_t* index_shape,
                     int64_t rank, int64_t dim, const T* src) {
  const Dims d = make_dims("scatter_add_dim", index_shape, dst_strides, rank, dim);
  const int64_t total = numel(d);
  if (total == 0) return;
  if (ordered) {
    scatter_add_dim_ordered_kernel<T><<<grid_for(total / d.shape[dim], 128), 128, 0, stream()>>>(dst, d, index, src);
    check_launch("scatter_add_dim_ordered_kernel");
  } else {
    scatter_add_dim_atomic_kernel<T><<<grid_for(total, 256), 256, 0, stream()>>>(dst, d, index, src);
    check_launch("scatter_add_dim_atomic_kernel");
  }
}

}  // namespace

int64_t first_out_of_range(const int64_t* index, int64_t count, int64_t n) {
  if (count == 0) return -1;
  auto* first = static_cast<unsigned long long*>(scratch(sizeof(unsigned long long)));
  check(cudaMemsetAsync(first, 0xff, sizeof(unsigned long long), stream()), "cudaMemsetAsync (index check)");
  first_out_of_range_kernel<<<grid_for(count, 256), 256, 0, stream()>>>(index, count, n, first);
  check_launch("first_out_of_range_kernel");
  unsigned long long host = 0;
  copy_to_host(&host, first, sizeof(host));
  release(first, sizeof(unsigned long long));
  return host == ULLONG_MAX ? -1 : int64_t(host);
}

void index_select_rows(const void* src, int64_t elem_bytes, int64_t outer, int64_t N, int64_t inner,
                       const int64_t* index, int64_t n, void* out) {
  dispatch_word("index_select_rows", elem_bytes,
                [&](auto w) { launch_select<decltype(w)>(src, outer, N, inner, index, n, out); });
}

void gather_dim(const void* src, int64_t elem_bytes, const int64_t* src_strides, const int64_t* index,
                const int64_t* index_shape, int64_t rank, int64_t dim, void* out) {
  const Dims d = make_dims("gather_dim", index_shape, src_strides, rank, dim);
  dispatch_word("gather_dim", elem_bytes, [&](auto w) { launch_gather<decltype(w)>(src, d, index, out); });
}

void index_add_rows_atomic_f32(float* g, int64_t outer, int64_t N, int64_t inner, const int64_t* index, int64_t n,
                               const float* go) {
  index_add_rows(false, g, outer, N, inner, index, n, go);
}
void index_add_rows_atomic_f64(double* g, int64_t outer, int64_t N, int64_t inner, const int64_t* index, int64_t n,
                               const double* go) {
  index_add_rows(false, g, outer, N, inner, index, n, go);
}
void index_add_rows_ordered_f32(float* g, int64_t outer, int64_t N, int64_t inner, const int64_t* index, int64_t n,
                                const float* go) {
  index_add_rows(true, g, outer, N, inner, index, n, go);
}
void index_add_rows_ordered_f64(double* g, int64_t outer, int64_t N, int64_t inner, const int64_t* index, int64_t n,
                                const double* go) {
  index_add_rows(true, g, outer, N, inner, index, n, go);
}

void scatter_add_dim_atomic_f32(float* dst, const int64_t* ds, const int64_t* index, const int64_t* shape, int64_t rank,
                                int64_t dim, const float* src) {
  scatter_add_dim(false, dst, ds, index, shape, rank, dim, src);
}
void scatter_add_dim_atomic_f64(double* dst, const int64_t* ds, const int64_t* index, const int64_t* shape,
                                int64_t rank, int64_t dim, const double* src) {
  scatter_add_dim(false, dst, ds, index, shape, rank, dim, src);
}
void scatter_add_dim_ordered_f32(float* dst, const int64_t* ds, const int64_t* index, const int64_t* shape,
                                 int64_t rank, int64_t dim, const float* src) {
  scatter_add_dim(true, dst, ds, index, shape, rank, dim, src);
}
void scatter_add_dim_ordered_f64(double* dst, const int64_t* ds, const int64_t* index, const int64_t* shape,
                                 int64_t rank, int64_t dim, const double* src) {
  scatter_add_dim(true, dst, ds, index, shape, rank, dim, src);
}

}  // namespace hm::cuda
