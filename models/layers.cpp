#include "models/layers.h"

#include <cmath>

#include "engine/strided.h"
#include "ops/ops.h"

namespace hm {

void init_uniform(const Tensor& t, double bound, Generator& gen) { fill_uniform(t, -bound, bound, gen); }
void init_normal(const Tensor& t, double std, Generator& gen) { fill_normal(t, 0.0, std, gen); }
void init_constant(const Tensor& t, double value) {
  NoGradGuard ng;
  strided::fill(t.detach(), value);
}

void init_kaiming_normal(const Tensor& t, Generator& gen) {
  // torch.nn.init.kaiming_normal_(w) defaults: a = 0, mode fan_in, leaky_relu gain sqrt(2).
  check(t.dim() >= 2, "init_kaiming_normal: need a weight of rank >= 2, got ", t.shape());
  const int64_t fan_in = t.numel() / t.size(0);
  fill_normal(t, 0.0, std::sqrt(2.0 / double(fan_in)), gen);
}

Linear::Linear(int64_t in, int64_t out, bool has_bias, Generator& gen, DType dtype) {
  weight = empty({out, in}, dtype);
  const double bound = 1.0 / std::sqrt(double(in));
  init_uniform(weight, bound, gen);
  register_parameter("weight", &weight);
  if (has_bias) {
    bias = empty({out}, dtype);
    init_uniform(bias, bound, gen);
    register_parameter("bias", &bias);
  }
}

void Linear::init_bert(Generator& gen) {
  init_normal(weight, 0.02, gen);
  if (bias.defined()) init_constant(bias, 0.0);
}

Tensor Linear::forward(const Tensor& x) const { return linear(x, weight, bias); }

LayerNorm::LayerNorm(int64_t dim, DType dtype, double eps_) : weight(ones({dim}, dtype)), bias(zeros({dim}, dtype)), eps(eps_) {
  register_parameter("weight", &weight);
  register_parameter("bias", &bias);
}

Tensor LayerNorm::forward(const Tensor& x) const { return layer_norm(x, weight, bias, eps); }

GroupNorm::GroupNorm(int64_t groups_, int64_t channels, DType dtype, double eps_)
    : weight(ones({channels}, dtype)), bias(zeros({channels}, dtype)), groups(groups_), eps(eps_) {
  register_parameter("weight", &weight);
  register_parameter("bias", &bias);
}

Tensor GroupNorm::forward(const Tensor& x) const { return group_norm(x, groups, weight, bias, eps); }

BatchNorm1d::BatchNorm1d(int64_t channels, DType dtype, double momentum_, double eps_)
    : weight(ones({channels}, dtype)),
      bias(zeros({channels}, dtype)),
      running_mean(zeros({channels}, dtype)),
      running_var(ones({channels}, dtype)),
      num_batches_tracked(zeros({}, DType::i64)),
      momentum(momentum_),
      eps(eps_) {
  register_parameter("weight", &weight);
  register_parameter("bias", &bias);
  register_buffer("running_mean", &running_mean);
  register_buffer("running_var", &running_var);
  register_buffer("num_batches_tracked", &num_batches_tracked);
}

Tensor BatchNorm1d::forward(const Tensor& x, const Tensor& padding_mask) const {
  if (is_training()) {
    if (!num_batches_tracked.is_cuda()) {
      num_batches_tracked.data<int64_t>()[0] += 1;
    } else {
      // On a GPU the count is kept on the host too (read once, after construction or a checkpoint load) and written
      // with a stream-ordered copy: incrementing it by reading it back would stall the device every layer.
      if (tracked_on_host_ < 0) tracked_on_host_ = int64_t(num_batches_tracked.item());
      strided::copy(num_batches_tracked, full({}, double(++tracked_on_host_), DType::i64));
    }
  }
  return batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, eps, padding_mask);
}

Conv1d::Conv1d(int64_t in, int64_t out, int64_t kernel, int64_t stride_, int64_t groups_, bool has_bias,
               Generator& gen, DType dtype)
    : stride(stride_), groups(groups_) {
  check(in % groups == 0 && out % groups == 0, "Conv1d: groups ", groups, " must divide in ", in, " and out ", out);
  weight = empty({out, in / groups, kernel}, dtype);
  const double bound = 1.0 / std::sqrt(double(in / groups * kernel));
  init_uniform(weight, bound, gen);
  register_parameter("weight", &weight);
  if (has_bias) {
    bias = empty({out}, dtype);
    init_uniform(bias, bound, gen);
    register_parameter("bias", &bias);
  }
}

Tensor Conv1d::forward(const Tensor& x, int64_t pad_left, int64_t pad_right) const {
  Conv1dParams p;
  p.stride = stride;
  p.padding_left = pad_left;
  p.padding_right = pad_right;
  p.groups = groups;
  return conv1d(x, weight, bias, p);
}

Tensor dropout_if(const Tensor& x, double p, bool training) {
  if (!training || p == 0.0) return x;
  return dropout(x, p, training);
}

}  // namespace hm
