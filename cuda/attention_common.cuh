// Device helpers shared by the attention kernels (cuda/attention_reference.cu, cuda/attention_flash.cu); included
// only by .cu files. Element access (bf16 read as f32), the kernel parameter block, and the dropout keep factor
// from the same Philox4x32-10 stream as the CPU (engine/rng.cpp, cpu/attention.h).
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "cuda/attention.h"

namespace hm::cuda::attn {

// Storage type on the device for the element type of the interface (bf16 travels as raw bits).
template <class T>
struct Dev {
  using type = T;
};
template <>
struct Dev<bf16_bits> {
  using type = __nv_bfloat16;
};

__device__ __forceinline__ float ld(const float* p) { return *p; }
__device__ __forceinline__ double ld(const double* p) { return *p; }
__device__ __forceinline__ float ld(const __nv_bfloat16* p) { return __bfloat162float(*p); }
__device__ __forceinline__ void st(float* p, float x) { *p = x; }
__device__ __forceinline__ void st(double* p, double x) { *p = x; }
__device__ __forceinline__ void st(__nv_bfloat16* p, float x) { *p = __float2bfloat16(x); }

// -infinity in A (std::numeric_limits is host-only without --expt-relaxed-constexpr).
template <class A>
__host__ __device__ __forceinline__ A neg_inf() {
  return A(-INFINITY);
}

__device__ __forceinline__ float exp_(float x) { return expf(x); }
__device__ __forceinline__ double exp_(double x) { return exp(x); }
__device__ __forceinline__ float log_(float x) { return logf(x); }
__device__ __forceinline__ double log_(double x) { return log(x); }

// Everything a kernel needs besides pointers, in the accumulator type A (float, or double for f64).
template <class A>
struct Params {
  int64_t H, Tq, Tk, Dh;
  A scale;  // = A(d.scale): the CPU multiplies the dot product by T(d.scale) too
  bool causal;
  bool dropout;  // dropout_p > 0
  uint64_t seed, offset;
  uint32_t threshold;  // keep iff word >= threshold (cpu::dropout_threshold)
  A keep_scale;        // A(1 / (1 - p)), as cpu::scalar's keep_factor
};

template <class A>
Params<A> make_params(const AttentionDims& d) {
  Params<A> p;
  p.H = d.H, p.Tq = d.Tq, p.Tk = d.Tk, p.Dh = d.Dh;
  p.scale = A(d.scale);
  p.causal = d.causal;
  p.dropout = d.dropout_p > 0;
  p.seed = d.seed, p.offset = d.offset;
  const double t = std::ceil(d.dropout_p * 4294967296.0);  // cpu::dropout_threshold: ceil(p * 2^32)
  p.threshold = t >= 4294967295.0 ? 0xFFFFFFFFu : uint32_t(t);
  p.keep_scale = p.dropout ? A(1.0 / (1.0 - d.dropout_p)) : A(1);
  return p;
}

// Word w of philox4x32(key, (counter, 0)): engine/rng.cpp line for line (Random123 constants, 10 rounds).
__device__ __forceinline__ uint32_t philox_word(uint64_t key, uint64_t counter, int w) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    const uint32_t hi0 = __umulhi(kM0, c0), lo0 = kM0 * c0;
    const uint32_t hi1 = __umulhi(kM1, c2), lo1 = kM1 * c2;
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c1 = lo1;
    c3 = lo0;
    c0 = n0;
    c2 = n2;
    k0 += kW0;
    k1 += kW1;
  }
  return w == 0 ? c0 : w == 1 ? c1 : w == 2 ? c2 : c3;
}

// keep_e / (1 - p) for dropout element e = (bh * Tq + i) * Tk + j; 1 without dropout.
template <class A>
__device__ __forceinline__ A keep_factor(const Params<A>& p, int64_t bh, int64_t i, int64_t j) {
  if (!p.dropout) return A(1);
  const uint64_t e = uint64_t((bh * p.Tq + i) * p.Tk + j);
  return philox_word(p.seed, p.offset + e / 4, int(e % 4)) >= p.threshold ? p.keep_scale : A(0);
}

// Key j of query i is visible: not padded (pad: this batch's (Tk) row or null) and not in the causal future.
template <class A>
__device__ __forceinline__ bool visible(const Params<A>& p, const uint8_t* pad, int64_t i, int64_t j) {
  return !(pad && pad[j]) && !(p.causal && j > i);
}

// Calls f(std::integral_constant<int, D>) with the padded head dim D in {16, 32, 64, 128} for Dh <= 128: kernels are
// instantiated for these four and zero-pad the head dim up to D.
template <class F>
void with_head_dim(int64_t Dh, F&& f) {
  if (Dh <= 16)
    f(std::integral_constant<int, 16>{});
  else if (Dh <= 32)
    f(std::integral_constant<int, 32>{});
  else if (Dh <= 64)
    f(std::integral_constant<int, 64>{});
  else
    f(std::integral_constant<int, 128>{});
}

// Drow (rows) = rowsum(dout * out) over Dh, one warp per row (FlashAttention-2's D_i, computed before the backward
// kernels). Launch with (rows * 32 + threads - 1) / threads blocks.
template <class S, class A>
__global__ void row_dot_kernel(int64_t rows, int64_t Dh, const S* dout, const S* out, A* Drow) {
  const int64_t row = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;  // whole warps leave together
  A s = 0;
  for (int64_t c = lane; c < Dh; c += 32) s += ld(dout + row * Dh + c) * ld(out + row * Dh + c);
#pragma unroll
  for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (lane == 0) Drow[row] = s;
}

}  // namespace hm::cuda::attn
