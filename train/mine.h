// Mutual information by MINE (Belghazi et al. 2018), exactly as the paper's analysis code (SPEC.md 8;
// Tonyyouyou/Mutual-Information-Analysis): statistics network psi(x, y) = Linear(100 -> 1)(ReLU(Linear(100 ->
// 100)(ReLU(Linear(2D -> 100)([x; y]))))); biased Donsker-Varadhan bound; 100 epochs of shuffled minibatches of
// 128 frame pairs, marginals by permuting y inside the minibatch; Adam lr 1e-4; final estimate on all frames.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"

namespace hm {

struct MineConfig {
  int64_t epochs = 100;
  int64_t batch_size = 128;
  double lr = 1e-4;
  int64_t hidden = 100;
  uint64_t seed = 0;
};

class MineNetwork;  // the statistics network (models/layers Linear x3)

class MineEstimator {
 public:
  // Inputs of width `dx` and `dy`; a fresh network from cfg.seed.
  MineEstimator(int64_t dx, int64_t dy, const MineConfig& cfg);
  ~MineEstimator();
  // Train on (X (T, dx), Y (T, dy)) and return the final DV estimate on all T frames, in nats. Without
  // reset_between_calls the network (and Adam state) carries over to the next call, as the original does.
  double estimate(const Tensor& x, const Tensor& y, bool reset_between_calls = true);
  std::vector<double> last_curve() const { return curve_; }  // per-epoch mean DV bound of the last call

 private:
  void reset();
  int64_t dx_, dy_;
  MineConfig cfg_;
  Generator gen_;
  std::unique_ptr<MineNetwork> net_;
  std::vector<double> curve_;
};

// Checks shared by the CLI: same T, finite values, 2-D float tensors; errors name `what_x` / `what_y`.
void check_mi_inputs(const Tensor& x, const Tensor& y, const std::string& what_x, const std::string& what_y);

}  // namespace hm
