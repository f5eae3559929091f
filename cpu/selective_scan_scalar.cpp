// Scalar reference selective scan: the SPEC.md 2 loop written out once, forward and backward, for f32 and f64.
// Every faster variant is tested against these two functions (tests/test_conformance_selective_scan.cpp).
#include "cpu/selective_scan_scalar.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace hm::cpu::scalar {
namespace {

// softplus(x) = x if x > 20 else log1p(exp(x))  (torch.nn.functional.softplus, threshold 20; mamba's
// selective_scan kernel uses the same cut-off).
template <class T>
T softplus(T x) {
  return x > T(20) ? x : std::log1p(std::exp(x));
}
// d softplus / dx = sigmoid(x), and exactly 1 on the linear branch (PyTorch's softplus_backward).
template <class T>
T softplus_grad(T x) {
  return x > T(20) ? T(1) : T(1) / (T(1) + std::exp(-x));
}
template <class T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// delta[b,d,t] after the bias and the optional softplus.
template <class T>
T effective_delta(const ScanInputs<T>& in, int64_t b, int64_t d, int64_t t) {
  const T raw = in.delta[(b * in.D + d) * in.L + t] + (in.delta_bias ? in.delta_bias[d] : T(0));
  return in.softplus ? softplus(raw) : raw;
}

}  // namespace

template <class T>
void selective_scan_forward(const ScanInputs<T>& in, T* out, T* last_state, T* /*checkpoints*/) {
  const int64_t B = in.B, D = in.D, L = in.L, N = in.N;
  std::vector<T> h(static_cast<size_t>(N));  // (N) state of the current channel
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t d = 0; d < D; ++d) {
      std::fill(h.begin(), h.end(), T(0));
      const T* u = in.u + (b * D + d) * L;  // (L)
      for (int64_t t = 0; t < L; ++t) {
        const T dt = effective_delta(in, b, d, t);
        T y = 0;
        for (int64_t n = 0; n < N; ++n) {
          // h = exp(delta * A) * h + delta * B * u;  y = sum_n h * C
          h[n] = std::exp(dt * in.A[d * N + n]) * h[n] + dt * in.Bm[(b * N + n) * L + t] * u[t];
          y += h[n] * in.Cm[(b * N + n) * L + t];
        }
        // out = (y + u * D) * silu(z),  silu(z) = z * sigmoid(z)
        T o = y + (in.Dskip ? u[t] * in.Dskip[d] : T(0));
        if (in.z) {
          const T zt = in.z[(b * D + d) * L + t];
          o *= zt * sigmoid(zt);
        }
        out[(b * D + d) * L + t] = o;
      }
      if (last_state)
        for (int64_t n = 0; n < N; ++n) last_state[(b * D + d) * N + n] = h[n];
    }
  }
}

