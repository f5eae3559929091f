// Selective scan (S6, SPEC.md 2; state-spaces/mamba selective_scan_ref): the kernel interface every variant
// implements, and the scalar reference variant.
//
//   delta <- softplus(delta + delta_bias)            softplus(x) = x if x > 20 else log1p(exp(x))
//   h_0 = 0                                           (B, D, N)
//   for t: h[b,d,n] = exp(delta[b,d,t] * A[d,n]) * h[b,d,n] + delta[b,d,t] * Bm[b,n,t] * u[b,d,t]
//          y[b,d,t] = sum_n h[b,d,n] * Cm[b,n,t]
//   out = (y + u * Dskip) * silu(z)
//
// Kernels take raw contiguous row-major pointers (llm.c style); ops/selective_scan.cpp owns tensors, autograd
// and the A = -exp(A_log) parametrisation. A here is the state matrix itself.
#pragma once
#include <cstdint>

namespace hm::cpu {

template <class T>
struct ScanInputs {
  int64_t B = 0, D = 0, L = 0, N = 0;
  const T* u = nullptr;           // (B, D, L)
  const T* delta = nullptr;       // (B, D, L)  raw, before delta_bias and softplus
  const T* A = nullptr;           // (D, N)
  const T* Bm = nullptr;          // (B, N, L)
  const T* Cm = nullptr;          // (B, N, L)
  const T* Dskip = nullptr;       // (D)        or null
  const T* z = nullptr;           // (B, D, L)  or null (no gate)
  const T* delta_bias = nullptr;  // (D)        or null
  bool softplus = false;
};

// Gradient outputs; kernels overwrite (never accumulate into) every element. A pointer must be null exactly when
// the matching input is absent (dDskip <-> Dskip, dz <-> z, ddelta_bias <-> delta_bias).
template <class T>
struct ScanGrads {
  T* du = nullptr;           // (B, D, L)
  T* ddelta = nullptr;       // (B, D, L)  w.r.t. the raw delta input
  T* dA = nullptr;           // (D, N)     w.r.t. A (the op chains dA_log = dA * A)
  T* dB = nullptr;           // (B, N, L)
  T* dC = nullptr;           // (B, N, L)
  T* dDskip = nullptr;       // (D)
  T* dz = nullptr;           // (B, D, L)
  T* ddelta_bias = nullptr;  // (D)
};

// Forward: writes out (B, D, L), last_state (B, D, N) when non-null (h after the last step), and the variant's
// saved states when `checkpoints` is non-null (checkpoint_elems(...) elements; what the backward needs).
template <class T>
using ScanForwardFn = void (*)(const ScanInputs<T>& in, T* out, T* last_state, T* checkpoints);
// Backward: dout (B, D, L), dlast (B, D, N) or null (gradient w.r.t. last_state), checkpoints as written by the
// same variant's forward (may be null when checkpoint_elems is 0).
template <class T>
using ScanBackwardFn = void (*)(const ScanInputs<T>& in, const T* dout, const T* dlast, const T* checkpoints,
                                const ScanGrads<T>& grads);
using ScanCheckpointElemsFn = int64_t (*)(int64_t B, int64_t D, int64_t L, int64_t N);

// One registered variant of the `selective_scan` kernel table: forward and backward for both float types, and the
// size of the saved-state buffer the forward fills for the backward. Forward and backward of one call always
// come from the same variant (the op captures this struct at forward time).
struct ScanKernels {
  ScanCheckpointElemsFn checkpoint_elems = nullptr;
  ScanForwardFn<float> forward_f32 = nullptr;
  ScanBackwardFn<float> backward_f32 = nullptr;
  ScanForwardFn<double> forward_f64 = nullptr;
  ScanBackwardFn<double> backward_f64 = nullptr;

  template <class T>
  ScanForwardFn<T> forward() const {
    if constexpr (sizeof(T) == 4)
      return forward_f32;
    else
      return forward_f64;
  }
  template <class T>
  ScanBackwardFn<T> backward() const {
    if constexpr (sizeof(T) == 4)
      return backward_f32;
    else
      return backward_f64;
  }
};

namespace scalar {

// The reference loop: one (b, d) channel at a time, one state n at a time, plain libm. The backward keeps the
// whole per-channel state history (L + 1, N) and needs no checkpoints.
template <class T>
void selective_scan_forward(const ScanInputs<T>& in, T* out, T* last_state, T* checkpoints);
template <class T>
void selective_scan_backward(const ScanInputs<T>& in, const T* dout, const T* dlast, const T* checkpoints,
                             const ScanGrads<T>& grads);
int64_t selective_scan_checkpoint_elems(int64_t B, int64_t D, int64_t L, int64_t N);

}  // namespace scalar
}  // namespace hm::cpu
