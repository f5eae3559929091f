// Mutual information by MINE (Belghazi et al. 2018), exactly as the paper's analysis code (SPEC.md 8;
// Tonyyouyou/Mutual-Information-Analysis analysis/MI_Calculator.py calling mine/mine.py
// `Mine(T, loss='mine_biased', method='concat').optimize(X, Y, iters=100, batch_size=128)`):
//   * statistics network psi(x, y) = Linear(100 -> 1)(ReLU(Linear(100 -> 100)(ReLU(Linear(2D -> 100)([x; y])))))
//     with PyTorch's default nn.Linear initialisation;
//   * each epoch: a random permutation of the T frame pairs (torch.randperm), then T // 128 full minibatches —
//     mine/utils/helpers.py `batch` drops the remainder (MineConfig::drop_last, default on);
//   * per minibatch: marginal samples by permuting y inside the minibatch, loss = -(mean psi(x, y) -
//     (logsumexp psi(x, y_perm) - log n)) (biased Donsker-Varadhan), one Adam step (lr 1e-4, torch defaults);
//     the Adam optimiser is created fresh by every optimize() call;
//   * result: the bound on all T frames with one more random pairing, in nats.
// The original builds one statistics network at module level and hands it to every Mine(...), so its weights
// carry over from one (utterance, layer) call to the next; estimate(..., reset_between_calls = false) does the
// same (the default re-initialises the network for every call, which makes calls independent).
// Deviation: with T < batch_size the original trains no step at all (T // 128 == 0; its padded batches never
// hit this); here such an input trains on one minibatch of all T frames per epoch.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "cpu/mine.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm {

struct MineConfig {
  int64_t epochs = 100;
  int64_t batch_size = 128;
  double lr = 1e-4;
  int64_t hidden = 100;
  uint64_t seed = 0;      // network initialisation and every shuffle/permutation
  bool drop_last = true;  // the original: only T // batch_size full minibatches per epoch
};

// Kernel table "mine_dv" (variants "scalar", "blas"): one minibatch of the statistics network, forward and the
// gradient of -bound (cpu/mine.h).
KernelTable<cpu::MineDvFn>& mine_dv_table();

class MineNetwork;  // the statistics network (three models/layers Linear)

class MineEstimator {
 public:
  // Inputs of width `dx` and `dy`; a fresh network from cfg.seed.
  MineEstimator(int64_t dx, int64_t dy, const MineConfig& cfg);
  ~MineEstimator();
  MineEstimator(const MineEstimator&) = delete;
  MineEstimator& operator=(const MineEstimator&) = delete;

  // Train on (X (T, dx), Y (T, dy)) and return the final DV estimate on all T frames, in nats. Without
  // reset_between_calls the network carries over to the next call (the original's warm start); Adam is fresh
  // either way. Throws (check_mi_inputs) on mismatched frames, non-finite values, wrong ranks or widths.
  double estimate(const Tensor& x, const Tensor& y, bool reset_between_calls = true);
  const std::vector<double>& last_curve() const { return curve_; }  // per-epoch mean minibatch bound
  int64_t last_steps() const { return steps_; }                     // Adam steps of the last call

 private:
  void reset();
  void check_inputs(const Tensor& x, const Tensor& y) const;
  double bound_all_frames(const Tensor& x, const Tensor& y, float* work);
  int64_t dx_, dy_;
  MineConfig cfg_;
  Generator gen_;
  std::unique_ptr<MineNetwork> net_;
  std::vector<double> curve_;
  int64_t steps_ = 0;
};

// Checks shared by the CLI and the estimator: 2-D floating arrays with the same number of frames (>= 2) and only
// finite values; errors name `what_x` / `what_y` and, for a non-finite value, its frame and dim.
void check_mi_inputs(const Tensor& x, const Tensor& y, const std::string& what_x, const std::string& what_y);

}  // namespace hm