// Reverse-mode of the loop above. With hbar_t = dLoss/dh_t (the state adjoint) and a_t = exp(delta_t * A):
//   hbar_t   = gy_t * C_t + a_{t+1} * hbar_{t+1}      (hbar_{L-1} also receives dlast)
//   dC_t    += gy_t * h_t                              dB_t += hbar_t * delta_t * u_t
//   du_t     = gy_t * D + delta_t * sum_n hbar_t * B_t
//   ddelta_t = sum_n hbar_t * (B_t * u_t + A * a_t * h_{t-1})      then through softplus
//   dA      += hbar_t * h_{t-1} * a_t * delta_t
// where gy = dout * silu(z) is the gradient reaching y + u * D.
template <class T>
void selective_scan_backward(const ScanInputs<T>& in, const T* dout, const T* dlast, const T* /*checkpoints*/,
                             const ScanGrads<T>& g) {
  const int64_t B = in.B, D = in.D, L = in.L, N = in.N;
  std::fill(g.dA, g.dA + D * N, T(0));
  std::fill(g.dB, g.dB + B * N * L, T(0));
  std::fill(g.dC, g.dC + B * N * L, T(0));
  if (g.dDskip) std::fill(g.dDskip, g.dDskip + D, T(0));
  if (g.ddelta_bias) std::fill(g.ddelta_bias, g.ddelta_bias + D, T(0));

  std::vector<T> hist(static_cast<size_t>((L + 1) * N));  // (L + 1, N): hist[t + 1] = h_t, hist[0] = h_{-1} = 0
  std::vector<T> hbar(static_cast<size_t>(N));            // (N) state adjoint, carried backwards in time
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t d = 0; d < D; ++d) {
      const int64_t row = (b * D + d) * L;  // offset of this channel in (B, D, L) arrays
      const T* u = in.u + row;
      const T* A = in.A + d * N;
      const T bias = in.delta_bias ? in.delta_bias[d] : T(0);

      // Recompute the forward states of this channel.
      std::fill(hist.begin(), hist.begin() + N, T(0));
      for (int64_t t = 0; t < L; ++t) {
        const T dt = effective_delta(in, b, d, t);
        for (int64_t n = 0; n < N; ++n)
          hist[(t + 1) * N + n] = std::exp(dt * A[n]) * hist[t * N + n] + dt * in.Bm[(b * N + n) * L + t] * u[t];
      }

      for (int64_t n = 0; n < N; ++n) hbar[n] = dlast ? dlast[(b * D + d) * N + n] : T(0);
      for (int64_t t = L - 1; t >= 0; --t) {
        const T raw = in.delta[row + t] + bias;
        const T dt = in.softplus ? softplus(raw) : raw;
        // Gate: out = pre * silu(z) -> gy = dout * silu(z), dz = dout * pre * silu'(z),
        // silu'(z) = sigmoid(z) * (1 + z * (1 - sigmoid(z))).
        T gy = dout[row + t];
        if (in.z) {
          const T zt = in.z[row + t], sz = sigmoid(zt);
          T y = 0;
          for (int64_t n = 0; n < N; ++n) y += hist[(t + 1) * N + n] * in.Cm[(b * N + n) * L + t];
          const T pre = y + (in.Dskip ? u[t] * in.Dskip[d] : T(0));
          g.dz[row + t] = gy * pre * sz * (T(1) + zt * (T(1) - sz));
          gy *= zt * sz;
        }
        T du = in.Dskip ? gy * in.Dskip[d] : T(0);
        if (g.dDskip) g.dDskip[d] += gy * u[t];
        T ddt = 0;
        for (int64_t n = 0; n < N; ++n) {
          const int64_t bn = (b * N + n) * L + t;
          const T a = std::exp(dt * A[n]);
          const T h_prev = hist[t * N + n];
          hbar[n] += gy * in.Cm[bn];
          g.dC[bn] += gy * hist[(t + 1) * N + n];
          g.dB[bn] += hbar[n] * dt * u[t];
          du += hbar[n] * dt * in.Bm[bn];
          ddt += hbar[n] * (in.Bm[bn] * u[t] + A[n] * a * h_prev);
          g.dA[d * N + n] += hbar[n] * h_prev * a * dt;
          hbar[n] *= a;  // becomes a_t * hbar_t, the carry into step t - 1
        }
        g.du[row + t] = du;
        const T draw = in.softplus ? ddt * softplus_grad(raw) : ddt;
        g.ddelta[row + t] = draw;
        if (g.ddelta_bias) g.ddelta_bias[d] += draw;
      }
    }
  }
}

int64_t selective_scan_checkpoint_elems(int64_t, int64_t, int64_t, int64_t) { return 0; }

template void selective_scan_forward<float>(const ScanInputs<float>&, float*, float*, float*);
template void selective_scan_forward<double>(const ScanInputs<double>&, double*, double*, double*);
template void selective_scan_backward<float>(const ScanInputs<float>&, const float*, const float*, const float*,
                                             const ScanGrads<float>&);
template void selective_scan_backward<double>(const ScanInputs<double>&, const double*, const double*, const double*,
                                              const ScanGrads<double>&);

}  // namespace hm::cpu::scalar
