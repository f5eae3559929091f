// Model-level CUDA parity (issue 8): one pretraining-style training step of tiny-conbimamba and tiny-transformer
// on the GPU equals the same step on the CPU — the loss, the gradient of every parameter, and the parameters after
// one AdamW update — within f32 tolerances. Dropout and layer drop are off so both devices compute the same
// function; the batch is padded (one shorter utterance) and span-masked, so masks, padding and the bidirectional
// scans' length handling all take part.
#include <algorithm>
#include <cmath>

#include "models/hubert.h"
#include "ops/ops.h"
#include "train/optim.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

struct StepResult {
  double loss = 0;
  NamedTensors grads, params_after;
};

StepResult train_step(const std::string& preset_name, Device device) {
  ModelConfig cfg = preset(preset_name);
  cfg.dropout = cfg.attention_dropout = cfg.activation_dropout = cfg.dropout_input = 0;
  cfg.encoder_layerdrop = 0;
  HubertModel model(cfg, 7);
  model.to(device);
  model.train();
  const int64_t B = 2, L = 8000;
  Generator gen(11);
  const Tensor wave = randn({B, L}, DType::f32, gen).to(device);
  const std::vector<int64_t> lengths = {L, 6100};
  const int64_t T = cfg.cnn_output_length(L);
  std::vector<uint8_t> mask(size_t(B * T), 0);
  std::vector<int64_t> masked_rows, targets;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 3 + b; t < 3 + b + 9 && t < T; ++t) {
      mask[size_t(b * T + t)] = 1;
      masked_rows.push_back(b * T + t);
      targets.push_back((b * 31 + t * 7) % cfg.num_classes);
    }
  const int64_t n = int64_t(masked_rows.size());
  HubertOutput out = model.forward(wave, lengths, from_vector(mask, {B, T}), false);
  const Tensor frames = index_select(out.final.reshape({B * T, cfg.d_model}), 0, from_vector(masked_rows, {n}).to(device));
  const Tensor logits = model.logits(frames);
  Tensor loss = cross_entropy(logits, from_vector(targets, {n}).to(device), Tensor(), -100, LossReduction::sum);
  loss = add(loss, mul(out.features_pen, 10.0));
  loss.backward();
  StepResult r;
  r.loss = loss.item();
  for (const auto& [name, p] : model.named_parameters())
    r.grads.emplace_back(name, p.grad().defined() ? p.grad().cpu().clone() : Tensor());  // clone: clipping below scales .grad in place
  AdamConfig ac;
  Adam opt(model.named_parameters(), ac);
  clip_grad_norm(opt.params(), 10.0);
  opt.step(1e-3);
  for (const auto& [name, p] : model.named_parameters()) r.params_after.emplace_back(name, p.detach().cpu());
  return r;
}

// max |got - ref| <= tol * max|ref| + abs_floor
::testing::AssertionResult close_tensor(const std::string& name, const Tensor& got, const Tensor& ref, double tol,
                                        double abs_floor = 0) {
  if (got.defined() != ref.defined()) return ::testing::AssertionFailure() << name << ": gradient defined on one device only";
  if (!ref.defined()) return ::testing::AssertionSuccess();
  const std::vector<double> g = got.to_vector<double>(), r = ref.to_vector<double>();
  double scale = 1e-12, worst = 0;
  size_t at = 0;
  for (double x : r) scale = std::max(scale, std::abs(x));
  for (size_t i = 0; i < r.size(); ++i) {
    const double e = std::abs(g[i] - r[i]);
    if (!(e <= worst)) worst = e, at = i;  // NaN is "worst" too
  }
  if (worst <= tol * scale + abs_floor) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << name << ": max error " << worst << " at " << at << " (cuda " << g[at]
                                       << ", cpu " << r[at] << ", max |cpu| " << scale << ")";
}

void expect_same_step(const std::string& preset_name) {
  const StepResult cpu = train_step(preset_name, Device::cpu());
  const StepResult gpu = train_step(preset_name, Device::cuda());
  EXPECT_NEAR(gpu.loss, cpu.loss, 1e-4 * std::abs(cpu.loss)) << preset_name;
  ASSERT_EQ(gpu.grads.size(), cpu.grads.size());
  // Some gradients are exactly zero in exact arithmetic (the attention key bias: softmax ignores a per-row constant)
  // and rounding noise on both sides: allow an absolute error of 1e-6 of the largest gradient of the model.
  double grad_scale = 0;
  for (const auto& [name, g] : cpu.grads)
    if (g.defined())
      for (double v : g.to_vector<double>()) grad_scale = std::max(grad_scale, std::abs(v));
  for (size_t i = 0; i < cpu.grads.size(); ++i)
    EXPECT_TRUE(close_tensor(preset_name + " grad " + cpu.grads[i].first, gpu.grads[i].second, cpu.grads[i].second, 2e-3,
                             1e-6 * grad_scale));
  // Adam's first step moves each weight by about lr * g / (|g| + eps): for gradients near eps that is very sensitive
  // to the gradient's last digits, so parameters are compared to 5 % of the step size lr = 1e-3 (a wrong update
  // direction or scale is an error of order lr).
  for (size_t i = 0; i < cpu.params_after.size(); ++i)
    EXPECT_TRUE(close_tensor(preset_name + " param " + cpu.params_after[i].first, gpu.params_after[i].second,
                             cpu.params_after[i].second, 1e-4, 0.05 * 1e-3));
}

TEST(CudaModels, TinyConBiMambaTrainingStepMatchesCpu) {
  HM_SKIP_WITHOUT_CUDA();
  expect_same_step("tiny-conbimamba");
}

TEST(CudaModels, TinyTransformerTrainingStepMatchesCpu) {
  HM_SKIP_WITHOUT_CUDA();
  expect_same_step("tiny-transformer");
}

TEST(CudaModels, TinyExtBiMambaTrainingStepMatchesCpu) {
  HM_SKIP_WITHOUT_CUDA();
  expect_same_step("tiny-extbimamba");
}

}  // namespace
}  // namespace hm::test
