// Device helpers shared by the elementwise, reduction, softmax, random and GLU kernels (.cu files only):
// launch geometry for grid-stride loops, 16-byte packs, warp / block reductions, and per-dtype math.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "cuda/runtime.h"

namespace hm::cuda::detail {

constexpr int kThreads = 256;  // threads per block of the elementwise kernels
constexpr int kWarp = 32;

// 16 bytes of T (float4 / double2) moved with one load or store: llm.c's Packed128.
template <class T>
struct alignas(16) Pack {
  static constexpr int kSize = int(16 / sizeof(T));
  T v[kSize];
};

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Per-dtype math: one name for the float and double CUDA intrinsics.
__device__ __forceinline__ float dexp(float x) { return expf(x); }
__device__ __forceinline__ double dexp(double x) { return exp(x); }
__device__ __forceinline__ float dlog(float x) { return logf(x); }
__device__ __forceinline__ double dlog(double x) { return log(x); }
__device__ __forceinline__ float dlog1p(float x) { return log1pf(x); }
__device__ __forceinline__ double dlog1p(double x) { return log1p(x); }
__device__ __forceinline__ float dsqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double dsqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float dtanh(float x) { return tanhf(x); }
__device__ __forceinline__ double dtanh(double x) { return tanh(x); }
__device__ __forceinline__ float dpow(float x, float p) { return powf(x, p); }
__device__ __forceinline__ double dpow(double x, double p) { return pow(x, p); }
__device__ __forceinline__ bool disnan(float x) { return isnan(x); }
__device__ __forceinline__ bool disnan(double x) { return isnan(x); }
__device__ __forceinline__ bool disinf(float x) { return isinf(x); }
__device__ __forceinline__ bool disinf(double x) { return isinf(x); }
template <class T>
__device__ __forceinline__ T dinf() {
  return T(INFINITY);
}

// max that propagates NaN in either argument (torch.max; cpu/elementwise_scalar.cpp max_nan): a NaN in `m` stays
// because `x > NaN` is false, a NaN in `x` is taken explicitly.
template <class T>
__device__ __forceinline__ T max_nan(T m, T x) {
  return (disnan(x) || x > m) ? x : m;
}

struct SumOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MaxNanOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return max_nan(a, b);
  }
};
struct MinOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return b < a ? b : a;
  }
};

// Butterfly reduction over the 32 lanes of a warp: every lane ends with the result, combined in a fixed order.
template <class T, class Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Reduction over the whole block (blockDim.x a multiple of 32): warp partials through shared memory, then every
// warp reduces the partials so that every thread returns the result. Every thread of the block must call it.
template <class T, class Op>
__device__ T block_reduce(T v, Op op, T identity) {
  __shared__ T partial[kWarp];
  const int lane = int(threadIdx.x) % kWarp, warp = int(threadIdx.x) / kWarp;
  v = warp_reduce(v, op);
  __syncthreads();  // the previous call's readers are done with `partial`
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < int(blockDim.x) / kWarp ? partial[lane] : identity;
  return warp_reduce(v, op);
}

// The threads that cooperate on one row of a row kernel: one warp per row (kWarpRows: short rows, blockDim/32 rows
// per block) or the whole block per row (long rows). Row loops are grid-stride, so any number of rows works.
template <bool kWarpRows>
struct RowGroup {
  __device__ static int64_t first_row() {
    return kWarpRows ? int64_t(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp : int64_t(blockIdx.x);
  }
  __device__ static int64_t row_step() {
    return kWarpRows ? int64_t(gridDim.x) * (blockDim.x / kWarp) : int64_t(gridDim.x);
  }
  __device__ static int lane() { return kWarpRows ? int(threadIdx.x) % kWarp : int(threadIdx.x); }
  __device__ static int width() { return kWarpRows ? kWarp : int(blockDim.x); }
  template <class T, class Op>
  __device__ static T reduce(T v, Op op, T identity) {
    if constexpr (kWarpRows)
      return warp_reduce(v, op);
    else
      return block_reduce(v, op, identity);
  }
};

// Rows up to this length get a warp each; longer ones a block of kThreads.
constexpr int64_t kWarpRowMaxCols = 1024;

// Launch kernel<true> (warp per row) or kernel<false> (block per row) for `rows` rows of `cols` elements.
template <class WarpKernel, class BlockKernel, class... Args>
void launch_rows(WarpKernel warp_kernel, BlockKernel block_kernel, int64_t rows, int64_t cols, const char* name,
                 Args... args) {
  if (rows == 0) return;
  if (cols <= kWarpRowMaxCols) {
    warp_kernel<<<grid_for(rows * kWarp, kThreads), kThreads, 0, stream()>>>(args...);  // kThreads / 32 rows a block
  } else {
    block_kernel<<<grid_for(rows * kThreads, kThreads), kThreads, 0, stream()>>>(args...);  // a row a block
  }
  check_launch(name);
}

}  // namespace hm::cuda::detail
