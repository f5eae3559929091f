// cuda_sequential: the readable CUDA selective scan, the scalar reference loop (cpu/selective_scan_scalar.cpp)
// moved onto the GPU with one thread per (b, d) channel. Nothing is clever: the forward stores every state
// h[b, d, t, :] as its checkpoint, the backward stores every adjoint hbar[b, d, t, :] in scratch, and each
// gradient that sums over a dimension (dB, dC over d; dA over b and t; dDskip, ddelta_bias over b) is computed by
// one thread per output element summing in a fixed order. No atomics, so the results are deterministic.
#include <optional>

#include "cuda/runtime.h"
#include "cuda/selective_scan_common.cuh"

namespace hm::cuda {
namespace {

using namespace scan_detail;

constexpr int kThreads = 128;

unsigned blocks_for(int64_t n) { return unsigned((n + kThreads - 1) / kThreads); }

// Forward, thread (b, d):  h = exp(delta * A) * h + delta * B * u;  y = sum_n h * C;  out = (y + u D) * silu(z).
// hist (B, D, L, N) receives every h_t when non-null; h (B, D, N) is the running state (ends as the last state).
template <class In, class W>
__global__ void scan_seq_forward_kernel(ScanArgs<In, W> p, In* out, W* h, W* hist) {
  const int64_t ch = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // channel b * D + d
  if (ch >= p.B * p.D) return;
  const int64_t b = ch / p.D, d = ch % p.D, L = p.L, N = p.N;
  W* hc = h + ch * N;  // (N)
  for (int64_t n = 0; n < N; ++n) hc[n] = W(0);
  const W bias = load_or_zero(p.delta_bias, d), Dd = load_or_zero(p.Dskip, d);
  for (int64_t t = 0; t < L; ++t) {
    const W u = to_w<W>(p.u[ch * L + t]);
    const W dt = effective_delta(to_w<W>(p.delta[ch * L + t]) + bias, p.softplus);
    W y = 0;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t bn = (b * N + n) * L + t;
      const W A = -exp_w(p.A_log[d * N + n]);
      hc[n] = exp_w(dt * A) * hc[n] + dt * to_w<W>(p.Bm[bn]) * u;
      y += hc[n] * to_w<W>(p.Cm[bn]);
      if (hist) hist[(ch * L + t) * N + n] = hc[n];
    }
    W o = y + u * Dd;
    if (p.z) {
      const W z = to_w<W>(p.z[ch * L + t]);
      o *= z * sigmoid(z);
    }
    out[ch * L + t] = from_w<In>(o);
  }
}

// Backward, thread (b, d), reverse time (the scalar reference's formulas, a_t = exp(delta_t * A)):
//   hbar_t = gy_t * C_t + a_{t+1} * hbar_{t+1}      (hbar_{L-1} = gy * C + dlast)
//   du_t = gy_t * D + delta_t * sum_n hbar_t * B_t;  ddelta_t = sum_n hbar_t * (B_t u_t + A a_t h_{t-1})
//   dz_t = dout_t * (y_t + u_t D) * silu'(z_t);      gy = dout * silu(z)
// Writes hbar (B, D, L, N) for the reduction kernels, and the per-channel sums of gy*u (dDskip) and of the raw
// delta gradient (ddelta_bias) into part_dD / part_dbias (B, D).
template <class In, class W>
__global__ void scan_seq_backward_kernel(ScanArgs<In, W> p, const In* dout, const W* dlast, const W* hist,
                                         ScanGradArgs<In, W> g, W* hbar, W* part_dD, W* part_dbias) {
  const int64_t ch = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (ch >= p.B * p.D) return;
  const int64_t b = ch / p.D, d = ch % p.D, L = p.L, N = p.N;
  const W bias = load_or_zero(p.delta_bias, d), Dd = load_or_zero(p.Dskip, d);
  W sum_dD = 0, sum_dbias = 0, dt_next = 0;
  for (int64_t t = L - 1; t >= 0; --t) {
    const int64_t i = ch * L + t;
    const W u = to_w<W>(p.u[i]);
    const W raw = to_w<W>(p.delta[i]) + bias;
    const W dt = effective_delta(raw, p.softplus);
    W gy = to_w<W>(dout[i]);
    if (p.z) {
      const W z = to_w<W>(p.z[i]), sz = sigmoid(z);
      W y = 0;
      for (int64_t n = 0; n < N; ++n) y += hist[i * N + n] * to_w<W>(p.Cm[(b * N + n) * L + t]);
      g.dz[i] = from_w<In>(gy * (y + u * Dd) * sz * (W(1) + z * (W(1) - sz)));
      gy *= z * sz;
    }
    sum_dD += gy * u;
    W du = gy * Dd, ddt = 0;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t bn = (b * N + n) * L + t;
      const W A = -exp_w(p.A_log[d * N + n]);
      const W carry = t == L - 1 ? (dlast ? dlast[ch * N + n] : W(0)) : exp_w(dt_next * A) * hbar[(i + 1) * N + n];
      const W hb = gy * to_w<W>(p.Cm[bn]) + carry;
      hbar[i * N + n] = hb;
      const W Bv = to_w<W>(p.Bm[bn]);
      const W h_prev = t > 0 ? hist[(i - 1) * N + n] : W(0);
      du += hb * dt * Bv;
      ddt += hb * (Bv * u + A * exp_w(dt * A) * h_prev);
    }
    g.du[i] = from_w<In>(du);
    const W draw = p.softplus ? ddt * softplus_grad(raw) : ddt;
    g.ddelta[i] = from_w<In>(draw);
    sum_dbias += draw;
    dt_next = dt;
  }
  part_dD[ch] = sum_dD;
  part_dbias[ch] = sum_dbias;
}

