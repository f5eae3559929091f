// Selective scan (S6; SPEC.md 2, state-spaces/mamba `selective_scan_fn`) with autograd for every input.
#pragma once
#include "cpu/selective_scan_scalar.h"
#include "cuda/selective_scan.h"
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

// One registered CUDA variant (cuda/selective_scan.h): forward and backward for f32, f64 and bf16 sequences
// (a null entry = not supported by the variant), and the size in weight-type elements of the saved-state buffer
// its forward fills for its backward. Kernels take A_log and return dA_log themselves.
struct ScanCudaKernels {
  int64_t (*checkpoint_elems)(int64_t B, int64_t D, int64_t L, int64_t N) = nullptr;
  cuda::ScanCudaForwardFn<float, float> forward_f32 = nullptr;
  cuda::ScanCudaBackwardFn<float, float> backward_f32 = nullptr;
  cuda::ScanCudaForwardFn<double, double> forward_f64 = nullptr;
  cuda::ScanCudaBackwardFn<double, double> backward_f64 = nullptr;
  cuda::ScanCudaForwardFn<cuda::bfloat16_t, float> forward_bf16 = nullptr;
  cuda::ScanCudaBackwardFn<cuda::bfloat16_t, float> backward_bf16 = nullptr;

  template <class In>
  auto forward() const {
    if constexpr (sizeof(In) == 2)
      return forward_bf16;
    else if constexpr (sizeof(In) == 4)
      return forward_f32;
    else
      return forward_f64;
  }
  template <class In>
  auto backward() const {
    if constexpr (sizeof(In) == 2)
      return backward_bf16;
    else if constexpr (sizeof(In) == 4)
      return backward_f32;
    else
      return backward_f64;
  }
};

// CUDA variants {cuda_sequential, cuda_chunked} (table "selective_scan@cuda", filled by ops/selective_scan_cuda.cpp
// in CUDA builds, empty otherwise); select with --kernel selective_scan=<variant>.
KernelTable<ScanCudaKernels>& selective_scan_cuda_table();

}  // namespace hm
