// Device helpers shared by the two selective-scan variants (cuda/selective_scan_sequential.cu,
// cuda/selective_scan_chunked.cu): element conversions and the scalar functions of the S6 recurrence, written once
// so both variants compute exactly the same per-step values as cpu/selective_scan_scalar.cpp.
// CUDA-only internal header (device functions; included by .cu files only).
#pragma once
#include <cuda_bf16.h>

#include <algorithm>

#include "cuda/runtime.h"
#include "cuda/selective_scan.h"

namespace hm::cuda::scan_detail {

// Sequence element -> weight/accumulation type and back (bf16: round to nearest even, like torch's .to(bf16)).
template <class W>
__device__ __forceinline__ W to_w(float x) {
  return W(x);
}
template <class W>
__device__ __forceinline__ W to_w(double x) {
  return W(x);
}
template <class W>
__device__ __forceinline__ W to_w(bfloat16_t x) {
  return W(__uint_as_float(uint32_t(x.bits) << 16));
}
template <class In, class W>
__device__ __forceinline__ In from_w(W x) {
  if constexpr (sizeof(In) == 2)
    return bfloat16_t{__bfloat16_as_ushort(__float2bfloat16_rn(float(x)))};
  else
    return In(x);
}

// Optional-input reads: zero (no skip, no bias) when the pointer is null.
template <class W>
__device__ __forceinline__ W load_or_zero(const W* p, int64_t i) {
  return p ? p[i] : W(0);
}

__device__ __forceinline__ float exp_w(float x) { return expf(x); }
__device__ __forceinline__ double exp_w(double x) { return exp(x); }
__device__ __forceinline__ float log1p_w(float x) { return log1pf(x); }
__device__ __forceinline__ double log1p_w(double x) { return log1p(x); }

// softplus(x) = x if x > 20 else log1p(exp(x))  (torch softplus threshold 20; mamba's kernels use the same cut).
template <class W>
__device__ __forceinline__ W softplus(W x) {
  return x > W(20) ? x : log1p_w(exp_w(x));
}
// d softplus / dx = sigmoid(x), exactly 1 on the linear branch (PyTorch's softplus_backward).
template <class W>
__device__ __forceinline__ W softplus_grad(W x) {
  return x > W(20) ? W(1) : W(1) / (W(1) + exp_w(-x));
}
template <class W>
__device__ __forceinline__ W sigmoid(W x) {
  return W(1) / (W(1) + exp_w(-x));
}

// delta after the bias and the optional softplus, from the raw value `raw` = delta + delta_bias.
template <class W>
__device__ __forceinline__ W effective_delta(W raw, bool use_softplus) {
  return use_softplus ? softplus(raw) : raw;
}

// Device buffer of n elements from the caching allocator, returned when the owner goes out of scope. Work on the
// one stream runs in order, so releasing right after the launches that use it is safe (the next user of the block
// is a later kernel on the same stream).
template <class W>
struct Scratch {
  explicit Scratch(int64_t n)
      : bytes(size_t(std::max<int64_t>(n, 1)) * sizeof(W)), ptr(static_cast<W*>(scratch(bytes))) {}
  ~Scratch() { release(ptr, bytes); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  size_t bytes;
  W* ptr;
};

}  // namespace hm::cuda::scan_detail
