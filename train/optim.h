// Optimisation: Adam / AdamW with fairseq's parameter groups, learning-rate schedules (fairseq polynomial_decay
// with linear warm-up, tri-stage), global-norm gradient clipping, and a non-finite gradient guard.
#pragma once
#include <string>
#include <vector>

#include "engine/json.h"
#include "engine/safetensors.h"
#include "engine/tensor.h"

namespace hm {

struct AdamConfig {
  double lr = 5e-4;
  double beta1 = 0.9, beta2 = 0.98, eps = 1e-6;  // fairseq HuBERT defaults (SPEC.md 6)
  double weight_decay = 0.01;
  bool decoupled = true;  // AdamW (fairseq's "adam" with weight_decay is decoupled as well)
};

// Whether a parameter gets weight decay: not for biases, norms, A_log, D (SPEC/issue: no decay on A_log, D,
// norms, biases), embeddings of masks.
bool default_decays(const std::string& name, const Tensor& param);

class Adam {
 public:
  Adam(NamedTensors params, AdamConfig cfg);
  // One update with learning rate `lr` using each parameter's .grad (parameters without a gradient are skipped).
  void step(double lr);
  int64_t steps() const { return step_; }
  // Optimiser state for checkpoints: step count + exp_avg/exp_avg_sq per parameter (as "adam.m.<name>", ...).
  NamedTensors state() const;
  void load_state(const NamedTensors& state);  // throws listing missing/mismatched entries
  const NamedTensors& params() const { return params_; }

 private:
  NamedTensors params_;
  std::vector<bool> decay_;
  std::vector<Tensor> m_, v_;  // same shapes as params, f32/f64 like the params
  AdamConfig cfg_;
  int64_t step_ = 0;
};

// Global L2 norm of all gradients (parameters without .grad contribute 0). NaN/Inf propagate into the result.
double grad_norm(const NamedTensors& params);
// Scale gradients so their global norm is at most max_norm (no-op when max_norm <= 0); returns the norm before.
double clip_grad_norm(const NamedTensors& params, double max_norm);

// fairseq polynomial_decay (power 1): linear warm-up 0 -> peak over warmup_updates, then linear decay to end_lr
// at total_updates.
struct PolynomialDecaySchedule {
  double peak_lr = 5e-4, end_lr = 0.0;
  int64_t warmup_updates = 32000, total_updates = 400000;
  double power = 1.0;
  double lr(int64_t update) const;
};

// fairseq tri_stage: warm-up from init_scale*peak to peak, hold, exponential decay to final_scale*peak.
struct TriStageSchedule {
  double peak_lr = 2e-5, init_lr_scale = 0.01, final_lr_scale = 0.05;
  int64_t warmup_steps = 0, hold_steps = 0, decay_steps = 0;
  double lr(int64_t update) const;
};

}  // namespace hm
