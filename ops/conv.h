// Convolutions and weight norm (differentiable; forward next to backward in ops/conv.cpp).
//
//   conv1d       x (B, Cin, L), w (Cout, Cin/groups, K), bias (Cout,) or undefined -> (B, Cout, Lout),
//                Lout = (L + padding_left + padding_right - dilation*(K-1) - 1) / stride + 1.
//                PyTorch's Conv1d with padding p is padding_left = padding_right = p; Mamba's causal conv is
//                padding_left = K-1, padding_right = 0 (== torch's conv1d(padding=K-1)[..., :L]).
//   conv2d       x (B, Cin, H, W), w (Cout, Cin, KH, KW), bias (Cout,) -> (B, Cout, Hout, Wout), groups = 1.
//   weight_norm  w = g * v / ||v|| with the norm over every dim of v except `dim` (torch.nn.utils.weight_norm);
//                g has v's rank with size 1 everywhere but `dim` (HuBERT's positional conv: dim = 2, g (1, 1, K)).
//
// Kernel tables (select with --kernel / HUBMAMBA_KERNELS):
//   conv1d_dense      {scalar, im2col_blas}   any conv1d that is not depthwise
//   conv1d_depthwise  {scalar, highway}       groups == Cin == Cout
//   conv2d            {scalar, im2col_blas}
#pragma once
#include "cpu/conv.h"
#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm {

struct Conv1dParams {
  int64_t stride = 1;
  int64_t padding_left = 0;
  int64_t padding_right = 0;
  int64_t dilation = 1;
  int64_t groups = 1;
};

// Symmetric padding p on both sides (torch.nn.Conv1d(padding=p)).
inline Conv1dParams conv1d_params(int64_t stride, int64_t padding, int64_t dilation = 1, int64_t groups = 1) {
  return {stride, padding, padding, dilation, groups};
}

Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor(), const Conv1dParams& p = {});

// Output length of conv1d for input length L and kernel size K (may be < 1 when the input is too short).
int64_t conv1d_output_length(int64_t L, int64_t K, const Conv1dParams& p);

struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t padding_h = 0, padding_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
};

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor(), const Conv2dParams& p = {});

Tensor weight_norm(const Tensor& v, const Tensor& g, int64_t dim);

KernelTable<cpu::Conv1dVariant>& conv1d_dense_table();
KernelTable<cpu::Conv1dVariant>& conv1d_depthwise_table();
KernelTable<cpu::Conv2dVariant>& conv2d_table();

}  // namespace hm
