#include "train/optim.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/strided.h"
#include "ops/optimizer.h"

namespace hm {

bool default_decays(const std::string& name, const Tensor& param) {
  if (param.dim() <= 1) return false;  // biases, norm gains, D, mask embeddings
  if (name.ends_with("A_log") || name.ends_with(".D") || name.ends_with("bias")) return false;
  if (name.find("norm") != std::string::npos) return false;
  return true;
}

Adam::Adam(NamedTensors params, AdamConfig cfg) : params_(std::move(params)), cfg_(cfg) {
  for (const auto& [name, p] : params_) {
    check(p.requires_grad() && p.is_leaf(), "Adam: parameter '", name, "' is not a trainable leaf");
    check(p.is_contiguous(), "Adam: parameter '", name, "' must be contiguous");
    decay_.push_back(default_decays(name, p));
    m_.push_back(zeros(p.shape(), p.dtype(), p.device()));
    v_.push_back(zeros(p.shape(), p.dtype(), p.device()));
  }
}

void Adam::step(double lr) {
  NoGradGuard ng;
  step_++;
  AdamHyper h;
  h.lr = lr, h.beta1 = cfg_.beta1, h.beta2 = cfg_.beta2, h.eps = cfg_.eps, h.decoupled = cfg_.decoupled;
  // Bias corrections of Kingma & Ba (2015), Algorithm 1.
  h.bias_correction1 = 1.0 - std::pow(cfg_.beta1, double(step_));
  h.bias_correction2 = 1.0 - std::pow(cfg_.beta2, double(step_));
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    h.weight_decay = decay_[i] ? cfg_.weight_decay : 0.0;
    adam_update(p, g.contiguous(), m_[i], v_[i], h);  // ops/optimizer.h: CPU or CUDA kernel by the tensors' device
  }
}

NamedTensors Adam::state() const {
  NamedTensors out;
  out.emplace_back("adam.step", from_vector<int64_t>({step_}, {}));
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back("adam.exp_avg." + params_[i].first, m_[i]);
    out.emplace_back("adam.exp_avg_sq." + params_[i].first, v_[i]);
  }
  return out;
}

void Adam::load_state(const NamedTensors& state) {
  std::map<std::string, Tensor> s;
  for (const auto& [n, t] : state) s[n] = t;
  auto find = [&](const std::string& name, const Shape& shape) -> const Tensor& {
    auto it = s.find(name);
    check(it != s.end(), "optimiser state: missing '", name, "'");
    check(it->second.shape() == shape, "optimiser state: '", name, "' has shape ", it->second.shape(),
          ", expected ", shape);
    return it->second;
  };
  step_ = int64_t(find("adam.step", {}).item());
  for (size_t i = 0; i < params_.size(); ++i) {
    strided::copy(m_[i], find("adam.exp_avg." + params_[i].first, params_[i].second.shape()));
    strided::copy(v_[i], find("adam.exp_avg_sq." + params_[i].first, params_[i].second.shape()));
  }
}

double grad_norm(const NamedTensors& params) {
  std::vector<Tensor> grads;
  for (const auto& [name, p] : params) grads.push_back(p.grad());
  return global_norm(grads);
}

double clip_grad_norm(const NamedTensors& params, double max_norm) {
  const double norm = grad_norm(params);
  if (max_norm <= 0 || !std::isfinite(norm) || norm <= max_norm) return norm;
  const double scale = max_norm / (norm + 1e-6);  // torch.nn.utils.clip_grad_norm_ adds 1e-6
  for (const auto& [name, p] : params) {
    const Tensor g = p.grad();
    if (g.defined()) scale_inplace(g, scale);
  }
  return norm;
}

double PolynomialDecaySchedule::lr(int64_t update) const {
  // fairseq/optim/lr_scheduler/polynomial_decay_schedule.py: warmup factor = num_updates / warmup_updates.
  if (warmup_updates > 0 && update <= warmup_updates) return peak_lr * double(update) / double(warmup_updates);
  if (update >= total_updates) return end_lr;
  const double remaining = 1.0 - double(update - warmup_updates) / double(total_updates - warmup_updates);
  return (peak_lr - end_lr) * std::pow(remaining, power) + end_lr;
}

double TriStageSchedule::lr(int64_t update) const {
  // fairseq/optim/lr_scheduler/tri_stage_lr_scheduler.py
  const double init_lr = init_lr_scale * peak_lr, final_lr = final_lr_scale * peak_lr;
  if (update < warmup_steps) return init_lr + (peak_lr - init_lr) / double(std::max<int64_t>(warmup_steps, 1)) * double(update);
  int64_t t = update - warmup_steps;
  if (t < hold_steps) return peak_lr;
  t -= hold_steps;
  if (t <= decay_steps && decay_steps > 0) {
    const double decay_factor = -std::log(final_lr_scale) / double(decay_steps);
    return peak_lr * std::exp(-decay_factor * double(t));
  }
  return final_lr;
}

}  // namespace hm
