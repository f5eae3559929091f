// CUDA selective scan (S6, SPEC.md 2; state-spaces/mamba `selective_scan_cuda`): host launchers over raw device
// pointers, llm.c style. Plain C++ header (no CUDA types), included by ops/selective_scan.h for the kernel-table
// function types and by the .cu files that implement them.
//
//   delta <- softplus(delta + delta_bias)            softplus(x) = x if x > 20 else log1p(exp(x))
//   A = -exp(A_log)                                    (D, N), computed in the kernels
//   h_0 = 0;  h_t = exp(delta_t * A) * h_{t-1} + delta_t * Bm_t * u_t;  y_t = sum_n h_t * Cm_t
//   out = (y + u * Dskip) * silu(z)
//
// Element types: `In` is the type of the sequence tensors u, delta, Bm, Cm, z, out and their gradients (float,
// double or bfloat16_t); `W` is the type of the weights A_log, Dskip, delta_bias, of the state h, of every
// accumulation and of their gradients: float for float and bf16 inputs, double for double inputs (mamba_ssm:
// input_t / weight_t, state and sums in float32).
//
// Two variants (registered as `selective_scan@cuda` in ops/selective_scan_cuda.cpp):
//   cuda_sequential  one thread per (b, d), sequential in time and over n; saves the full state history
//                    (B, D, L, N) for the backward. The readable reference.
//   cuda_chunked     one block per (b, d) in the forward and per (b, group of channels) in the backward, threads
//                    over time within chunks of kScanChunk steps, CUB block scans over the (a, b) pairs, only
//                    chunk-boundary states saved; backward = recompute + reverse scan. Deterministic: no atomics,
//                    cross-block sums go through partial buffers and a second reduction kernel.
// Every launcher runs on hm::cuda::stream() and checks every CUDA call.
#pragma once
#include <cstdint>

namespace hm::cuda {

// One bfloat16 value as stored in memory (the upper 16 bits of an IEEE float32). The kernels convert it with
// the cuda_bf16.h intrinsics; host code never does arithmetic on it.
struct bfloat16_t {
  uint16_t bits;
};

template <class In, class W>
struct ScanArgs {
  int64_t B = 0, D = 0, L = 0, N = 0;
  const In* u = nullptr;          // (B, D, L)
  const In* delta = nullptr;      // (B, D, L)  raw, before delta_bias and softplus
  const W* A_log = nullptr;       // (D, N)     A = -exp(A_log)
  const In* Bm = nullptr;         // (B, N, L)
  const In* Cm = nullptr;         // (B, N, L)
  const W* Dskip = nullptr;       // (D)        or null
  const In* z = nullptr;          // (B, D, L)  or null (no gate)
  const W* delta_bias = nullptr;  // (D)        or null
  bool softplus = false;
};

// Gradient outputs, all overwritten. A pointer is null exactly when the matching input is absent
// (dDskip <-> Dskip, dz <-> z, ddelta_bias <-> delta_bias).
template <class In, class W>
struct ScanGradArgs {
  In* du = nullptr;          // (B, D, L)
  In* ddelta = nullptr;      // (B, D, L)  w.r.t. the raw delta input
  W* dA_log = nullptr;       // (D, N)     w.r.t. A_log (= dA * A)
  In* dB = nullptr;          // (B, N, L)
  In* dC = nullptr;          // (B, N, L)
  W* dDskip = nullptr;       // (D)
  In* dz = nullptr;          // (B, D, L)
  W* ddelta_bias = nullptr;  // (D)
};

// Forward: out (B, D, L); last_state (B, D, N) when non-null (h after the last step); checkpoints when non-null
// (the variant's *_checkpoint_elems(...) elements of W, everything its backward needs besides the inputs).
template <class In, class W>
using ScanCudaForwardFn = void (*)(const ScanArgs<In, W>& in, In* out, W* last_state, W* checkpoints);
// Backward: dout (B, D, L); dlast (B, D, N) or null (gradient w.r.t. last_state); checkpoints written by the
// same variant's forward for the same inputs.
template <class In, class W>
using ScanCudaBackwardFn = void (*)(const ScanArgs<In, W>& in, const In* dout, const W* dlast, const W* checkpoints,
                                    const ScanGradArgs<In, W>& grads);

// Steps per chunk of cuda_chunked (threads x items per thread of one block scan), for every element type.
inline constexpr int64_t kScanChunk = 2048;

// ---- cuda_sequential ----
int64_t scan_sequential_checkpoint_elems(int64_t B, int64_t D, int64_t L, int64_t N);  // (B, D, L, N) history
template <class In, class W>
void scan_sequential_forward(const ScanArgs<In, W>& in, In* out, W* last_state, W* checkpoints);
template <class In, class W>
void scan_sequential_backward(const ScanArgs<In, W>& in, const In* dout, const W* dlast, const W* checkpoints,
                              const ScanGradArgs<In, W>& grads);

// ---- cuda_chunked ----
int64_t scan_chunked_checkpoint_elems(int64_t B, int64_t D, int64_t L, int64_t N);  // (B, D, n_chunks, N)
template <class In, class W>
void scan_chunked_forward(const ScanArgs<In, W>& in, In* out, W* last_state, W* checkpoints);
template <class In, class W>
void scan_chunked_backward(const ScanArgs<In, W>& in, const In* dout, const W* dlast, const W* checkpoints,
                           const ScanGradArgs<In, W>& grads);

}  // namespace hm::cuda
