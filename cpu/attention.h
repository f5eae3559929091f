// Fused multi-head attention kernels (raw pointers, llm.c style):
//
//   S = q k^T * scale (+ key-padding mask: -inf) (+ causal mask: -inf where key j > query i)
//   P = softmax(S)  (row-wise over keys);   lse = logsumexp(S) per row
//   Pd = P * keep / (1 - p)  (dropout on the probabilities; keep ~ Bernoulli(1 - p) from Philox)
//   out = Pd v
//
// Layouts (all contiguous, row-major): q (B, H, Tq, Dh), k and v (B, H, Tk, Dh), out (B, H, Tq, Dh),
// lse (B, H, Tq), key_padding (B, Tk) u8 with 1 = padded key (may be null).
//
// Conventions shared by every variant (the conformance test holds them to it):
//  * Causal is top-left aligned, as in PyTorch's scaled_dot_product_attention(is_causal=True) (tril of an
//    (Tq, Tk) ones matrix): query i sees keys j <= i, also when Tq != Tk.
//  * A fully masked row (every key padded, or causal + padding leaving nothing) has no distribution to normalise.
//    PyTorch returns NaN there; we return out = 0, lse = -inf and zero gradient through that row, the convention of
//    flash-attention and xformers, so one padded utterance cannot poison a batch.
//  * Dropout element e = ((b * H + h) * Tq + i) * Tk + j uses word e % 4 of the Philox4x32-10 block
//    (key = seed, counter = offset + e / 4) and is kept when word >= dropout_threshold(p). The mask is a pure
//    function of (seed, offset, e): identical for any thread count, regenerated in backward instead of stored.
//    The op reserves ceil(B*H*Tq*Tk / 4) counters from its Generator.
#pragma once
#include <cstdint>

namespace hm::cpu {

struct AttentionDims {
  int64_t B = 0, H = 0, Tq = 0, Tk = 0, Dh = 0;
  double scale = 1.0;  // usually 1 / sqrt(Dh)
  bool causal = false;
  double dropout_p = 0.0;  // 0 = no dropout (inference, or p = 0)
  uint64_t seed = 0;       // Philox key for the dropout mask
  uint64_t offset = 0;     // first Philox counter of this call's mask
};

// Forward: writes out (B, H, Tq, Dh) and lse (B, H, Tq) (-inf for fully masked rows).
template <class T>
using AttentionForwardFn = void (*)(const AttentionDims& d, const T* q, const T* k, const T* v,
                                    const uint8_t* key_padding, T* out, T* lse);

// Backward: from dout (B, H, Tq, Dh) and the forward's out and lse, writes (overwrites) dq (B, H, Tq, Dh) and
// dk, dv (B, H, Tk, Dh):
//   dPd = dout v^T;  dP = dPd * keep / (1 - p);  D = rowsum(dout * out)  (= rowsum(dP * P))
//   dS = P * (dP - D);  dq = dS k * scale;  dk = dS^T q * scale;  dv = Pd^T dout
template <class T>
using AttentionBackwardFn = void (*)(const AttentionDims& d, const T* q, const T* k, const T* v,
                                     const uint8_t* key_padding, const T* out, const T* lse, const T* dout, T* dq,
                                     T* dk, T* dv);

// One entry of the `attention` kernel table: both directions, both float types.
struct AttentionKernels {
  AttentionForwardFn<float> forward_f32;
  AttentionForwardFn<double> forward_f64;
  AttentionBackwardFn<float> backward_f32;
  AttentionBackwardFn<double> backward_f64;

  template <class T>
  AttentionForwardFn<T> forward() const {
    if constexpr (sizeof(T) == 4)
      return forward_f32;
    else
      return forward_f64;
  }
  template <class T>
  AttentionBackwardFn<T> backward() const {
    if constexpr (sizeof(T) == 4)
      return backward_f32;
    else
      return backward_f64;
  }
};

// Keep element iff its Philox word >= threshold; threshold = ceil(p * 2^32) so P(keep) = 1 - p (to 2^-32).
uint32_t dropout_threshold(double p);

// ---- variants ----
namespace scalar {
// Reference: materialises the (Tq, Tk) score matrix per (b, h); plain loops, one Philox block per element.
template <class T>
void attention_forward(const AttentionDims& d, const T* q, const T* k, const T* v, const uint8_t* key_padding, T* out,
                       T* lse);
template <class T>
void attention_backward(const AttentionDims& d, const T* q, const T* k, const T* v, const uint8_t* key_padding,
                        const T* out, const T* lse, const T* dout, T* dq, T* dk, T* dv);
}  // namespace scalar

namespace blocked {
// Per (b, h) in parallel, blocks of query rows, cblas GEMMs for q k^T / P v / the four backward products,
// Highway softmax rows; backward recomputes P from the saved lse (see attention_blocked.cpp for why).
template <class T>
void attention_forward(const AttentionDims& d, const T* q, const T* k, const T* v, const uint8_t* key_padding, T* out,
                       T* lse);
template <class T>
void attention_backward(const AttentionDims& d, const T* q, const T* k, const T* v, const uint8_t* key_padding,
                        const T* out, const T* lse, const T* dout, T* dq, T* dk, T* dv);
}  // namespace blocked

// ---- Highway row kernels used by the blocked variant (cpu/attention_rows.cpp, dynamic dispatch) ----
namespace rows {
// s (n_total): add bias (n_valid; 0 or -inf per key, may be null), softmax over [0, n_valid) in place, zero
// [n_valid, n_total). Returns the row's logsumexp, -inf (and an all-zero row) when every key is masked.
float softmax(float* s, const float* bias, int64_t n_valid, int64_t n_total);
double softmax(double* s, const double* bias, int64_t n_valid, int64_t n_total);
// s (n_total) holds scores again: s = exp(s + bias - lse) on [0, n_valid), 0 after; all 0 when lse = -inf.
void recompute_probs(float* s, const float* bias, float lse, int64_t n_valid, int64_t n_total);
void recompute_probs(double* s, const double* bias, double lse, int64_t n_valid, int64_t n_total);
// dp (n) := p * (dp * keep - D); keep may be null (no dropout).
void softmax_grad(float* dp, const float* p, const float* keep, float D, int64_t n);
void softmax_grad(double* dp, const double* p, const double* keep, double D, int64_t n);
// out (n) := a * b
void mul(float* out, const float* a, const float* b, int64_t n);
void mul(double* out, const double* a, const double* b, int64_t n);
// keep (n): scale where the dropout element e0 + j is kept, 0 where dropped (layout of the header comment).
// words: scratch of at least n + 8 u32 (the Philox words of the blocks covering the row).
void dropout_keep(uint64_t seed, uint64_t offset, uint64_t e0, int64_t n, uint32_t threshold, float scale,
                  uint32_t* words, float* keep);
void dropout_keep(uint64_t seed, uint64_t offset, uint64_t e0, int64_t n, uint32_t threshold, double scale,
                  uint32_t* words, double* keep);
}  // namespace rows

}  // namespace hm::cpu
