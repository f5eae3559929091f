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
//   weight_norm       {scalar}
// On CUDA tensors (f32, f64, bf16 for the convs; f32, f64 for weight_norm) the device tables (ops/conv_cuda.cpp,
// registered in CUDA builds only, empty otherwise):
//   conv1d_dense@cuda, conv1d_depthwise@cuda, conv2d@cuda  {cuda_direct, cuda_cudnn}
//   weight_norm@cuda                                       {cuda_direct}
#pragma once
#include "cpu/conv.h"
#include "cuda/conv_direct.h"  // plain C++: cuda::ConvGeom, cuda::Precision
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

// weight_norm over v viewed as (outer, D, inner) (formulas: cpu/conv.h). A table so that the CUDA variant has a
// CPU "scalar" reference beside it; dv or dg may be null.
template <class T>
struct WeightNormKernels {
  void (*forward)(const T* v, const T* g, int64_t outer, int64_t D, int64_t inner, T* w, T* norm);
  void (*backward)(const T* dw, const T* v, const T* g, const T* norm, int64_t outer, int64_t D, int64_t inner, T* dv,
                   T* dg);
};
struct WeightNormVariant {
  WeightNormKernels<float> f32;
  WeightNormKernels<double> f64;
};
KernelTable<WeightNormVariant>& weight_norm_table();  // {scalar}

// One CUDA conv variant over raw device pointers; conv1d is the H = 1 case of cuda::ConvGeom. db may be null.
struct ConvCudaFns {
  void (*forward)(const cuda::ConvGeom& g, cuda::Precision p, const void* x, const void* w, const void* bias, void* y);
  void (*backward_input)(const cuda::ConvGeom& g, cuda::Precision p, const void* dy, const void* w, void* dx);
  void (*backward_weight)(const cuda::ConvGeom& g, cuda::Precision p, const void* dy, const void* x, void* dw,
                          void* db);
  // db (C,) = sum over b and n of dy (B, C, N): the bias gradient when the weight needs none.
  void (*backward_bias)(cuda::Precision p, const void* dy, int64_t B, int64_t C, int64_t N, void* db);
};
// weight_norm on CUDA, the same function as WeightNormKernels over device pointers.
struct WeightNormCudaFns {
  void (*forward)(cuda::Precision p, const void* v, const void* g, int64_t outer, int64_t D, int64_t inner, void* w,
                  void* norm);
  void (*backward)(cuda::Precision p, const void* dw, const void* v, const void* g, const void* norm, int64_t outer,
                   int64_t D, int64_t inner, void* dv, void* dg);
};
KernelTable<ConvCudaFns>& conv1d_dense_cuda_table();
KernelTable<ConvCudaFns>& conv1d_depthwise_cuda_table();
KernelTable<ConvCudaFns>& conv2d_cuda_table();
KernelTable<WeightNormCudaFns>& weight_norm_cuda_table();

}  // namespace hm
