// Matrix products: matmul (torch.matmul semantics), bmm, linear (torch.nn.functional.linear). All run on the
// `gemm` kernel table (variants "scalar" and "openblas"); transposed operands are passed to BLAS as transpose
// flags, never copied, and every backward is GEMMs with transposes (DESIGN.md 3, 4).
#pragma once
#include "cpu/gemm.h"
#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm {

// The GEMM variants (f32 and f64 in one entry). `--kernel gemm=scalar` selects the reference.
KernelTable<cpu::GemmKernels>& gemm_table();

// torch.matmul: 1-D @ 1-D -> () dot product; 2-D @ 2-D -> (M, N); 1-D operands get a unit dim prepended (left)
// or appended (right) that is removed from the result; N-D @ N-D multiplies the last two dims and broadcasts
// the leading (batch) dims. (..., M, K) @ (K, N) is one GEMM over the flattened rows when the layout allows.
Tensor matmul(const Tensor& a, const Tensor& b);

// torch.bmm: (B, M, K) @ (B, K, N) -> (B, M, N), no broadcasting.
Tensor bmm(const Tensor& a, const Tensor& b);

// torch.nn.functional.linear: x (..., in), weight (out, in), optional bias (out,) -> (..., out) = x W^T + b,
// computed as one GEMM over the flattened leading dims of x (no copy when x is contiguous).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace hm
