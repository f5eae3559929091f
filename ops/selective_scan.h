// Selective scan (S6; SPEC.md 2, state-spaces/mamba `selective_scan_fn`) with autograd for every input.
#pragma once
#include "cpu/selective_scan_scalar.h"
#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm {

struct SelectiveScanResult {
  Tensor out;         // (B, D, L)
  Tensor last_state;  // (B, D, N) h after the last step; undefined unless return_last_state
};

// out = (y + u * Dskip) * silu(z), y the S6 scan of u with A = -exp(A_log) (SPEC.md 2):
//   u, delta, z (B, D, L); A_log (D, N); Bm, Cm (B, N, L); Dskip, delta_bias (D).
// Dskip, z and delta_bias are optional (pass an undefined Tensor). delta_softplus applies
// softplus(delta + delta_bias) (threshold 20) before the scan. All tensors share one float dtype (f32 or f64).
// Gradients reach every input that requires grad, A_log included (dA_log = dA * A).
SelectiveScanResult selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A_log, const Tensor& Bm,
                                   const Tensor& Cm, const Tensor& Dskip = Tensor(), const Tensor& z = Tensor(),
                                   const Tensor& delta_bias = Tensor(), bool delta_softplus = false,
                                   bool return_last_state = false);

// Kernel variants {scalar, highway}; select with --kernel selective_scan=<variant>.
KernelTable<cpu::ScanKernels>& selective_scan_table();

}  // namespace hm
