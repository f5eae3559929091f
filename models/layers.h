// Basic modules with PyTorch/fairseq parameter names and initialisers: Linear, LayerNorm, GroupNorm,
// BatchNorm1d, Conv1d, FeedForward. Activations are (B, T, C) unless a comment says otherwise.
#pragma once
#include "engine/rng.h"
#include "models/module.h"

namespace hm {

// Initialisers (in place, on a contiguous float tensor).
void init_uniform(const Tensor& t, double bound, Generator& gen);        // U(-bound, bound)
void init_normal(const Tensor& t, double std, Generator& gen);          // N(0, std^2)
void init_kaiming_normal(const Tensor& t, Generator& gen);              // N(0, 2 / fan_in), torch default mode
void init_constant(const Tensor& t, double value);

class Linear : public Module {
 public:
  // PyTorch default init: weight and bias ~ U(+-1/sqrt(in)) (kaiming_uniform with a = sqrt(5)).
  Linear(int64_t in, int64_t out, bool bias, Generator& gen, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) const;  // (..., in) -> (..., out)
  void init_bert(Generator& gen);         // fairseq init_bert_params: N(0, 0.02), bias 0
  Tensor weight, bias;                    // (out, in), (out,) or undefined
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, DType dtype = DType::f32, double eps = 1e-5);
  Tensor forward(const Tensor& x) const;  // normalises the last dim
  Tensor weight, bias;                    // (dim,)
  double eps;
};

class GroupNorm : public Module {
 public:
  GroupNorm(int64_t groups, int64_t channels, DType dtype = DType::f32, double eps = 1e-5);
  Tensor forward(const Tensor& x) const;  // (B, C, L)
  Tensor weight, bias;
  int64_t groups;
  double eps;
};

class BatchNorm1d : public Module {
 public:
  explicit BatchNorm1d(int64_t channels, DType dtype = DType::f32, double momentum = 0.1, double eps = 1e-5);
  // x (B, C, L); padding_mask (B, L) u8, 1 = padded (excluded from batch statistics), may be undefined.
  Tensor forward(const Tensor& x, const Tensor& padding_mask = Tensor()) const;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  mutable int64_t tracked_on_host_ = -1;  // num_batches_tracked mirrored on the host for device tensors (-1: unread)
  double momentum, eps;
};

class Conv1d : public Module {
 public:
  // Weight (out, in/groups, k); PyTorch default init U(+-1/sqrt(fan_in)); bias optional.
  Conv1d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups, bool bias, Generator& gen,
         DType dtype = DType::f32);
  Tensor forward(const Tensor& x, int64_t pad_left = 0, int64_t pad_right = 0) const;  // (B, Cin, L) -> (B, Cout, L')
  Tensor weight, bias;
  int64_t stride, groups;
};

// Dropout that respects the module's train/eval mode (uses the process generator, seeded by the trainer).
Tensor dropout_if(const Tensor& x, double p, bool training);

}  // namespace hm