// Thread (b, n, t): dB = sum_d hbar * delta * u,  dC = sum_d gy * h  (Bm, Cm are shared by all channels d).
template <class In, class W>
__global__ void scan_seq_dBC_kernel(ScanArgs<In, W> p, const In* dout, const W* hist, const W* hbar, In* dB, In* dC) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // (b * N + n) * L + t
  const int64_t L = p.L, N = p.N, D = p.D;
  if (idx >= p.B * N * L) return;
  const int64_t t = idx % L, n = (idx / L) % N, b = idx / (N * L);
  W sum_b = 0, sum_c = 0;
  for (int64_t d = 0; d < D; ++d) {
    const int64_t i = (b * D + d) * L + t;
    const W dt = effective_delta(to_w<W>(p.delta[i]) + load_or_zero(p.delta_bias, d), p.softplus);
    W gy = to_w<W>(dout[i]);
    if (p.z) {
      const W z = to_w<W>(p.z[i]);
      gy *= z * sigmoid(z);
    }
    sum_b += hbar[i * N + n] * dt * to_w<W>(p.u[i]);
    sum_c += gy * hist[i * N + n];
  }
  dB[idx] = from_w<In>(sum_b);
  dC[idx] = from_w<In>(sum_c);
}

// Thread (d, n): dA = sum_b sum_t hbar_t * h_{t-1} * a_t * delta_t;  dA_log = dA * A.
template <class In, class W>
__global__ void scan_seq_dA_kernel(ScanArgs<In, W> p, const W* hist, const W* hbar, W* dA_log) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // d * N + n
  const int64_t L = p.L, N = p.N, D = p.D;
  if (idx >= D * N) return;
  const int64_t d = idx / N, n = idx % N;
  const W A = -exp_w(p.A_log[idx]), bias = load_or_zero(p.delta_bias, d);
  W sum = 0;
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t t = 0; t < L; ++t) {
      const int64_t i = (b * D + d) * L + t;
      const W dt = effective_delta(to_w<W>(p.delta[i]) + bias, p.softplus);
      const W h_prev = t > 0 ? hist[(i - 1) * N + n] : W(0);
      sum += hbar[i * N + n] * h_prev * exp_w(dt * A) * dt;
    }
  dA_log[idx] = sum * A;
}

