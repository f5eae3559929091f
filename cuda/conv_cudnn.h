// CUDA convolutions through cuDNN 9's legacy convolution API (`cuda_cudnn`): cudnnConvolutionForward /
// BackwardData / BackwardFilter on NCHW tensors, conv1d as the H = 1 case (geometry and formula: cuda/conv_direct.h).
//
// * Padding: cuDNN pads symmetrically. When the symmetric padding (pad_h, pad_w) on both sides gives exactly
//   (Hout, Wout) it is handed to cuDNN; otherwise (causal / asymmetric conv1d) the input is zero-padded into a
//   scratch buffer first (conv_pad) and cuDNN runs with padding 0; the input gradient is cropped back (conv_crop).
// * Algorithms: chosen once per (device, pass, precision, math mode, problem dims) and cached in a mutex-guarded
//   map. Candidates come from cudnnGet*Algorithm_v7 (heuristics, best first); the first candidate that actually
//   runs (status SUCCESS, workspace obtainable) wins and is cached.
// * Workspace comes from the caching allocator (hm::cuda::scratch); the handle is bound to hm::cuda::stream().
// * Math: f64 in f64; bf16 data with f32 compute (tensor cores allowed); f32 strictly in FMA math
//   (CUDNN_FMA_MATH: since cuDNN 8 CUDNN_DEFAULT_MATH lets f32 convolutions use TF32 on Ampere and newer) unless
//   TF32 is allowed below, then CUDNN_DEFAULT_MATH (TF32 tensor cores). PyTorch does the same with
//   torch.backends.cudnn.allow_tf32 (aten/src/ATen/cudnn/Descriptors.cpp, ConvolutionDescriptor::set).
// * Bias: conv_bias_add / conv_bias_grad from cuda/conv_direct.h (deterministic, bf16 with f32 accumulation).
#pragma once
#include "cuda/conv_direct.h"

namespace hm::cuda {

void conv_cudnn_forward(const ConvGeom& g, Precision p, const void* x, const void* w, const void* bias, void* y);
void conv_cudnn_backward_input(const ConvGeom& g, Precision p, const void* dy, const void* w, void* dx);
void conv_cudnn_backward_weight(const ConvGeom& g, Precision p, const void* dy, const void* x, void* dw, void* db);

// The conv family's TF32 switch for f32 cuDNN convolutions (default off: f32 stays exact to ~1e-6). The cached
// algorithm choice is keyed on it, so flipping it at run time is safe.
void set_conv_allow_tf32(bool allow);
bool conv_allow_tf32();

// Number of cached algorithm choices (all passes), for tests of the cache.
int64_t conv_cudnn_cached_algorithms();

}  // namespace hm::cuda
