// Reference CUDA attention (variant `cuda_reference`): cpu/attention_scalar.cpp's formulas, one thread per output
// element, the full (Tq, Tk) matrices in device scratch. Written to be obviously right, not fast; cuda_flash is
// checked against the same CPU reference, and this variant is what the op uses where flash does not apply.
//
// Forward (PyTorch: torch.softmax(q @ k.transpose(-2, -1) * scale + mask, -1) @ v):
//   S_ij = scale q_i . k_j (masked: -inf);  P_ij = exp(S_ij - m_i) / sum_j exp(S_ij - m_i);  lse_i = m_i + log(sum)
//   out_i = sum_j P_ij keep_ij v_j
// Backward (softmax Jacobian): dP_ij = keep_ij dout_i . v_j;  dS_ij = P_ij (dP_ij - sum_l dP_il P_il)
//   dq_i = scale sum_j dS_ij k_j;  dk_j = scale sum_i dS_ij q_i;  dv_j = sum_i P_ij keep_ij dout_i
#include <cuda_runtime.h>

#include "cuda/attention.h"
#include "cuda/attention_common.cuh"
#include "cuda/runtime.h"
#include "engine/error.h"

namespace hm::cuda {
namespace {

using attn::Params;
constexpr int kThreads = 256;

// Enough blocks for n threads (grid-stride loops cover the rest).
unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return unsigned(b < 65535 * 16 ? b : 65535 * 16);
}

// S (BH, Tq, Tk) = scale q k^T, -inf where masked. One thread per (bh, i, j).
template <class S, class A>
__global__ void scores_kernel(Params<A> p, int64_t BH, const S* q, const S* k, const uint8_t* pad, A* out) {
  const int64_t n = BH * p.Tq * p.Tk;
  for (int64_t x = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; x < n; x += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = x % p.Tk, i = (x / p.Tk) % p.Tq, bh = x / (p.Tk * p.Tq);
    const uint8_t* padb = pad ? pad + (bh / p.H) * p.Tk : nullptr;
    if (!attn::visible(p, padb, i, j)) {
      out[x] = attn::neg_inf<A>();
      continue;
    }
    const S* qi = q + (bh * p.Tq + i) * p.Dh;  // (Dh)
    const S* kj = k + (bh * p.Tk + j) * p.Dh;  // (Dh)
    A s = 0;
    for (int64_t c = 0; c < p.Dh; ++c) s += attn::ld(qi + c) * attn::ld(kj + c);
    out[x] = p.scale * s;
  }
}

// Block-wide reduction of v (op = max or sum) over kThreads threads; every thread gets the result.
template <class A, class Op>
__device__ A block_reduce(A v, A* shared, Op op) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (int(threadIdx.x) < s) shared[threadIdx.x] = op(shared[threadIdx.x], shared[threadIdx.x + s]);
    __syncthreads();
  }
  const A r = shared[0];
  __syncthreads();
  return r;
}

// In place on each row of P (BH * Tq rows of Tk): scores -> probabilities (times keep when with_keep), lse per row
// (may be null). A fully masked row becomes 0 with lse = -inf. One block per row.
template <class A, class L>
__global__ void softmax_kernel(Params<A> p, A* P, L* lse, bool with_keep) {
  __shared__ A shared[kThreads];
  const int64_t row = blockIdx.x;  // = bh * Tq + i
  A* r = P + row * p.Tk;           // (Tk)
  A mx = attn::neg_inf<A>();
  for (int64_t j = threadIdx.x; j < p.Tk; j += kThreads) mx = fmax(mx, r[j]);
  mx = block_reduce(mx, shared, [](A a, A b) { return fmax(a, b); });
  if (mx == attn::neg_inf<A>()) {
    for (int64_t j = threadIdx.x; j < p.Tk; j += kThreads) r[j] = 0;
    if (lse && threadIdx.x == 0) lse[row] = L(mx);
    return;
  }
  A sum = 0;
  for (int64_t j = threadIdx.x; j < p.Tk; j += kThreads) {
    r[j] = attn::exp_(r[j] - mx);  // exp(-inf) = 0 for masked keys
    sum += r[j];
  }
  sum = block_reduce(sum, shared, [](A a, A b) { return a + b; });
  const int64_t bh = row / p.Tq, i = row % p.Tq;
  for (int64_t j = threadIdx.x; j < p.Tk; j += kThreads) {
    r[j] /= sum;
    if (with_keep) r[j] *= attn::keep_factor(p, bh, i, j);
  }
  if (lse && threadIdx.x == 0) lse[row] = L(mx + attn::log_(sum));
}