// Thread d: dDskip = sum_b part_dD[b, d], ddelta_bias = sum_b part_dbias[b, d] (either output may be null).
template <class W>
__global__ void scan_seq_dD_kernel(int64_t B, int64_t D, const W* part_dD, const W* part_dbias, W* dDskip,
                                   W* ddelta_bias) {
  const int64_t d = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (d >= D) return;
  W s_dD = 0, s_bias = 0;
  for (int64_t b = 0; b < B; ++b) s_dD += part_dD[b * D + d], s_bias += part_dbias[b * D + d];
  if (dDskip) dDskip[d] = s_dD;
  if (ddelta_bias) ddelta_bias[d] = s_bias;
}

}  // namespace

int64_t scan_sequential_checkpoint_elems(int64_t B, int64_t D, int64_t L, int64_t N) { return B * D * L * N; }

template <class In, class W>
void scan_sequential_forward(const ScanArgs<In, W>& in, In* out, W* last_state, W* checkpoints) {
  const int64_t channels = in.B * in.D;
  // The running state lives in last_state when the caller wants it, in scratch otherwise.
  std::optional<Scratch<W>> own;
  W* h = last_state;
  if (!h) h = own.emplace(channels * in.N).ptr;
  scan_seq_forward_kernel<In, W><<<blocks_for(channels), kThreads, 0, stream()>>>(in, out, h, checkpoints);
  check_launch("scan_seq_forward_kernel");
}

template <class In, class W>
void scan_sequential_backward(const ScanArgs<In, W>& in, const In* dout, const W* dlast, const W* checkpoints,
                              const ScanGradArgs<In, W>& g) {
  check(checkpoints != nullptr, "selective_scan cuda_sequential backward: the forward's state history is missing");
  const int64_t B = in.B, D = in.D, L = in.L, N = in.N;
  Scratch<W> hbar(B * D * L * N);  // (B, D, L, N)
  Scratch<W> part_dD(B * D);       // (B, D)
  Scratch<W> part_dbias(B * D);    // (B, D)
  scan_seq_backward_kernel<In, W><<<blocks_for(B * D), kThreads, 0, stream()>>>(in, dout, dlast, checkpoints, g,
                                                                                hbar.ptr, part_dD.ptr, part_dbias.ptr);
  check_launch("scan_seq_backward_kernel");
  scan_seq_dBC_kernel<In, W>
      <<<blocks_for(B * N * L), kThreads, 0, stream()>>>(in, dout, checkpoints, hbar.ptr, g.dB, g.dC);
  check_launch("scan_seq_dBC_kernel");
  scan_seq_dA_kernel<In, W><<<blocks_for(D * N), kThreads, 0, stream()>>>(in, checkpoints, hbar.ptr, g.dA_log);
  check_launch("scan_seq_dA_kernel");
  if (g.dDskip || g.ddelta_bias) {
    scan_seq_dD_kernel<W>
        <<<blocks_for(D), kThreads, 0, stream()>>>(B, D, part_dD.ptr, part_dbias.ptr, g.dDskip, g.ddelta_bias);
    check_launch("scan_seq_dD_kernel");
  }
}

// The three element-type pairs the op dispatches: f32, f64, and bf16 sequences with f32 weights and state.
template void scan_sequential_forward(const ScanArgs<float, float>&, float*, float*, float*);
template void scan_sequential_forward(const ScanArgs<double, double>&, double*, double*, double*);
template void scan_sequential_forward(const ScanArgs<bfloat16_t, float>&, bfloat16_t*, float*, float*);
template void scan_sequential_backward(const ScanArgs<float, float>&, const float*, const float*, const float*,
                                       const ScanGradArgs<float, float>&);
template void scan_sequential_backward(const ScanArgs<double, double>&, const double*, const double*, const double*,
                                       const ScanGradArgs<double, double>&);
template void scan_sequential_backward(const ScanArgs<bfloat16_t, float>&, const bfloat16_t*, const float*,
                                       const float*, const ScanGradArgs<bfloat16_t, float>&);

}  // namespace hm::cuda
