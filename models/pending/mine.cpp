#include "train/mine.h"

#include <cmath>

#include "models/layers.h"
#include "ops/ops.h"
#include "train/masking.h"
#include "train/optim.h"

namespace hm {

class MineNetwork : public Module {
 public:
  MineNetwork(int64_t d_in, int64_t hidden, Generator& gen) {
    fc1 = register_module("fc1", std::make_shared<Linear>(d_in, hidden, true, gen));
    fc2 = register_module("fc2", std::make_shared<Linear>(hidden, hidden, true, gen));
    fc3 = register_module("fc3", std::make_shared<Linear>(hidden, 1, true, gen));
  }
  // psi([x; y]) for rows of x (N, dx) and y (N, dy) -> (N,)
  Tensor forward(const Tensor& x, const Tensor& y) const {
    Tensor h = relu(fc1->forward(cat({x, y}, 1)));
    h = relu(fc2->forward(h));
    return fc3->forward(h).reshape({x.size(0)});
  }
  std::shared_ptr<Linear> fc1, fc2, fc3;
};

void check_mi_inputs(const Tensor& x, const Tensor& y, const std::string& wx, const std::string& wy) {
  check(x.dim() == 2, wx, ": expected a (T, D) array, got shape ", x.shape());
  check(y.dim() == 2, wy, ": expected a (T, D) array, got shape ", y.shape());
  check(x.size(0) == y.size(0), "mi: ", wx, " has ", x.size(0), " frames but ", wy, " has ", y.size(0));
  check(x.size(0) >= 2, "mi: need at least 2 frames, got ", x.size(0));
  for (const auto& [t, what] : {std::pair{x, wx}, {y, wy}}) {
    const std::vector<double> v = t.to_vector<double>();
    for (size_t i = 0; i < v.size(); ++i)
      check(std::isfinite(v[i]), what, ": non-finite value at frame ", int64_t(i) / t.size(1), ", dim ",
            int64_t(i) % t.size(1));
  }
}

MineEstimator::MineEstimator(int64_t dx, int64_t dy, const MineConfig& cfg) : dx_(dx), dy_(dy), cfg_(cfg), gen_(cfg.seed) {
  reset();
}
MineEstimator::~MineEstimator() = default;

void MineEstimator::reset() {
  Generator init_gen(cfg_.seed * 2654435761ULL + 1);
  net_ = std::make_unique<MineNetwork>(dx_ + dy_, cfg_.hidden, init_gen);
}

namespace {

// DV lower bound: mean psi(x, y) - (logsumexp psi(x, y_perm) - log n).
Tensor dv_bound(const MineNetwork& net, const Tensor& x, const Tensor& y, const Tensor& y_perm) {
  const double n = double(x.size(0));
  Tensor joint = mean(net.forward(x, y));
  Tensor marg = sub(logsumexp(net.forward(x, y_perm), 0), std::log(n));
  return sub(joint, marg);
}

Tensor rows(const Tensor& t, const std::vector<int64_t>& idx) {
  return index_select(t, 0, from_vector(idx, {int64_t(idx.size())}));
}

}  // namespace

double MineEstimator::estimate(const Tensor& x_in, const Tensor& y_in, bool reset_between_calls) {
  check_mi_inputs(x_in, y_in, "X", "Y");
  check(x_in.size(1) == dx_ && y_in.size(1) == dy_, "mi: estimator built for widths (", dx_, ", ", dy_, "), got (",
        x_in.size(1), ", ", y_in.size(1), ")");
  if (reset_between_calls) reset();
  const Tensor x = x_in.to(DType::f32).contiguous(), y = y_in.to(DType::f32).contiguous();
  const int64_t T = x.size(0);
  // Adam with torch defaults (betas 0.9/0.999, eps 1e-8, no decay); fresh per call like the original's optimiser.
  Adam opt(net_->named_parameters(), AdamConfig{cfg_.lr, 0.9, 0.999, 1e-8, 0.0, false});
  curve_.clear();
  for (int64_t epoch = 0; epoch < cfg_.epochs; ++epoch) {
    const std::vector<int64_t> order = sample_without_replacement(T, T, gen_);
    double sum = 0;
    int64_t batches = 0;
    for (int64_t s = 0; s < T; s += cfg_.batch_size) {
      const int64_t n = std::min(cfg_.batch_size, T - s);
      if (n < 2) continue;  // a single pair has no marginal sample
      std::vector<int64_t> idx(order.begin() + s, order.begin() + s + n), perm(static_cast<size_t>(n));
      const std::vector<int64_t> p = sample_without_replacement(n, n, gen_);
      for (int64_t i = 0; i < n; ++i) perm[size_t(i)] = idx[size_t(p[size_t(i)])];
      Tensor bound = dv_bound(*net_, rows(x, idx), rows(y, idx), rows(y, perm));
      Tensor loss = neg(bound);  // maximise the bound
      loss.backward();
      opt.step(cfg_.lr);
      net_->zero_grad();
      sum += bound.item();
      batches++;
    }
    curve_.push_back(batches ? sum / double(batches) : 0.0);
  }
  // Final estimate on all T frames with one random pairing for the marginal.
  NoGradGuard ng;
  const std::vector<int64_t> pi = sample_without_replacement(T, T, gen_);
  return dv_bound(*net_, x, y, rows(y, pi)).item();
}

}  // namespace hm