// out (BH, Tq, Dh) = M (BH, Tq, Tk) @ v (BH, Tk, Dh) (times `scale`). One thread per (bh, i, c).
template <class S, class A>
__global__ void rows_times_kernel(Params<A> p, int64_t BH, const A* M, const S* v, A scale, S* out) {
  const int64_t n = BH * p.Tq * p.Dh;
  for (int64_t x = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; x < n; x += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = x % p.Dh, row = x / p.Dh, bh = row / p.Tq;
    const A* m = M + row * p.Tk;         // (Tk)
    const S* vb = v + bh * p.Tk * p.Dh;  // (Tk, Dh)
    A s = 0;
    for (int64_t j = 0; j < p.Tk; ++j) s += m[j] * attn::ld(vb + j * p.Dh + c);
    attn::st(out + x, scale * s);
  }
}

// out (BH, Tk, Dh) = M^T (BH, Tk, Tq) @ x (BH, Tq, Dh) (times `scale`). One thread per (bh, j, c).
template <class S, class A>
__global__ void cols_times_kernel(Params<A> p, int64_t BH, const A* M, const S* xin, A scale, S* out) {
  const int64_t n = BH * p.Tk * p.Dh;
  for (int64_t x = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; x < n; x += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = x % p.Dh, j = (x / p.Dh) % p.Tk, bh = x / (p.Dh * p.Tk);
    const A* m = M + bh * p.Tq * p.Tk + j;  // column j of (Tq, Tk)
    const S* xb = xin + bh * p.Tq * p.Dh;   // (Tq, Dh)
    A s = 0;
    for (int64_t i = 0; i < p.Tq; ++i) s += m[i * p.Tk] * attn::ld(xb + i * p.Dh + c);
    attn::st(out + x, scale * s);
  }
}

// From P (undropped probabilities): Pd = P keep and G = dP = keep dout_i . v_j. One thread per (bh, i, j).
template <class S, class A>
__global__ void dprob_kernel(Params<A> p, int64_t BH, const A* P, const S* dout, const S* v, A* Pd, A* G) {
  const int64_t n = BH * p.Tq * p.Tk;
  for (int64_t x = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; x < n; x += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = x % p.Tk, i = (x / p.Tk) % p.Tq, bh = x / (p.Tk * p.Tq);
    const A keep = attn::keep_factor(p, bh, i, j);
    const S* gi = dout + (bh * p.Tq + i) * p.Dh;  // (Dh)
    const S* vj = v + (bh * p.Tk + j) * p.Dh;     // (Dh)
    A s = 0;
    for (int64_t c = 0; c < p.Dh; ++c) s += attn::ld(gi + c) * attn::ld(vj + c);
    Pd[x] = P[x] * keep;
    G[x] = s * keep;
  }
}

// Per row, in place: G = dP -> dS = P (dP - sum_l dP_l P_l). One block per row.
template <class A>
__global__ void dscores_kernel(Params<A> p, const A* P, A* G) {
  __shared__ A shared[kThreads];
  const int64_t row = blockIdx.x;
  const A* pr = P + row * p.Tk;  // (Tk)
  A* g = G + row * p.Tk;         // (Tk)
  A s = 0;
  for (int64_t j = threadIdx.x; j < p.Tk; j += kThreads) s += g[j] * pr[j];
  s = block_reduce(s, shared, [](A a, A b) { return a + b; });
  for (int64_t j = threadIdx.x; j < p.Tk; j += kThreads) g[j] = pr[j] * (g[j] - s);
}

// Device scratch of n values of A, given back when the scope ends (the one stream orders its reuse).
template <class A>
struct Scratch {
  explicit Scratch(int64_t n) : bytes(size_t(n) * sizeof(A)), ptr(static_cast<A*>(scratch(bytes))) {}
  ~Scratch() { release(ptr, bytes); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  size_t bytes;
  A* ptr;
};

// P (BH, Tq, Tk) := probabilities (with keep applied when with_keep), lse (may be null).
template <class S, class A, class L>
void probabilities(const Params<A>& p, int64_t BH, const S* q, const S* k, const uint8_t* pad, A* P, L* lse,
                   bool with_keep) {
  const int64_t n = BH * p.Tq * p.Tk;
  scores_kernel<S, A><<<blocks_for(n), kThreads, 0, stream()>>>(p, BH, q, k, pad, P);
  check_launch("attention reference scores_kernel");
  softmax_kernel<A, L><<<unsigned(BH * p.Tq), kThreads, 0, stream()>>>(p, P, lse, with_keep);
  check_launch("attention reference softmax_kernel");
}

template <class A>
void check_dims(const AttentionDims& d, const char* what) {
  hm::check(d.B >= 1 && d.H >= 1 && d.Tq >= 1 && d.Tk >= 1 && d.Dh >= 1, what, ": bad dims B=", d.B, " H=", d.H,
            " Tq=", d.Tq, " Tk=", d.Tk, " Dh=", d.Dh);
  hm::check(d.B * d.H * d.Tq <= int64_t(2147483647), what, ": B*H*Tq = ", d.B * d.H * d.Tq, " rows exceed the grid");
}

}  // namespace

