// Fused multi-head attention on the GPU (raw device pointers, llm.c style; launched on hm::cuda::stream()).
// Same function and conventions as cpu/attention.h, which this mirrors:
//
//   S = q k^T * scale (+ key-padding mask: -inf) (+ causal mask: -inf where key j > query i, top-left aligned)
//   P = softmax(S) row-wise over keys;  lse = logsumexp(S) per row (-inf, out = 0, zero gradients when every key
//   of a row is masked);  Pd = P * keep / (1 - p);  out = Pd v
//   dropout element e = ((b * H + h) * Tq + i) * Tk + j is kept iff word e % 4 of philox4x32(seed, offset + e / 4)
//   is >= ceil(p * 2^32): the CPU's stream bit for bit, regenerated (never stored) in backward.
//
// Layouts (contiguous, row-major, device memory): q (B, H, Tq, Dh), k and v (B, H, Tk, Dh), out (B, H, Tq, Dh),
// lse (B, H, Tq), key_padding (B, Tk) u8 with 1 = padded key (may be null).
// Element types T / saved-lse types L: float / float, double / double, and bf16 / float, where bf16 travels as its
// raw 16 bits (uint16_t) so that this header stays plain C++; the kernels read it as __nv_bfloat16 and compute in
// f32. The lse of bf16 inputs is kept in f32: rounded to bf16 it would put ~0.4% error into every recomputed P.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hm::cuda {

struct AttentionDims {
  int64_t B = 0, H = 0, Tq = 0, Tk = 0, Dh = 0;
  double scale = 1.0;  // usually 1 / sqrt(Dh)
  bool causal = false;
  double dropout_p = 0.0;  // 0 = no dropout
  uint64_t seed = 0;       // Philox key of the dropout mask
  uint64_t offset = 0;     // first Philox counter of this call's mask
};

using bf16_bits = uint16_t;  // a bf16 element as stored (see above)

// Forward: writes out (B, H, Tq, Dh) and lse (B, H, Tq).
template <class T, class L>
using AttentionForwardFn = void (*)(const AttentionDims& d, const T* q, const T* k, const T* v,
                                    const uint8_t* key_padding, T* out, L* lse);
// Backward: from dout (B, H, Tq, Dh), the forward's out and lse, overwrites dq (B, H, Tq, Dh), dk, dv (B, H, Tk, Dh).
template <class T, class L>
using AttentionBackwardFn = void (*)(const AttentionDims& d, const T* q, const T* k, const T* v,
                                     const uint8_t* key_padding, const T* out, const L* lse, const T* dout, T* dq,
                                     T* dk, T* dv);

// ---- variants; instantiated for <float, float>, <double, double>, <bf16_bits, float> ----

// Reference: one thread per element of the full (Tq, Tk) score / probability matrices (kept in device scratch,
// 3 * B*H*Tq*Tk accumulator values in backward), a block per softmax row. The backward uses the textbook
// row sum sum_l dP_il P_il (not the saved out / lse), like cpu::scalar.
namespace reference {
template <class T, class L>
void attention_forward(const AttentionDims& d, const T* q, const T* k, const T* v, const uint8_t* key_padding, T* out,
                       L* lse);
template <class T, class L>
void attention_backward(const AttentionDims& d, const T* q, const T* k, const T* v, const uint8_t* key_padding,
                        const T* out, const L* lse, const T* dout, T* dq, T* dk, T* dv);
}  // namespace reference

// FlashAttention-2 style (Dao 2023): tiles of 64 queries x 64 keys (32 x 32 in f64) in shared memory, online
// softmax in registers, no (Tq, Tk) matrix in memory; backward recomputes P from lse, with D = rowsum(dout * out)
// precomputed, one kernel for dk/dv (a block per key tile) and one for dq (a block per query tile), no atomics.
// Head dims up to kMaxHeadDim (padded to 16, 32, 64 or 128 in shared memory); larger ones throw.
namespace flash {
constexpr int64_t kMaxHeadDim = 128;
template <class T, class L>
void attention_forward(const AttentionDims& d, const T* q, const T* k, const T* v, const uint8_t* key_padding, T* out,
                       L* lse);
template <class T, class L>
void attention_backward(const AttentionDims& d, const T* q, const T* k, const T* v, const uint8_t* key_padding,
                        const T* out, const L* lse, const T* dout, T* dq, T* dk, T* dv);
}  // namespace flash

// Tensor-core (WMMA bf16, f32 accumulation) forward and backward for bf16 inputs, flash's algorithms with
// 64-row tiles of 4 warps; P and dS enter their products rounded to bf16. Head dims up to flash::kMaxHeadDim.
namespace flash_tc {
void attention_forward_bf16(const AttentionDims& d, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                            const uint8_t* key_padding, bf16_bits* out, float* lse);
void attention_backward_bf16(const AttentionDims& d, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                             const uint8_t* key_padding, const bf16_bits* out, const float* lse, const bf16_bits* dout,
                             bf16_bits* dq, bf16_bits* dk, bf16_bits* dv);
}  // namespace flash_tc

}  // namespace hm::cuda
