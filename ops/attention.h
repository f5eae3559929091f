// Multi-head scaled dot-product attention as one fused, differentiable op (DESIGN.md 2: hot paths fused with
// their own backward). Kernels and conventions (causal alignment, fully masked rows, dropout stream):
// cpu/attention.h.
#pragma once
#include <optional>

#include "cpu/attention.h"
#include "cuda/attention.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm {

// out = dropout(softmax(q k^T * scale + mask)) v, per batch and head.
//   q (B, H, Tq, Dh), k and v (B, H, Tk, Dh), all float32 or all float64 (or all bf16 on CUDA: f32 accumulation,
//   bf16 out) -> out (B, H, Tq, Dh), all on one device
//   key_padding_mask: undefined, or u8 (B, Tk) with 1 = padded key (gets -inf; fully masked rows give 0), on the
//   device of q
//   causal: query i sees keys j <= i (top-left aligned, as torch's is_causal)
//   dropout_p in [0, 1) applies only when training; the mask comes from `gen` (it reserves ceil(B*H*Tq*Tk/4)
//   Philox counters) and is regenerated, not stored, for backward.
//   scale: default 1 / sqrt(Dh).
// Differentiable in q, k and v (registered as "attention").
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_padding_mask = Tensor(),
                 bool causal = false, double dropout_p = 0.0, bool training = false,
                 Generator& gen = default_generator(), std::optional<double> scale = std::nullopt);

// The `attention` kernel table (variants: scalar, blas_blocked); used by the op, the conformance test, the bench.
KernelTable<cpu::AttentionKernels>& attention_table();

// One entry of the `attention@cuda` table (cuda/attention.h): both directions for f32, f64 and bf16 (bf16 saves
// its lse in f32). max_head_dim: the largest Dh the variant handles, 0 = any; the op falls back to
// cuda_reference above it unless the variant was asked for by name (then it is an error).
struct AttentionCudaKernels {
  cuda::AttentionForwardFn<float, float> forward_f32;
  cuda::AttentionForwardFn<double, double> forward_f64;
  cuda::AttentionForwardFn<cuda::bf16_bits, float> forward_bf16;
  cuda::AttentionBackwardFn<float, float> backward_f32;
  cuda::AttentionBackwardFn<double, double> backward_f64;
  cuda::AttentionBackwardFn<cuda::bf16_bits, float> backward_bf16;
  int64_t max_head_dim;
};

// The `attention@cuda` kernel table (variants: cuda_reference, cuda_flash, cuda_flash_tc; registered by
// ops/attention_cuda.cpp, empty in a CPU-only build).
KernelTable<AttentionCudaKernels>& attention_cuda_table();

}  // namespace hm