namespace reference {

template <class T, class L>
void attention_forward(const AttentionDims& d, const T* q_, const T* k_, const T* v_, const uint8_t* pad, T* out_,
                       L* lse) {
  using S = typename attn::Dev<T>::type;
  using A = L;  // accumulate in the lse type: f32 for f32 and bf16, f64 for f64
  check_dims<A>(d, "attention cuda_reference forward");
  const auto* q = reinterpret_cast<const S*>(q_);
  const auto* k = reinterpret_cast<const S*>(k_);
  const auto* v = reinterpret_cast<const S*>(v_);
  auto* out = reinterpret_cast<S*>(out_);
  const Params<A> p = attn::make_params<A>(d);
  const int64_t BH = d.B * d.H;
  Scratch<A> P(BH * d.Tq * d.Tk);  // (BH, Tq, Tk)
  probabilities<S, A, L>(p, BH, q, k, pad, P.ptr, lse, true);
  rows_times_kernel<S, A><<<blocks_for(BH * d.Tq * d.Dh), kThreads, 0, stream()>>>(p, BH, P.ptr, v, A(1), out);
  check_launch("attention reference rows_times_kernel (out = Pd v)");
}

template <class T, class L>
void attention_backward(const AttentionDims& d, const T* q_, const T* k_, const T* v_, const uint8_t* pad,
                        const T* /*out*/, const L* /*lse*/, const T* dout_, T* dq_, T* dk_, T* dv_) {
  using S = typename attn::Dev<T>::type;
  using A = L;
  check_dims<A>(d, "attention cuda_reference backward");
  const auto* q = reinterpret_cast<const S*>(q_);
  const auto* k = reinterpret_cast<const S*>(k_);
  const auto* v = reinterpret_cast<const S*>(v_);
  const auto* dout = reinterpret_cast<const S*>(dout_);
  auto* dq = reinterpret_cast<S*>(dq_);
  auto* dk = reinterpret_cast<S*>(dk_);
  auto* dv = reinterpret_cast<S*>(dv_);
  const Params<A> p = attn::make_params<A>(d);
  const int64_t BH = d.B * d.H, n = BH * d.Tq * d.Tk;
  Scratch<A> P(n), Pd(n), G(n);  // (BH, Tq, Tk) each: probabilities, dropped probabilities, dP then dS
  probabilities<S, A, L>(p, BH, q, k, pad, P.ptr, static_cast<L*>(nullptr), false);
  dprob_kernel<S, A><<<blocks_for(n), kThreads, 0, stream()>>>(p, BH, P.ptr, dout, v, Pd.ptr, G.ptr);
  check_launch("attention reference dprob_kernel");
  dscores_kernel<A><<<unsigned(BH * d.Tq), kThreads, 0, stream()>>>(p, P.ptr, G.ptr);
  check_launch("attention reference dscores_kernel");
  const unsigned gq = blocks_for(BH * d.Tq * d.Dh), gk = blocks_for(BH * d.Tk * d.Dh);
  rows_times_kernel<S, A><<<gq, kThreads, 0, stream()>>>(p, BH, G.ptr, k, p.scale, dq);
  check_launch("attention reference rows_times_kernel (dq = scale dS k)");
  cols_times_kernel<S, A><<<gk, kThreads, 0, stream()>>>(p, BH, G.ptr, q, p.scale, dk);
  check_launch("attention reference cols_times_kernel (dk = scale dS^T q)");
  cols_times_kernel<S, A><<<gk, kThreads, 0, stream()>>>(p, BH, Pd.ptr, dout, A(1), dv);
  check_launch("attention reference cols_times_kernel (dv = Pd^T dout)");
}

template void attention_forward<float, float>(const AttentionDims&, const float*, const float*, const float*,
                                              const uint8_t*, float*, float*);
template void attention_forward<double, double>(const AttentionDims&, const double*, const double*, const double*,
                                                const uint8_t*, double*, double*);
template void attention_forward<bf16_bits, float>(const AttentionDims&, const bf16_bits*, const bf16_bits*,
                                                  const bf16_bits*, const uint8_t*, bf16_bits*, float*);
template void attention_backward<float, float>(const AttentionDims&, const float*, const float*, const float*,
                                               const uint8_t*, const float*, const float*, const float*, float*, float*,
                                               float*);
template void attention_backward<double, double>(const AttentionDims&, const double*, const double*, const double*,
                                                 const uint8_t*, const double*, const double*, const double*, double*,
                                                 double*, double*);
template void attention_backward<bf16_bits, float>(const AttentionDims&, const bf16_bits*, const bf16_bits*,
                                                   const bf16_bits*, const uint8_t*, const bf16_bits*, const float*,
                                                   const bf16_bits*, bf16_bits*, bf16_bits*, bf16_bits*);

}  // namespace reference
}  // namespace hm::cuda
