// Device helpers shared by the norm and loss kernels (cuda/norm.cu, cuda/loss.cu, cuda/ctc.cu): warp and block
// sum / max reductions and the launch geometry. CUDA-only (included from .cu files, never from C++).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace hm::cuda::detail {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kBlock = 256;  // threads per block of the row / group / channel kernels (a multiple of 32)

// Butterfly reduction: every lane of the warp ends with the sum (max) of the 32 lanes' values.
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}
template <class T>
__device__ __forceinline__ T warp_max(T v) {
  for (int o = 16; o > 0; o >>= 1) {
    const T other = __shfl_xor_sync(kFullMask, v, o);
    v = other > v ? other : v;
  }
  return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the result. Every
// thread of the block must call it (it synchronises). The leading __syncthreads keeps a second call from
// overwriting `partial` while a slow warp still reads the first call's values.
template <class T>
__device__ T block_sum(T v) {
  __shared__ T partial[32];  // one value per warp
  const int lane = int(threadIdx.x & 31), warp = int(threadIdx.x >> 5);
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int warps = int(blockDim.x >> 5);
  return warp_sum(lane < warps ? partial[lane] : T(0));
}

template <class T>
__device__ T block_max(T v) {
  __shared__ T partial[32];
  const int lane = int(threadIdx.x & 31), warp = int(threadIdx.x >> 5);
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int warps = int(blockDim.x >> 5);
  return warp_max(lane < warps ? partial[lane] : partial[0]);
}

}  // namespace hm::cuda::detail
